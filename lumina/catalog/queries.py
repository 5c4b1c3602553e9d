"""Read-side queries shared by the CLI and the API: one asset explained (``lumina show``), assets
listed with filters and keyset paging, and the present paths of assets."""

from __future__ import annotations

import base64
import json
import os
import re
from typing import Any

from sqlalchemy import Text, cast, exists, func, inspect, or_, select, tuple_

from lumina.catalog.models import (Asset, CaptureDate, FileInstance, Metadata, PerceptualHash, Place, Quality,
                                   StageRecord, Thumbnail, UserOverride)
from lumina.errors import ConfigError, NotFoundError
from lumina.stages.hashes import to_unsigned

# Keys of `lumina show --format json` that are always present (null when unknown).
SHOW_KEYS = ("asset_id", "paths", "capture_time", "capture_time_source", "capture_time_confidence",
             "utc_offset_minutes", "date_flags", "camera_make", "camera_model", "gps_latitude", "gps_longitude",
             "geohash", "country_code", "city", "timezone", "width", "height", "stages")
_ASSET_ID = re.compile(r"[0-9a-f]{8,64}")  # (fullmatch) a full asset id, or a unique prefix of at least 8 hex digits
_ISO_PREFIX = re.compile(r"\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01])(T([01]\d|2[0-3])(:[0-5]\d(:[0-5]\d(\.\d{1,9})?)?)?)?)?)?")


def _row(obj: Any, skip: tuple[str, ...] = ()) -> dict[str, Any] | None:
    if obj is None:
        return None
    return {c.key: getattr(obj, c.key) for c in inspect(obj).mapper.column_attrs if c.key not in skip}


def find_file(session, ref: str) -> FileInstance | None:
    """The file row for a path as given on the command line (absolute or relative)."""
    raw = os.fsencode(ref)
    for candidate in (os.path.abspath(raw), os.path.realpath(raw)):
        row = session.scalar(select(FileInstance).where(FileInstance.path_bytes == candidate))
        if row is not None:
            return row
    return None


