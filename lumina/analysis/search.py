"""Similar-image and text search over a catalog.

``similar``: nearest neighbours of one asset (or of a file not in the catalog, embedded on the
fly) by cosine distance of the image embeddings (``lumina.analysis.similar``).

``search`` (text): the query is first split into structured filters and content words
(``parse_query``): years ("2019"), months ("july"), places (country names; cities and regions
the catalog knows), cameras (makes and model words the catalog knows: "nikon", "iphone") and
file kinds ("video", "raw", "heic"); every hit says which filters it matched. The content words
are then matched:

* with a CLIP text encoder configured and CLIP image vectors in the catalog: cosine distance
  between the query's and each image's CLIP embedding (true text-to-image search);
* otherwise through MiniLM (``all-MiniLM-L6-v2``): each content word is compared with every tag
  name in the catalog; a word's score on an image is the best ``similarity x tag score`` over the
  image's tags (similarity raised to ``SIMILARITY_POWER``; below ``TERM_MIN_SIMILARITY`` it counts as
  0) and the image's score is the mean over the words that match some tag of the catalog (the others
  are listed as ``unmatched_terms``; a query none of whose words match returns nothing); a
  model-made description (source ``model``) also scores by the similarity
  of the whole query to it, and the higher of the two counts. Template descriptions are built from
  the tags, so they add nothing and are not used.

Distance = 1 - score (0 best). Hits farther than ``max_distance`` (setting
``search_max_distance``, or per request) are cut off; when nothing passes, the nearest few are
returned apart as ``low_confidence`` with their distances.
"""

from __future__ import annotations

import csv
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select

from lumina.analysis.similar import VectorIndex
from lumina.catalog.models import (Asset, AssetTags, CaptureDate, Description, FileInstance, Metadata, Place,
                                   StageRecord)
from lumina.catalog.queries import find_file, present_paths, resolve_asset_id
from lumina.catalog.vectors import asset_vector, default_model_id, load_vectors, vectors_version
from lumina.errors import ConfigError, NotFoundError

TERM_MIN_SIMILARITY = 0.5  # MiniLM cosine; unrelated single words score about 0.1-0.4 with it
SIMILARITY_POWER = 3  # sharpens word-tag similarity: a synonym (0.95) keeps 0.86, a relative ("dog" ~
# "animal", 0.79) 0.49, so a broad tag alone does not pass the default cut-off
LOW_CONFIDENCE_SHOWN = 3
MONTHS = {m: i + 1 for i, m in enumerate(("january", "february", "march", "april", "may", "june", "july", "august",
                                           "september", "october", "november", "december"))}
MONTHS.update({m[:3]: i for m, i in list(MONTHS.items())} | {"sept": 9})
VIDEO_WORDS = {"video", "videos", "movie", "movies", "clip", "clips", "film", "films"}
RAW_TYPES = {"cr2", "cr3", "nef", "arw", "dng", "orf", "rw2", "raf", "pef", "srw", "raw"}
FILE_TYPE_WORDS = {"heic", "heif", "png", "jpeg", "jpg", "gif", "webp", "tiff", "tif", "avif", "bmp", "raw"} | RAW_TYPES
STOPWORDS = {"a", "an", "the", "of", "in", "on", "at", "from", "with", "and", "or", "photo", "photos", "picture",
             "pictures", "image", "images", "taken", "near", "by", "my", "some", "me", "show", "all", "shot", "during"}
CAMERA_NOISE = {"zoom", "digital", "camera", "systems", "global", "imaging", "ltd", "corporation", "company",
                "mobile", "phone", "device", "inc", "co"}


@lru_cache(maxsize=1)
def country_names() -> dict[str, str]:
    """Lower-case country name -> ISO 3166 alpha-2 code (reverse_geocode's countries.csv)."""
    import reverse_geocode

    with open(Path(reverse_geocode.__file__).parent / "countries.csv", newline="", encoding="utf-8") as f:
        return {name.lower(): code for code, name in csv.reader(f)}


