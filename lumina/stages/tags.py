"""The ``tags`` stage: every tag of an asset with its score, source and model.

Sources: ``auto`` (``lumina.analysis.vocabulary.auto_tags`` on the embeddings stage's class
probabilities and colour fractions; ``model_id`` the image model's, or ``colour-names-v1``),
``file`` (keywords read from the file or its XMP sidecar by the metadata stage) and ``manual``
(``tags_manual`` user override). Tags in the ``tags_removed`` override are left out whatever their
source, on every re-run. One tag appears once: manual wins over file over auto.
"""

from __future__ import annotations

from lumina.analysis.vocabulary import auto_tags
from lumina.catalog.models import AssetTags
from lumina.stages.base import AssetView, Stage, StageResult

COLOUR_MODEL_ID = "colour-names-v1"  # lumina.stages.embeddings.colour_fractions


def asset_tag_list(asset: AssetView) -> list[dict]:
    """The tag rows of one asset from its stage inputs (see the module docstring)."""
    overrides = asset.inputs.get("overrides", {})
    removed = {t.lower() for t in overrides.get("tags_removed") or []}
    rows: dict[str, dict] = {}
    for t in overrides.get("tags_manual") or []:
        rows.setdefault(t.lower(), {"tag": t.lower(), "score": 1.0, "source": "manual", "model_id": None})
    for k in (asset.inputs.get("metadata") or {}).get("keywords") or []:
        rows.setdefault(str(k).lower(), {"tag": str(k).lower(), "score": 1.0, "source": "file", "model_id": None})
    emb = asset.inputs.get("embeddings")
    if emb:
        for tag, score, kind in auto_tags(emb["class_scores"] or {}, emb["colours"] or {}):
            rows.setdefault(tag, {"tag": tag, "score": round(score, 4), "source": "auto",
                                  "model_id": COLOUR_MODEL_ID if kind == "colour" else emb["model_id"]})
    return [r for t, r in rows.items() if t not in removed]


class TagsStage(Stage):
    name = "tags"
    version = 2  # 2: WordNet senses of the everyday tags corrected, precision thresholds
    requires = ("metadata", "embeddings")
    table = AssetTags
    parallel = False  # a dictionary look-up per asset: cheaper than shipping batches to workers

    def run(self, asset: AssetView) -> StageResult:
        return StageResult("ok", {"tags": asset_tag_list(asset)})