def describe(session, ref: str) -> dict[str, Any]:
    """Everything the catalog knows about one file or asset.

    Args:
        ref: a file path, or an asset id (64 lowercase hex digits, or a unique prefix of >= 8).
    Returns:
        A dict with every key of ``SHOW_KEYS`` plus ``files``, ``file_type``, ``media_kind``,
        ``size_bytes``, ``metadata``, ``date_candidates``, ``place``, ``thumbnails``, ``hashes`` (hex),
        ``quality`` and ``error``; paths are
        str with undecodable bytes as surrogate escapes (``os.fsdecode``).
    Raises:
        NotFoundError: if neither a file nor an asset matches ``ref``.
    """
    asset_id = _match_asset_id(session, ref) if _ASSET_ID.fullmatch(ref) else None
    file_row = None
    if asset_id is None:
        file_row = find_file(session, ref)
        if file_row is None:
            raise NotFoundError(f"{ref!r} is not in this catalog (not a catalogued path or asset id)")
        asset_id = file_row.asset_id
    doc: dict[str, Any] = {k: None for k in SHOW_KEYS}
    doc.update(paths=[], date_flags=[], stages={}, files=[], metadata=None, date_candidates=[], place=None,
               thumbnails=None, hashes=None, quality=None, file_type=None, media_kind=None, size_bytes=None,
               error=None)
    if asset_id is None:  # a file that never became an asset (dangling link, unreadable, unsettled, not a photo)
        doc.update(paths=[os.fsdecode(file_row.path_bytes)], error=file_row.error,
                   files=[_file_doc(file_row)])
        return doc
    asset = session.get(Asset, asset_id)
    files = session.scalars(select(FileInstance).where(FileInstance.asset_id == asset_id)
                            .order_by(FileInstance.path_bytes)).all()
    overrides = {o.field: o.value for o in session.scalars(select(UserOverride).where(UserOverride.asset_id == asset_id))}
    doc.update(status=asset.status, overrides=overrides, rating=overrides.get("rating"),
               keywords=overrides.get("keywords"))
    doc.update(asset_id=asset_id, file_type=asset.file_type, media_kind=asset.media_kind, size_bytes=asset.size_bytes,
               paths=[os.fsdecode(f.path_bytes) for f in files if f.status == "present"],
               files=[_file_doc(f) for f in files])
    meta = session.get(Metadata, asset_id)
    if meta is not None:
        doc.update(camera_make=meta.camera_make, camera_model=meta.camera_model, width=meta.width, height=meta.height,
                   gps_latitude=meta.gps_latitude, gps_longitude=meta.gps_longitude)
        doc["metadata"] = _row(meta, skip=("asset_id", "tags", "sidecar_tags"))
        doc["rating"] = overrides.get("rating", meta.rating)  # a user's value wins over the file's
        doc["keywords"] = overrides.get("keywords", list(meta.keywords or []))
    place = session.get(Place, asset_id)
    if place is not None:  # the geo stage's validated position replaces the raw one
        doc.update(gps_latitude=place.gps_latitude, gps_longitude=place.gps_longitude, geohash=place.geohash,
                   country_code=place.country_code, city=place.city, timezone=place.timezone)
        doc["place"] = _row(place, skip=("asset_id",))
    dates = session.get(CaptureDate, asset_id)
    if dates is not None:
        doc.update(capture_time=dates.capture_time, capture_time_source=dates.capture_time_source,
                   capture_time_confidence=dates.capture_time_confidence,
                   utc_offset_minutes=dates.utc_offset_minutes, date_flags=list(dates.flags or []),
                   date_candidates=dates.candidates)
    thumb = session.get(Thumbnail, asset_id)
    if thumb is not None:
        doc["thumbnails"] = {**_row(thumb, skip=("asset_id", "thumbhash")), "thumbhash": base64.b64encode(thumb.thumbhash).decode()}
    hashes = session.get(PerceptualHash, asset_id)
    if hashes is not None:  # hex for display; the catalog stores signed 64-bit integers
        doc["hashes"] = {**{k: f"{to_unsigned(getattr(hashes, k)):016x}" for k in ("ahash", "dhash", "phash", "whash")},
                         "degenerate": hashes.degenerate, "degenerate_reason": hashes.degenerate_reason}
    quality = session.get(Quality, asset_id)
    if quality is not None:
        doc["quality"] = _row(quality, skip=("asset_id",))
    _describe_semantic(session, asset_id, doc)
    for rec in session.scalars(select(StageRecord).where(StageRecord.asset_id == asset_id)):
        doc["stages"][rec.stage] = {"status": rec.status, "error": rec.error, "version": rec.version,
                                    "duration_ms": round(rec.duration_ms, 3),
                                    "finished_at": rec.finished_at.isoformat() + "Z"}
    return doc


def _describe_semantic(session, asset_id: str, doc: dict[str, Any]) -> None:
    """``embedding`` (model ids and sizes, never the vector), ``tags``, ``description`` and
    ``embedding_pairs`` (cosine distance to its duplicate keeper or members, burst neighbours and
    derivatives: ``[{"asset_id", "relation", "distance", "model_id"}]``, nearest first) of one asset."""
    from lumina.catalog.models import AssetTags, Description, Embedding, EmbeddingPair

    emb = session.get(Embedding, asset_id)
    doc["embedding"] = None if emb is None else {
        "model_id": emb.model_id, "dim": emb.dim, "clip_model_id": emb.clip_model_id, "clip_dim": emb.clip_dim,
        "clip_error": emb.clip_error, "colours": emb.colours}
    tags = session.get(AssetTags, asset_id)
    doc["tags"] = list(tags.tags) if tags is not None else []
    doc["embedding_pairs"] = [
        {"asset_id": p.asset_b if p.asset_a == asset_id else p.asset_a, "relation": p.relation,
         "distance": p.distance, "model_id": p.model_id}
        for p in session.scalars(select(EmbeddingPair).where((EmbeddingPair.asset_a == asset_id)
                                                              | (EmbeddingPair.asset_b == asset_id))
                                 .order_by(EmbeddingPair.distance))]
    desc = session.get(Description, asset_id)
    doc["description"] = None if desc is None else {"text": desc.text, "source": desc.source,
                                                    "model_id": desc.model_id}