def _catalog_facts(session) -> dict[str, dict[str, Any]]:
    """Per present asset: year, month, country, city, region, camera words, media kind, file type."""
    present = set(session.scalars(select(FileInstance.asset_id).where(FileInstance.status == "present")))
    facts = {a.asset_id: {"media_kind": a.media_kind, "file_type": (a.file_type or "").lower()}
             for a in session.scalars(select(Asset)) if a.asset_id in present}
    for d in session.execute(select(CaptureDate.asset_id, CaptureDate.capture_start_local)):
        if d.asset_id in facts and d.capture_start_local:
            facts[d.asset_id]["year"], facts[d.asset_id]["month"] = d.capture_start_local.year, d.capture_start_local.month
    for p in session.execute(select(Place.asset_id, Place.country_code, Place.city, Place.region)):
        if p.asset_id in facts:
            facts[p.asset_id].update(country=p.country_code, city=(p.city or "").lower(), region=(p.region or "").lower())
    for m in session.execute(select(Metadata.asset_id, Metadata.camera_make, Metadata.camera_model)):
        if m.asset_id in facts:
            words = set(re.findall(r"[a-z][a-z0-9-]+", f"{m.camera_make or ''} {m.camera_model or ''}".lower()))
            facts[m.asset_id]["camera"] = words - CAMERA_NOISE
    return facts


