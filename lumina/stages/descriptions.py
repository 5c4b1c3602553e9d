"""The ``descriptions`` stage: one sentence per asset, and its text embedding for search.

With ``description_endpoint`` set, the caption of a vision-language model served over the Ollama
API (``lumina.media.ollama``) from the asset's preview thumbnail (no second decode of the
original; the file named by ``ThumbnailsStage.stem``), ``description_concurrency`` requests in
flight, each with ``description_timeout_s`` and ``description_retries``; source ``model``, ``model_id`` ``ollama:<model>``. When the endpoint fails
for an asset, the asset gets the template sentence and a ``failed`` record with the
``endpoint_error`` reason (retried with ``--retry-failed``); other stages are not affected.

Without an endpoint: a template sentence from what the catalog knows (``template_sentence``),
source ``template``: "A daisy near Nice, France, July 2019, taken with a Canon EOS 5D."
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

from lumina.catalog.models import Description
from lumina.errors import error_text
from lumina.media.encoders import ModelError, text_encoder
from lumina.media.ollama import EndpointError, caption
from lumina.stages.base import AssetView, Stage, StageResult
from lumina.stages.embeddings import to_blob

GENERIC_TAGS = {"animal", "mammal", "carnivore", "invertebrate", "arthropod", "vehicle", "wheeled vehicle",
                "structure", "plant", "landscape", "clothing", "garment", "machine", "electronic device",
                "canine", "feline"}
NEAR_BEST = 0.9  # subject candidates score at least this fraction of the best tag's score


def _subject(tags: list[dict]) -> str | None:
    """The subject of the sentence: a manual or file keyword if any; else, among the confident auto
    tags (colours and broad classes left out) scoring within ``NEAR_BEST`` of the best, the most
    specific (fewest ImageNet classes folded into it: ``dog`` rather than ``canine``)."""
    from lumina.analysis.vocabulary import tag_breadth
    from lumina.stages.embeddings import HUE_NAMES

    for source in ("manual", "file"):
        mine = [t["tag"] for t in tags if t["source"] == source]
        if mine:
            return mine[0]
    colours = {n for n, _, _ in HUE_NAMES} | {"black and white"}
    auto = [t for t in tags if t["source"] == "auto" and t["tag"] not in colours and t["tag"] not in GENERIC_TAGS]
    if not auto:
        return None
    best = max(t["score"] for t in auto)
    breadth = tag_breadth()
    return min((t for t in auto if t["score"] >= NEAR_BEST * best),
               key=lambda t: (breadth.get(t["tag"], 1), -t["score"]))["tag"]


def _article(word: str) -> str:
    """"a" or "an" by the first letter (English; "uni-", "eu-" and "one" sound like a consonant)."""
    w = word.lower()
    return "an" if w[:1] in "aeiou" and not w.startswith(("uni", "eu", "one")) else "a"


def template_sentence(asset: AssetView) -> str:
    """A sentence from the asset's tags, place, capture month and camera (English)."""
    inputs = asset.inputs
    subject = _subject((inputs.get("tags") or {}).get("tags") or [])
    noun = "video" if asset.media_kind == "video" else "photo"
    text = f"{_article(subject).capitalize()} {subject}" if subject else f"A {noun}"
    place = inputs.get("geo") or {}
    where = ", ".join(p for p in (place.get("city"), place.get("country_code")) if p)
    if where:
        text += f" near {where}"
    dates = inputs.get("dates") or {}
    when = dates.get("capture_time")
    if when and dates.get("capture_time_source") != "mtime":  # a file time is not when the photo was taken
        try:
            text += ", " + datetime.fromisoformat(when[:19]).strftime("%B %Y")
        except ValueError:
            pass
    meta = inputs.get("metadata") or {}
    camera = " ".join(p for p in (meta.get("camera_make"), meta.get("camera_model")) if p)
    if camera:
        text += f", taken with {_article(camera)} {camera}"
    return text + "."


class DescriptionsStage(Stage):
    name = "descriptions"
    version = 1
    # not "thumbnails": a template needs none, and a caption reads the preview file by its name
    requires = ("metadata", "geo", "dates", "tags")
    setting_names = ("description_endpoint", "description_model")
    table = Description
    batch_size = 32

    def _caption(self, view: AssetView) -> str:
        from lumina.stages.thumbnails import ThumbnailsStage

        stem = ThumbnailsStage(self.settings).stem(view.asset_id)
        preview = Path(self.settings["catalog_dir"]) / f"{stem}-preview.jpg"
        if not preview.is_file():
            raise EndpointError("no preview thumbnail to send (the thumbnails stage has not made one)")
        jpeg = preview.read_bytes()
        return caption(self.settings["description_endpoint"], self.settings["description_model"], jpeg,
                       float(self.settings["description_timeout_s"]), int(self.settings["description_retries"]))

    def run_batch(self, assets: Sequence[AssetView]) -> list[StageResult]:
        out: list[tuple[str, str, str | None, str | None]] = []  # text, source, model id, error
        if self.settings.get("description_endpoint"):
            def one(view):
                try:
                    return self._caption(view), "model", f"ollama:{self.settings['description_model']}", None
                except (EndpointError, OSError) as exc:
                    return template_sentence(view), "template", None, error_text("endpoint_error", str(exc))
            with ThreadPoolExecutor(int(self.settings["description_concurrency"])) as pool:
                out = list(pool.map(one, assets))
        else:
            out = [(template_sentence(v), "template", None, None) for v in assets]
        try:
            enc = text_encoder(self.settings, clip=False)
            vectors = enc.encode([t for t, _, _, _ in out])
            text_model = enc.model_id
        except ModelError:
            vectors, text_model = None, None
        results = []
        for i, (text, source, model_id, error) in enumerate(out):
            values = {"text": text, "source": source, "model_id": model_id, "text_model_id": text_model,
                      "text_dim": None if vectors is None else vectors.shape[1],
                      "text_vector": None if vectors is None else to_blob(vectors[i])}
            results.append(StageResult("failed" if error else "ok", values, error))
        return results