def _match_asset_id(session, prefix: str) -> str | None:
    """The asset whose id starts with ``prefix``; ``None`` if none.

    Raises:
        ConfigError: if the prefix matches several assets.
    """
    hits = session.scalars(select(Asset.asset_id).where(Asset.asset_id >= prefix,
                                                        Asset.asset_id < prefix + "g").limit(2)).all()
    if len(hits) > 1:
        raise ConfigError(f"asset id prefix {prefix!r} is ambiguous; give more digits")
    return hits[0] if hits else None


def _file_doc(f: FileInstance) -> dict[str, Any]:
    return {"path": os.fsdecode(f.path_bytes), "status": f.status, "size_bytes": f.size_bytes,
            "mtime_ns": f.mtime_ns, "error": f.error, "warnings": f.warnings or [],
            "sidecar": os.fsdecode(f.sidecar_path_bytes) if f.sidecar_path_bytes else None}


def present_paths(session, asset_ids: list[str]) -> dict[str, list[str]]:
    """Asset id -> its present files' paths (exact names as ``os.fsdecode`` strings), sorted."""
    out: dict[str, list[str]] = {}
    for chunk in range(0, len(asset_ids), 500):
        for aid, raw in session.execute(
                select(FileInstance.asset_id, FileInstance.path_bytes)
                .where(FileInstance.asset_id.in_(asset_ids[chunk:chunk + 500]), FileInstance.status == "present")
                .order_by(FileInstance.path_bytes)):
            out.setdefault(aid, []).append(os.fsdecode(raw))
    return out


FILTERS = ("date_from", "date_to", "camera", "has_gps", "geohash", "country", "city", "file_type", "status", "keyword")