def parse_query(text: str, facts: dict[str, dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Split a query into filters and content words.

    Returns:
        (filters ``[{"filter": "year"|"month"|"country"|"city"|"region"|"camera"|"media_kind"|"file_type",
        "value", "text"}]``, content words in query order).
    """
    q = " " + " ".join(re.findall(r"[\w'-]+", text.lower())) + " "
    filters: list[dict[str, Any]] = []

    def take(phrase: str, kind: str, value: Any) -> None:
        nonlocal q
        filters.append({"filter": kind, "value": value, "text": phrase})
        q = q.replace(f" {phrase} ", " ", 1)

    places = {("city", f["city"]) for f in facts.values() if f.get("city")} | {
        ("region", f["region"]) for f in facts.values() if f.get("region")}
    for kind, name in sorted(places, key=lambda p: -len(p[1])):  # longest names first: "new york" before "york"
        if f" {name} " in q:
            take(name, kind, name)
    for name, code in sorted(country_names().items(), key=lambda p: -len(p[0])):
        if f" {name} " in q:
            take(name, "country", code)
    cameras = set().union(*(f.get("camera", set()) for f in facts.values())) if facts else set()
    for word in q.split():
        if re.fullmatch(r"(18|19|20)\d\d", word):
            take(word, "year", int(word))
        elif word in MONTHS:
            take(word, "month", MONTHS[word])
        elif word in VIDEO_WORDS:
            take(word, "media_kind", "video")
        elif word in FILE_TYPE_WORDS:
            take(word, "file_type", "raw" if word in RAW_TYPES else {"jpg": "jpeg", "tif": "tiff", "heif": "heic"}.get(word, word))
        elif word in cameras and word not in STOPWORDS:
            take(word, "camera", word)
    words = [w for w in q.split() if w not in STOPWORDS]
    return filters, words


def _passes(f: dict[str, Any], flt: dict[str, Any]) -> bool:
    kind, value = flt["filter"], flt["value"]
    if kind == "camera":
        return value in f.get("camera", set())
    if kind == "file_type":
        return f["file_type"] in RAW_TYPES if value == "raw" else f["file_type"] == value
    return f.get(kind) == value


_INDEXES: dict[tuple, VectorIndex] = {}


def vector_index(catalog, column: str = "vector") -> VectorIndex:
    """The cached index of the catalog's vectors (rebuilt when an embedding changed)."""
    with catalog.session() as s:
        model_id = default_model_id(s, column)
        key = (str(catalog.path), column, model_id, vectors_version(s))
        if key not in _INDEXES:
            for old in [k for k in _INDEXES if k[:2] == key[:2]]:
                del _INDEXES[old]
            ids, vectors = load_vectors(s, model_id, column) if model_id else ([], np.zeros((0, 0)))
            _INDEXES[key] = VectorIndex(ids, vectors, model_id)
        return _INDEXES[key]


def _embed_file(path: str, settings: dict) -> tuple[str, np.ndarray]:
    """(model id, vector) of a file that is not in the catalog (decoded here; nothing is written).

    Raises:
        ConfigError: the file cannot be decoded.
    """
    from lumina.media.decode import DecodeFailure, decode
    from lumina.media.detect import by_content, by_extension
    from lumina.media.encoders import image_encoder

    with open(path, "rb") as f:
        kind = by_extension(os.path.basename(path)) or by_content(f.read(64))
    if kind is None:
        raise ConfigError(f"{path}: not a photo or video Lumina recognises")
    try:
        decoded = decode(os.fsencode(path), kind.file_type, kind.media_kind, int(settings["decode_max_edge_px"]),
                         int(settings["max_image_pixels"]))
    except (DecodeFailure, OSError, AttributeError) as exc:
        raise ConfigError(f"{path}: cannot be decoded ({exc})") from None
    encoder, _ = image_encoder({})
    return encoder.model_id, encoder.encode(encoder.prepare(decoded.source_for(encoder.resize_px))[None]).embedding[0]


def similar(catalog, ref: str, limit: int = 10) -> dict[str, Any]:
    """Nearest neighbours of an asset (id, id prefix or catalogued path) or of any image file.

    Returns:
        ``{"query": {"asset_id", "path"}, "model_id", "results": [{"asset_id", "paths", "distance"}]}``,
        nearest first, the query asset excluded.
    Raises:
        NotFoundError: ``ref`` is neither in the catalog nor a file. ConfigError: the asset has no
        embedding (the reason is given) or the file cannot be decoded.
    """
    with catalog.session() as s:
        asset_id = None
        row = find_file(s, ref) if not re.fullmatch(r"[0-9a-f]{8,64}", ref) else None
        if row is not None:
            asset_id = row.asset_id
        elif re.fullmatch(r"[0-9a-f]{8,64}", ref):
            asset_id = resolve_asset_id(s, ref)
        if asset_id is not None:
            got = asset_vector(s, asset_id)
            if got is None:
                rec = s.get(StageRecord, (asset_id, "embeddings"))
                why = f"{rec.status}: {rec.error}" if rec else "the embeddings stage has not run on it (lumina run)"
                raise ConfigError(f"{ref} has no embedding ({why})")
            model_id, query = got
        elif os.path.isfile(ref):
            model_id, query = _embed_file(ref, catalog.settings)
        else:
            raise NotFoundError(f"{ref!r} is not in this catalog and is not a file")
    index = vector_index(catalog)
    if index.model_id != model_id:
        raise ConfigError(f"the query's embedding is from {model_id} but the catalog's are from {index.model_id}; "
                          "run `lumina run --stage embeddings`")
    hits = index.search(query, limit, exclude={asset_id} if asset_id else set())
    with catalog.session() as s:
        paths = present_paths(s, [a for a, _ in hits])
    return {"query": {"asset_id": asset_id, "path": None if asset_id else ref}, "model_id": model_id,
            "results": [{"asset_id": a, "paths": paths.get(a, []), "distance": d} for a, d in hits]}


def search(catalog, text: str, limit: int = 20, max_distance: float | None = None) -> dict[str, Any]:
    """Text search (see the module docstring).

    Returns:
        ``{"query", "filters", "terms", "mode": "clip"|"tags", "text_model_id", "image_model_id",
        "max_distance", "results": [{"asset_id", "paths", "score", "distance", "matched"}],
        "low_confidence": [...]}``, best first.
    Raises:
        ConfigError: an empty query, or a configured CLIP model that cannot be loaded.
    """
    from lumina.media.encoders import text_encoder

    if not text.strip():
        raise ConfigError("the search query is empty")
    max_distance = float(catalog.settings["search_max_distance"] if max_distance is None else max_distance)
    with catalog.session() as s:
        facts = _catalog_facts(s)
        filters, words = parse_query(text, facts)
        candidates = [a for a, f in facts.items() if all(_passes(f, flt) for flt in filters)]
        matched_filters = [{"filter": f["filter"], "value": f["value"], "text": f["text"]} for f in filters]
        scored: list[tuple[str, float, list]] = []
        unmatched: list[str] = []
        clip = bool(catalog.settings.get("clip_text_model_path")) and default_model_id(s, "clip_vector") is not None
        mode, image_model = ("clip" if clip else "tags"), None
        if not words:
            scored = [(a, 1.0, []) for a in candidates]
            encoder_id = None
        elif clip:
            enc = text_encoder(catalog.settings, clip=True)
            encoder_id = enc.model_id
            index = vector_index(catalog, "clip_vector")
            image_model = index.model_id
            allowed = set(candidates)
            q = enc.encode([" ".join(words)])[0]
            scored = [(a, 1.0 - d, [{"clip": index.model_id}]) for a, d in index.search(q, len(index))
                      if a in allowed]
        else:
            enc = text_encoder(catalog.settings, clip=False)
            encoder_id = enc.model_id
            tags = {t.asset_id: t.tags for t in s.scalars(select(AssetTags)) if t.asset_id in facts}
            vocab = sorted({t["tag"] for ts in tags.values() for t in ts})
            vocab_vectors = _tag_vectors(enc, tuple(vocab))
            sims = _word_similarities(enc, words, vocab_vectors)
            known = [wi for wi in range(len(words)) if (sims[wi] >= TERM_MIN_SIMILARITY).any()]
            unmatched = [w for wi, w in enumerate(words) if wi not in known]
            col = {t: i for i, t in enumerate(vocab)}
            descs = {d.asset_id: d for d in s.scalars(select(Description).where(Description.source == "model",
                                                                                 Description.text_model_id == encoder_id))}
            whole = enc.encode([" ".join(words)])[0] if descs else None
            for a in candidates:
                per_word, matched = [], []
                for wi in known:
                    best = (0.0, None, 0.0)
                    for t in tags.get(a, []):
                        sim = float(sims[wi, col[t["tag"]]])
                        if sim >= TERM_MIN_SIMILARITY and sim ** SIMILARITY_POWER * t["score"] > best[0]:
                            best = (sim ** SIMILARITY_POWER * t["score"], t, sim)
                    per_word.append(best[0])
                    if best[1] is not None:
                        t = best[1]
                        matched.append({"term": words[wi], "tag": t["tag"], "source": t["source"],
                                        "model_id": t["model_id"], "similarity": round(best[2], 4),
                                        "tag_score": t["score"]})
                score = float(np.mean(per_word)) if per_word else 0.0
                if a in descs:
                    dsim = float(np.frombuffer(descs[a].text_vector, dtype="<f2").astype(np.float32) @ whole)
                    if dsim > score:
                        score, matched = dsim, [{"description": descs[a].text, "model_id": descs[a].model_id,
                                                 "similarity": round(dsim, 4)}]
                if score > 0:
                    scored.append((a, score, matched))
            image_model = default_model_id(s)
        scored.sort(key=lambda h: (-h[1], h[0]))
        hits = [h for h in scored if 1.0 - h[1] <= max_distance + 1e-9][:limit]
        low = [] if hits else scored[:LOW_CONFIDENCE_SHOWN]
        paths = present_paths(s, [a for a, _, _ in hits + low])

    def doc(a: str, score: float, matched: list) -> dict[str, Any]:
        return {"asset_id": a, "paths": paths.get(a, []), "score": round(score, 4),
                "distance": round(1.0 - score, 4), "matched": matched_filters + matched}

    return {"query": text, "filters": matched_filters, "terms": words, "unmatched_terms": unmatched, "mode": mode,
            "text_model_id": encoder_id,
            "image_model_id": image_model, "max_distance": max_distance,
            "results": [doc(*h) for h in hits], "low_confidence": [doc(*h) for h in low]}


_TAG_VECTORS: dict[tuple, np.ndarray] = {}


def _word_similarities(enc, words: list[str], vocab_vectors: np.ndarray) -> np.ndarray:
    """(words, tags) cosine similarities; a plural word ("mountains") scores as the better of it and
    its singular (English -s / -es; no stemmer is shipped)."""
    if not len(vocab_vectors):
        return np.zeros((len(words), 0), np.float32)
    variants = [[w] + ([w[:-1]] if w.endswith("s") and len(w) > 3 else []) + ([w[:-2]] if w.endswith("es") else [])
                for w in words]
    flat = [v for vs in variants for v in vs]
    sims = enc.encode(flat) @ vocab_vectors.T
    out, i = [], 0
    for vs in variants:
        out.append(sims[i:i + len(vs)].max(axis=0))
        i += len(vs)
    return np.stack(out)


def _tag_vectors(enc, vocab: tuple[str, ...]) -> np.ndarray:
    """MiniLM vectors of tag names (cached per process and model)."""
    missing = [t for t in vocab if (enc.model_id, t) not in _TAG_VECTORS]
    if missing:
        for t, v in zip(missing, enc.encode(missing)):
            _TAG_VECTORS[(enc.model_id, t)] = v
    return np.stack([_TAG_VECTORS[(enc.model_id, t)] for t in vocab]) if vocab else np.zeros((0, enc.dim), np.float32)