def list_assets(session, filters: dict[str, Any], cursor: str | None = None, limit: int = 100) -> dict[str, Any]:
    """Assets in capture-time order (undated last, then by id) with keyset paging.

    Args:
        filters: any of ``FILTERS``: ``date_from``/``date_to`` (ISO 8601 prefixes compared with the
            local capture time, inclusive), ``camera`` (substring of make or model, case-insensitive),
            ``has_gps`` (bool), ``geohash`` (prefix), ``country`` (ISO 3166 alpha-2), ``city``,
            ``file_type``, ``status`` (active | rejected), ``keyword`` (exact keyword).
        cursor: the ``next_cursor`` of the previous page.
        limit: 1..500 items.
    Returns:
        ``{"items": [{"asset_id", "paths", "capture_time", "camera_make", "camera_model", "file_type",
        "status", "geohash", "country_code", "city"}], "next_cursor"}`` (``next_cursor`` None at the end).
    Raises:
        ConfigError: an unknown filter, a bad cursor or a limit outside 1..500.
    """
    unknown = set(filters) - set(FILTERS)
    if unknown:
        raise ConfigError(f"unknown filter(s) {', '.join(sorted(unknown))}; filters: {', '.join(FILTERS)}")
    if not 1 <= limit <= 500:
        raise ConfigError("limit must be 1..500")
    order_time = CaptureDate.capture_time.is_(None)
    query = (select(Asset.asset_id, Asset.file_type, Asset.status, CaptureDate.capture_time, Metadata.camera_make,
                    Metadata.camera_model, Place.geohash, Place.country_code, Place.city)
             .outerjoin(CaptureDate, CaptureDate.asset_id == Asset.asset_id)
             .outerjoin(Metadata, Metadata.asset_id == Asset.asset_id)
             .outerjoin(Place, Place.asset_id == Asset.asset_id)
             .where(exists().where(FileInstance.asset_id == Asset.asset_id, FileInstance.status == "present")))
    f = {k: v for k, v in filters.items() if v is not None}
    for key in ("date_from", "date_to"):
        if key in f and not _ISO_PREFIX.fullmatch(f[key]):
            raise ConfigError(f"{key}: {f[key]!r} is not an ISO 8601 date or date-time (YYYY[-MM[-DD[THH[:MM[:SS]]]]])")
    if "date_from" in f:
        query = query.where(CaptureDate.capture_time >= f["date_from"])
    if "date_to" in f:
        query = query.where(CaptureDate.capture_time <= f["date_to"] + "\uffff")
    if "camera" in f:  # wildcards in the user's text are matched literally
        query = query.where(or_(Metadata.camera_make.icontains(f["camera"], autoescape=True),
                                Metadata.camera_model.icontains(f["camera"], autoescape=True)))
    if "has_gps" in f:
        query = query.where(Place.gps_latitude.is_not(None) if f["has_gps"] else Place.gps_latitude.is_(None))
    if "geohash" in f:
        query = query.where(Place.geohash.startswith(f["geohash"].lower()))
    if "country" in f:
        query = query.where(Place.country_code == f["country"].upper())
    if "city" in f:
        query = query.where(Place.city == f["city"])
    if "file_type" in f:
        query = query.where(Asset.file_type == f["file_type"].lower())
    if "status" in f:
        query = query.where(Asset.status == f["status"])
    if "keyword" in f:
        as_text = cast(Metadata.keywords, Text)
        quoted = json.dumps(f["keyword"])
        query = query.where(or_(as_text.contains(quoted, autoescape=True), exists().where(
            UserOverride.asset_id == Asset.asset_id, UserOverride.field == "keywords",
            cast(UserOverride.value, Text).contains(quoted, autoescape=True))))
    if cursor:
        try:
            undated, when, last = json.loads(base64.urlsafe_b64decode(cursor.encode()))
            if not (isinstance(undated, bool) and isinstance(when, str) and isinstance(last, str)):
                raise TypeError("cursor fields")
        except (ValueError, TypeError) as exc:
            raise ConfigError("invalid cursor: pass the next_cursor of the previous page") from exc
        key = (order_time, func.coalesce(CaptureDate.capture_time, ""), Asset.asset_id)
        query = query.where(tuple_(*key) > tuple_(bool(undated), when, last))
    rows = session.execute(query.order_by(order_time, CaptureDate.capture_time, Asset.asset_id).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    paths = present_paths(session, [r.asset_id for r in rows])
    items = [{"asset_id": r.asset_id, "paths": paths.get(r.asset_id, []), "capture_time": r.capture_time,
              "camera_make": r.camera_make, "camera_model": r.camera_model, "file_type": r.file_type,
              "status": r.status, "geohash": r.geohash, "country_code": r.country_code, "city": r.city}
             for r in rows]
    next_cursor = None
    if more and rows:
        last = rows[-1]
        next_cursor = base64.urlsafe_b64encode(json.dumps(
            [last.capture_time is None, last.capture_time or "", last.asset_id]).encode()).decode()
    return {"items": items, "next_cursor": next_cursor}


def check_row_id(value: int, what: str) -> int:
    """``value`` when it can be a row id (1 .. 2^63 - 1, SQLite's INTEGER range).

    Raises:
        NotFoundError: otherwise (no such row can exist).
    """
    if not 0 < value < 2 ** 63:
        raise NotFoundError(f"no {what} {value}")
    return value


def match_member(ref: str, members: dict[str, list[str]], what: str) -> str:
    """The asset id among ``members`` (asset id -> paths) that ``ref`` names: a full asset id, one of
    its paths, or a unique prefix of at least 8 hex digits.

    Raises:
        ConfigError: ``ref`` names no member, is ambiguous or too short to be a prefix.
    """
    if ref in members:
        return ref
    for aid, paths in members.items():
        if ref in paths:
            return aid
    if not _ASSET_ID.fullmatch(ref):
        raise ConfigError(f"{ref!r} is not a member of {what}: give an asset id (a prefix of at least 8 hex "
                          "digits) or a path")
    hits = [aid for aid in members if aid.startswith(ref)]
    if len(hits) != 1:
        raise ConfigError(f"{ref!r} is not a member of {what}" if not hits else f"{ref!r} is ambiguous in {what}")
    return hits[0]


def resolve_asset_id(session, ref: str) -> str:
    """The full asset id for a full id or a unique prefix of at least 8 hex digits.

    Raises:
        NotFoundError: no such asset. ConfigError: an ambiguous prefix.
    """
    aid = _match_asset_id(session, ref) if _ASSET_ID.fullmatch(ref) else None
    if aid is None:
        raise NotFoundError(f"no asset {ref!r} in this catalog (give an asset id or a prefix of >= 8 hex digits)")
    return aid
