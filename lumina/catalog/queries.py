"""Read-side queries shared by the CLI and the API: one asset explained (``lumina show``), assets
listed with filters and keyset paging, and the present paths of assets."""

from __future__ import annotations

import base64
import bisect
import functools
import json
import os
import re
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, String, and_, exists, func, inspect, literal, or_, select, text, tuple_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.orm import aliased

from lumina.catalog.changes import catalog_version
from lumina.catalog.models import (Asset, CaptureDate, CatalogState, DuplicateGroup, DuplicateMember, FileInstance,
                                   Metadata, PerceptualHash, Place, Quality, StageRecord, Thumbnail, UserOverride)
from lumina.errors import ConfigError, NotFoundError

UINT64 = (1 << 64) - 1  # hashes are stored as signed 64-bit SQLite integers; shown as unsigned hex

# Keys of `lumina show --format json` that are always present (null when unknown).
SHOW_KEYS = ("asset_id", "paths", "capture_time", "capture_time_source", "capture_time_confidence",
             "utc_offset_minutes", "date_flags", "camera_make", "camera_model", "gps_latitude", "gps_longitude",
             "geohash", "country_code", "city", "timezone", "width", "height", "stages")
_ASSET_ID = re.compile(r"[0-9a-f]{8,64}")  # (fullmatch) a full asset id, or a unique prefix of at least 8 hex digits


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
               utc_offset_source=None,
               thumbnails=None, hashes=None, quality=None, file_type=None, media_kind=None, size_bytes=None,
               error=None, live_photo=None)
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
                   utc_offset_minutes=dates.utc_offset_minutes, utc_offset_source=dates.utc_offset_source,
                   date_flags=list(dates.flags or []),
                   date_candidates=dates.candidates)
    thumb = session.get(Thumbnail, asset_id)
    if thumb is not None:
        doc["thumbnails"] = {**_row(thumb, skip=("asset_id", "thumbhash")), "thumbhash": base64.b64encode(thumb.thumbhash).decode()}
    hashes = session.get(PerceptualHash, asset_id)
    if hashes is not None:  # hex for display; the catalog stores signed 64-bit integers
        doc["hashes"] = {**{k: f"{getattr(hashes, k) & UINT64:016x}" for k in ("ahash", "dhash", "phash", "whash")},
                         "degenerate": hashes.degenerate, "degenerate_reason": hashes.degenerate_reason}
    quality = session.get(Quality, asset_id)
    if quality is not None:
        doc["quality"] = _row(quality, skip=("asset_id",))
    _describe_semantic(session, asset_id, doc)
    for rec in session.scalars(select(StageRecord).where(StageRecord.asset_id == asset_id)):
        doc["stages"][rec.stage] = {"status": rec.status, "error": rec.error, "version": rec.version,
                                    "duration_ms": round(rec.duration_ms, 3),
                                    "finished_at": rec.finished_at.isoformat() + "Z"}
    doc["live_photo"] = live_photo_link(session, asset_id)
    return doc


def live_photo_link(session, asset_id: str) -> dict[str, Any] | None:
    """The other half of the asset's Live Photo / Motion Photo in the current duplicate generation:
    ``{"group", "asset_id", "paths", "media_kind", "matched_by"}``, or None."""
    state = session.get(CatalogState, "duplicates.generation")
    if state is None:
        return None
    mine = aliased(DuplicateMember)
    row = session.execute(
        select(DuplicateGroup.stable_id, DuplicateMember.asset_id, DuplicateMember.distances, mine.distances)
        .join(DuplicateMember, DuplicateMember.group_id == DuplicateGroup.id)
        .join(mine, mine.group_id == DuplicateGroup.id)
        .where(DuplicateGroup.generation_id == state.value, DuplicateGroup.group_class == "live_photo",
               mine.asset_id == asset_id, DuplicateMember.asset_id != asset_id)).first()
    if row is None:
        return None
    other = session.get(Asset, row.asset_id)
    matched = (row[2] or {}).get("live_photo") or (row[3] or {}).get("live_photo")  # on the video's member row
    return {"group": row.stable_id, "asset_id": row.asset_id, "paths": present_paths(session, [row.asset_id]).get(row.asset_id, []),
            "media_kind": other.media_kind if other else None, "matched_by": matched}
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
                .where(FileInstance.asset_id.in_(asset_ids[chunk:chunk + 500]),
                       (FileInstance.status + "") == "present")  # by the asset_id index, not the status one
                .order_by(FileInstance.path_bytes)):
            out.setdefault(aid, []).append(os.fsdecode(raw))
    return out


FILTERS = ("date_from", "date_to", "camera", "has_gps", "geohash", "country", "city", "file_type", "status", "keyword",
           "date_flag", "failed_stage", "asset_ids")
DATE_FLAGS = ("estimated", "suspicious", "conflicting")  # the flags `lumina gaps` counts


class json_list_has(FunctionElement):
    """SQL: the JSON array in ``column`` has the string ``value`` as an element (exact match).

    PostgreSQL: JSONB containment, ``column @> jsonb_build_array(value)``; SQLite:
    ``EXISTS (SELECT 1 FROM json_each(column) WHERE value = ?)``. Never a text search of the JSON.
    """

    type = Boolean()
    inherit_cache = True
    name = "json_list_has"

    def __init__(self, column, value: str):
        super().__init__(column, literal(value, String))


@compiles(json_list_has)
def _json_list_has_sqlite(element, compiler, **kw):
    column, value = element.clauses
    return (f"EXISTS (SELECT 1 FROM json_each({compiler.process(column, **kw)}) AS item "
            f"WHERE item.value = {compiler.process(value, **kw)})")


@compiles(json_list_has, "postgresql")
def _json_list_has_postgresql(element, compiler, **kw):
    column, value = element.clauses
    return f"({compiler.process(column, **kw)} @> jsonb_build_array({compiler.process(value, **kw)}))"


class Scope:
    """``filters`` (see list_assets) checked and prepared once per request: the camera text resolved
    to the cameras it names, and the asset-id sets of the filters an index answers.

    A camera filter is a case-insensitive substring of make or model (Python's ``casefold``: any
    script, not only ASCII). It is resolved against the distinct cameras of the catalog, read by a
    loose scan of the ``(camera_make, camera_model, asset_id)`` index (one index seek per distinct
    make and per model of a make the text does not name), so that the query compares equal values,
    which the index answers, instead of testing a pattern against every photo's make and model.

    ``id_sets``: ``[(count, filter, select of asset_id)]``, the smallest first, for country, city,
    geohash prefix, camera, failed stage and asset ids, each counted in its index up to ``ID_SET_CAP``.

    Raises:
        ConfigError: an unknown filter, a malformed date or an unknown date flag.
    """

    ID_SET_CAP = 100_000  # ids counted per filter at most (an index-only count: about 3 ms per 100k on SQLite)

    def __init__(self, session, filters: dict[str, Any] | None):
        filters = filters or {}
        unknown = set(filters) - set(FILTERS)
        if unknown:
            raise ConfigError(f"unknown filter(s) {', '.join(sorted(unknown))}; filters: {', '.join(FILTERS)}")
        self.f = f = {k: v for k, v in filters.items() if v is not None}
        self.periods = {}
        if "date_from" in f or "date_to" in f:
            from lumina.stages.dates import iso_period  # not on `lumina show`'s start-up path

            for key in ("date_from", "date_to"):
                if key in f:
                    try:
                        self.periods[key] = iso_period(f[key])
                    except ValueError as exc:
                        raise ConfigError(f"{key}: {exc}") from None
        if "date_flag" in f and f["date_flag"] not in DATE_FLAGS:
            raise ConfigError(f"date_flag: {f['date_flag']!r} is not one of {', '.join(DATE_FLAGS)}")
        # What the catalog says of these filters (the cameras a text names, the id sets' sizes), kept
        # while it is unchanged (``kept``). Filters with neither read no version (None: nothing kept).
        self.cameras = None
        keyed = "camera" in f or bool(self._id_selects())
        self.version_key = (self.key(), catalog_version(session) if keyed else None)

        def facts():
            self.cameras = camera_matches(session, f["camera"]) if "camera" in f else None
            return self.cameras, [self._count(session, q) for _, q in self._id_selects()]

        self.cameras, counts = kept(session).get(("facts", *self.version_key), facts)
        self.id_sets = sorted(((n, key, q) for n, (key, q) in zip(counts, self._id_selects())), key=lambda item: item[0])

    def key(self) -> str:
        """The filters as one string (equal filters, equal strings)."""
        return json.dumps({k: sorted(v) if k == "asset_ids" else v for k, v in self.f.items()}, sort_keys=True)

    @property
    def empty(self) -> bool:
        """True when a filter can match nothing (a camera text no camera has, an empty id set)."""
        return self.cameras == [] or any(n == 0 for n, _, _ in self.id_sets)

    def _id_selects(self) -> list:
        f, out = self.f, []
        if "country" in f:
            out.append(("country", select(Place.asset_id).where(Place.country_code == f["country"].upper())))
        if "city" in f:
            out.append(("city", select(Place.asset_id).where(Place.city == f["city"])))
        if f.get("geohash") and f["geohash"].isascii() and f["geohash"].isalnum():
            prefix = f["geohash"].lower()  # a prefix as an index range (geohash's alphabet: ASCII digits, letters)
            out.append(("geohash", select(Place.asset_id).where(
                Place.geohash >= prefix, Place.geohash < prefix[:-1] + chr(ord(prefix[-1]) + 1))))
        if self.cameras:
            out.append(("camera", select(Metadata.asset_id).where(self.camera_condition(indexed=True))))
        if "failed_stage" in f:
            failed = select(StageRecord.asset_id).where(StageRecord.status == "failed")
            out.append(("failed_stage", failed if f["failed_stage"] == "any" else
                        failed.where(StageRecord.stage == f["failed_stage"])))
        if "asset_ids" in f:
            out.append(("asset_ids", select(Asset.asset_id).where(Asset.asset_id.in_(list(f["asset_ids"])))))
        return out

    def _count(self, session, query) -> int:
        return session.scalar(select(func.count()).select_from(query.limit(self.ID_SET_CAP).subquery()))

    def camera_condition(self, indexed: bool):
        """The photos of the resolved cameras. ``indexed=False`` writes each comparison so that no
        index can serve it (``make || ''``): the walk in capture-time order must drive the query."""
        make, model = _written(Metadata.camera_make, indexed), _written(Metadata.camera_model, indexed)
        terms = []
        for m, mo in self.cameras:
            named = make.is_(None) if m is None else make == m
            terms.append(named if mo is ANY_MODEL else and_(named, model == mo))
        return or_(*terms)

    def ids(self):
        """``(select of asset_id, filters it implies)``: the id sets within ``ID_SET_CAP``, intersected;
        None when there is none."""
        small = [(key, q) for n, key, q in self.id_sets if n < self.ID_SET_CAP]
        if not small:
            return None
        query = small[0][1]
        for _, larger in small[1:]:  # each larger set's index read, keeping the ids in the smaller ones
            query = larger.where(larger.selected_columns[0].in_(query))  # (SQLite: 1.6x faster than INTERSECT)
        return query, frozenset(key for key, _ in small)

    def by_ids(self, session, limit: int) -> bool:
        """Whether a page of ``limit`` is found faster from the id sets than by the capture-time walk.

        The walk reads about ``limit / p`` dated assets, ``p`` the share that match (estimated as the
        product of the id sets' shares: the filters taken as independent); the id sets cost the
        smallest one's size. Either way every read is one or two index probes per asset."""
        if not self.id_sets or self.id_sets[0][0] >= self.ID_SET_CAP:
            return False
        total = max(asset_estimate(session), 1)
        share = 1.0
        for n, _, _ in self.id_sets:
            share *= min(n, total) / total
        return self.id_sets[0][0] <= (limit + 1) / max(share, 1 / total)


ANY_MODEL = object()  # in Scope.cameras: every model of that make


def camera_matches(session, text_: str) -> list[tuple[str | None, Any]]:
    """The cameras of the catalog whose make or model contains ``text_`` (case-insensitive, Unicode
    ``casefold``): ``[(make, model)]``, model ``ANY_MODEL`` when the make itself matches. Read by a
    loose index scan of ``ix_metadata_camera`` (one seek per distinct value; migration 0020)."""
    needle = text_.casefold()
    out = []
    for make in _distinct(session, Metadata.camera_make, (), with_null=True):
        if make is not None and needle in make.casefold():
            out.append((make, ANY_MODEL))
            continue
        named = Metadata.camera_make.is_(None) if make is None else Metadata.camera_make == make
        out += [(make, model) for model in _distinct(session, Metadata.camera_model, (named,), with_null=False)
                if needle in model.casefold()]
    return out


def _distinct(session, column, where: tuple, with_null: bool) -> list:
    """The distinct values of ``column`` under ``where``, in index order, one index seek each (a loose
    index scan: ``min(column) WHERE column > previous``); None last when ``with_null`` and present."""
    out, last = [], None
    while True:
        query = select(func.min(column)).where(*where, column.is_not(None))
        value = session.scalar(query if last is None else query.where(column > last))
        if value is None:
            break
        out.append(last := value)
    if with_null and session.scalar(select(literal(1)).where(*where, column.is_(None)).limit(1)) is not None:
        out.append(None)
    return out


def asset_estimate(session) -> int:
    """About how many assets the catalog holds, without counting them: SQLite's largest rowid of
    ``assets`` (deleted rows leave it higher), PostgreSQL's planner statistics (``pg_class.reltuples``,
    counted when the table was never analysed)."""
    if session.get_bind().dialect.name == "postgresql":
        n = session.scalar(text("SELECT reltuples::bigint FROM pg_class WHERE oid = 'assets'::regclass"))
        if n is not None and n >= 0:
            return int(n)
        return session.scalar(select(func.count()).select_from(Asset))
    return session.scalar(text("SELECT coalesce(max(rowid), 0) FROM assets"))


def _written(column, indexed: bool):
    """``column`` as it is, or written so that no index can serve a comparison with it
    (``column || ''``: SQLite and PostgreSQL then test it row by row)."""
    return column if indexed else column + ""


def _filtered(query, scope: Scope, indexed: bool = True, skip: frozenset = frozenset()):
    """``query`` (joined to CaptureDate, Metadata and Place) narrowed by ``scope``'s filters (see
    list_assets) but those in ``skip`` (implied by an id set the query is limited to).
    ``indexed=False`` writes the conditions of the id-set filters so that no index can serve them
    (``column || ''``), for the walk in capture-time order."""
    f, periods = {k: v for k, v in scope.f.items() if k not in skip}, scope.periods
    col = functools.partial(_written, indexed=indexed)

    # A photo matches when the period of its capture time (local wall-clock; a day or a month when
    # that is all its source gave) overlaps [start of date_from, end of date_to): it may have been
    # taken in the range. Its period is at most MAX_PERIOD long, so the index on the start column
    # also bounds a date_from.
    if "date_from" in periods:
        from lumina.stages.dates import MAX_PERIOD

        low = periods["date_from"][0]
        query = query.where(CaptureDate.capture_end_local > low, CaptureDate.capture_start_local > low - MAX_PERIOD)
    if "date_to" in periods and (high := periods["date_to"][1]) is not None:
        query = query.where(CaptureDate.capture_start_local < high)
    if "camera" in f:
        query = query.where(scope.camera_condition(indexed) if scope.cameras else literal(False))
    if "has_gps" in f:
        query = query.where(Place.gps_latitude.is_not(None) if f["has_gps"] else Place.gps_latitude.is_(None))
    if "geohash" in f:
        query = query.where(col(Place.geohash).startswith(f["geohash"].lower(), autoescape=True))
    if "country" in f:
        query = query.where(col(Place.country_code) == f["country"].upper())
    if "city" in f:
        query = query.where(col(Place.city) == f["city"])
    if "file_type" in f:
        query = query.where(Asset.file_type == f["file_type"].lower())
    if "status" in f:
        query = query.where(Asset.status == f["status"])
    if "keyword" in f:
        query = query.where(or_(json_list_has(Metadata.keywords, f["keyword"]), exists().where(
            UserOverride.asset_id == Asset.asset_id, UserOverride.field == "keywords",
            json_list_has(UserOverride.value, f["keyword"]))))
    if "date_flag" in f:
        query = query.where(json_list_has(CaptureDate.flags, f["date_flag"]))
    if "failed_stage" in f:  # "any", or a stage name
        failed = exists().where(StageRecord.asset_id == Asset.asset_id, col(StageRecord.status) == "failed")
        query = query.where(failed if f["failed_stage"] == "any" else failed.where(StageRecord.stage == f["failed_stage"]))
    if "asset_ids" in f:
        query = query.where(Asset.asset_id.in_(list(f["asset_ids"])))
    return query


def _base(*columns, scope: Scope | None = None, dated: bool = False, probe: bool = False):
    """``select(*columns)`` over assets with a present file, joined to dates, metadata and place.

    ``dated`` drives the query from the capture-time index (capture_dates inner-joined, for the
    dated part of the grid's order); otherwise from assets, with every join outer. In the dated walk
    a table that the filters require a row of (metadata for a camera; place for GPS, geohash,
    country or city) is inner-joined right after the dates, so that each step of the walk probes
    the filtered tables first and the asset, its files and the rest only for the steps that match
    (the same rows: those filters reject an asset without that row anyway). ``probe`` (implied by
    ``dated``) checks the present file per asset, for a query that reads few assets.
    """
    f = scope.f if scope else {}
    need_metadata = dated and "camera" in f
    need_place = dated and (f.get("has_gps") is True or any(k in f for k in ("geohash", "country", "city")))
    if dated:
        query = select(*columns).select_from(CaptureDate)
        if need_metadata:
            query = query.join(Metadata, Metadata.asset_id == CaptureDate.asset_id)
        if need_place:
            query = query.join(Place, Place.asset_id == CaptureDate.asset_id)
        query = query.join(Asset, Asset.asset_id == CaptureDate.asset_id)
    else:
        query = select(*columns).select_from(Asset).outerjoin(CaptureDate, CaptureDate.asset_id == Asset.asset_id)
    # Present files: a correlated EXISTS for the index walk (it stops after a page) or a few assets,
    # one probe of the files' (asset_id, status) index (migration 0015) per step; one uncorrelated
    # IN list for a scan of every asset. (Before that index SQLite searched the status index for
    # every asset and the condition was written ``status || ''`` to steer it away; PostgreSQL then
    # estimated 0.5 % of the assets present and hash-joined whole tables: 12 s for a page at 1M assets.)
    present = (exists().where(FileInstance.asset_id == Asset.asset_id, FileInstance.status == "present")
               if dated or probe else
               Asset.asset_id.in_(select(FileInstance.asset_id).where(FileInstance.status == "present")))
    if not need_metadata:
        query = query.outerjoin(Metadata, Metadata.asset_id == Asset.asset_id)
    if not need_place:
        query = query.outerjoin(Place, Place.asset_id == Asset.asset_id)
    return query.where(present)


def _scoped(scope: Scope, *columns):
    """``_base`` over every asset under ``scope``: from the id sets when one is small (the present file
    probed per asset), else over all assets."""
    if (ids := scope.ids()) is None:
        return _filtered(_base(*columns, scope=scope), scope)
    query, implied = ids
    return _filtered(_base(*columns, scope=scope, probe=True), scope, indexed=False, skip=implied).where(
        Asset.asset_id.in_(query))


def thumbnail_version(grid_path: str) -> str:
    """The settings tag in a content-addressed thumbnail name (``<aa>/<asset_id>-<tag>-grid.webp``):
    together with the asset id it names the thumbnail's bytes, so a URL carrying both is immutable."""
    return os.path.basename(grid_path).rsplit("-", 2)[-2]


_NO_TIME = datetime.min  # the sort key's time of an undated asset (they come after the dated ones)


class Kept:
    """Values computed from the catalog, kept under keys that end with ``catalog_version``: a key
    is never looked up again once the catalog changed. At most ``max_items`` values and
    ``max_keys`` list items in all (least recently used dropped first). Thread-safe (the API serves
    requests from a thread pool)."""

    def __init__(self, max_items: int = 32, max_keys: int = 400_000):
        self.max_items, self.max_keys = max_items, max_keys
        self._values: OrderedDict[tuple, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """The value kept under ``key``, else ``compute()`` (outside the lock), kept; a key that ends
        with None (no catalog version) is computed every time."""
        if key[-1] is None:
            return compute()
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key]
        value = compute()
        with self._lock:
            self._values[key] = value
            while len(self._values) > self.max_items or sum(
                    len(v) for v in self._values.values() if isinstance(v, list)) > self.max_keys:
                self._values.popitem(last=False)
        return value


_KEPT: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # engine -> Kept: what one catalog's database says
_KEPT_LOCK = threading.Lock()


def kept(session) -> Kept:
    """The values kept for the database ``session`` reads (one ``Kept`` per engine, gone with it)."""
    engine = session.get_bind()
    with _KEPT_LOCK:
        if engine not in _KEPT:
            _KEPT[engine] = Kept()
        return _KEPT[engine]


def ordered_matches(session, scope: Scope) -> list[tuple]:
    """The sort keys of every asset that ``scope`` (whose id sets must exist) matches, in the grid's
    order: ``(0, capture_start_local, asset_id)`` for a dated asset, ``(1, _NO_TIME, asset_id)`` for
    an undated one. Kept while the catalog is unchanged (``kept``), so that the pages after the
    first are slices of one list (keyset paging through it) instead of the same intersection and
    sort again. At most ``Scope.ID_SET_CAP`` keys: the id sets are used only below it."""
    def read() -> list[tuple]:
        ids, implied = scope.ids()
        # One read of the matching assets (the id sets drive it), sorted here: a few thousand keys.
        query = _filtered(_base(CaptureDate.capture_start_local, Asset.asset_id, scope=scope, probe=True)
                          .where(Asset.asset_id.in_(ids)), scope, indexed=False, skip=implied)
        return sorted((0, start, a) if start is not None else (1, _NO_TIME, a) for start, a in session.execute(query))

    return kept(session).get(("matches", *scope.version_key), read)


def _with_thumbnail(query):
    """``query`` (over assets) outer-joined to the grid thumbnail, for a page's columns."""
    return query.outerjoin(Thumbnail, Thumbnail.asset_id == Asset.asset_id)


@contextmanager
def _walk(session, scope: Scope) -> Iterator[None]:
    """Within the block, PostgreSQL's planner may not sort when ``scope`` has id sets (their counts
    chose the walk): an ordered query then walks the index that gives its order (``SET LOCAL
    enable_sort = off``, restored after). Its estimates cannot see that filters on different tables
    are correlated, and it chose to sort every match (0.4-0.5 s at 1M assets) where the walk takes
    0.05 s. Other filters (dates, types, keywords, flags) are left to its statistics. SQLite needs
    nothing: the filters are written so that no index but the order's can drive the query."""
    pg = bool(scope.id_sets) and session.get_bind().dialect.name == "postgresql"
    if pg:
        session.execute(text("SELECT set_config('enable_sort', 'off', true)"))
    try:
        yield
    finally:
        if pg:
            session.execute(text("SELECT set_config('enable_sort', 'on', true)"))


def list_assets(session, filters: dict[str, Any], cursor: str | None = None, limit: int = 100,
                total: bool = False, plan: str | None = None) -> dict[str, Any]:
    """Assets in capture-time order (undated last, then by id) with keyset paging.

    A page is found one of two ways, the same rows either way: by walking the capture-time index and
    testing each asset (fast when many assets match), or from the asset ids of the filters an index
    answers (country, city, geohash, camera, failed stage, asset ids), intersected, then sorted (fast
    when few match; ``ordered_matches`` keeps that sorted list while the catalog is unchanged, so the
    next pages and the total are read from it). ``Scope.by_ids`` chooses from the sizes of those id
    sets, counted in their indexes.

    Args:
        filters: any of ``FILTERS``: ``date_from``/``date_to`` (ISO 8601 prefixes, inclusive: ``2019``
            to ``2019-06`` is 2019-01-01 up to the end of June; matched against the local wall-clock
            capture time, and a photo dated only to a day or month matches when that period overlaps), ``camera`` (substring of make or model, case-insensitive),
            ``has_gps`` (bool), ``geohash`` (prefix), ``country`` (ISO 3166 alpha-2), ``city``,
            ``file_type``, ``status`` (active | rejected), ``keyword`` (exact keyword), ``date_flag``
            (one of ``DATE_FLAGS``), ``failed_stage`` (a stage name, or ``any``), ``asset_ids`` (a
            collection of full asset ids).
        cursor: the ``next_cursor`` of the previous page.
        limit: 1..500 items.
        total: also count every asset matching the filters (one more query).
        plan: ``"walk"`` or ``"ids"`` (when a filter has an id set) to choose the way (benchmarks and tests
            compare them); None chooses.
    Returns:
        ``{"items": [{"asset_id", "paths", "capture_time", "camera_make", "camera_model", "file_type",
        "status", "geohash", "country_code", "city", "width", "height", "thumbnail"}], "next_cursor"}``
        (``next_cursor`` None at the end) and ``"total"`` when asked. ``width``/``height`` are the
        oriented grid thumbnail's pixels when there is one, else the file's; ``thumbnail`` is
        ``{"version", "width_px", "height_px", "thumbhash"}`` (ThumbHash base64) or
        ``{"error": <why there is none>}``.
    Raises:
        ConfigError: an unknown filter, a bad cursor or a limit outside 1..500.
    """
    if not 1 <= limit <= 500:
        raise ConfigError("limit must be 1..500")
    if plan not in (None, "walk", "ids"):
        raise ConfigError("plan must be walk or ids")
    scope = Scope(session, filters)
    columns = (Asset.asset_id, Asset.file_type, Asset.status, CaptureDate.capture_time,
               CaptureDate.capture_start_local, Metadata.camera_make,
               Metadata.camera_model, Metadata.width, Metadata.height, Place.geohash, Place.country_code, Place.city,
               Thumbnail.grid_path, Thumbnail.grid_width, Thumbnail.grid_height, Thumbnail.thumbhash)
    undated_after, dated_after = None, None  # where the undated / dated part of the order resumes
    if cursor:
        try:
            undated, when, last = json.loads(base64.urlsafe_b64decode(cursor.encode()))
            if not (isinstance(undated, bool) and isinstance(when, str) and isinstance(last, str)):
                raise TypeError("cursor fields")
            if not undated:
                from lumina.stages.dates import iso_period

                when = iso_period(when)[0]
        except (ValueError, TypeError) as exc:
            raise ConfigError("invalid cursor: pass the next_cursor of the previous page") from exc
        undated_after, dated_after = (last, None) if undated else (None, (when, last))
    if scope.empty:
        return {"items": [], "next_cursor": None, **({"total": 0} if total else {})}
    count = None
    if scope.ids() is not None and (plan == "ids" or (plan is None and scope.by_ids(session, limit))):
        # From the id sets: every match's sort key, in order (cached while the catalog is unchanged),
        # then the columns of one page's assets.
        ordered = ordered_matches(session, scope)
        position = 0
        if dated_after or undated_after:
            position = bisect.bisect_right(ordered, (0, *dated_after) if dated_after else (1, _NO_TIME, undated_after))
        page = ordered[position:position + limit]
        more, count = position + limit < len(ordered), len(ordered)
        order = [a for _, _, a in page]
        found = {r.asset_id: r for r in session.execute(_with_thumbnail(
            _base(*columns, probe=True).where(Asset.asset_id.in_(order))))} if order else {}
        rows = [found[a] for a in order if a in found]  # an asset deleted since is left out
    else:
        # Two index walks instead of one sort of every asset: the dated assets by (capture start,
        # asset_id) from the capture-time index, then the undated ones (no date row, or no time) by
        # asset_id. The filters are written so that no other index can drive the query; the walk
        # reads the page's columns as it goes and stops after a page.
        rows = []
        with _walk(session, scope):
            if undated_after is None:
                query = _filtered(_base(*columns, scope=scope, dated=True).where(
                    CaptureDate.capture_start_local.is_not(None)), scope, indexed=False)
                if dated_after:
                    query = query.where(tuple_(CaptureDate.capture_start_local, CaptureDate.asset_id) > tuple_(*dated_after))
                rows = session.execute(_with_thumbnail(query).order_by(CaptureDate.capture_start_local,
                                                                       CaptureDate.asset_id).limit(limit + 1)).all()
            if len(rows) <= limit:
                query = _filtered(_base(*columns, scope=scope).where(CaptureDate.capture_start_local.is_(None)),
                                  scope, indexed=False)
                if undated_after:
                    query = query.where(Asset.asset_id > undated_after)
                rows += session.execute(_with_thumbnail(query).order_by(Asset.asset_id)
                                        .limit(limit + 1 - len(rows))).all()
        more, rows = len(rows) > limit, rows[:limit]
    if total and count is None:  # joined tables only when a filter reads them
        joined = any(k in scope.f for k in FILTERS if k not in ("file_type", "status", "failed_stage", "asset_ids"))
        count = session.scalar(
            _scoped(scope, func.count()) if joined or scope.ids() is not None else
            _filtered(select(func.count()).select_from(Asset).where(
                Asset.asset_id.in_(select(FileInstance.asset_id).where(FileInstance.status == "present"))), scope))
    ids = [r.asset_id for r in rows]
    paths = present_paths(session, ids)
    no_thumb = [r.asset_id for r in rows if r.grid_path is None]
    errors = dict(session.execute(select(StageRecord.asset_id, StageRecord.error).where(
        StageRecord.asset_id.in_(no_thumb), StageRecord.stage == "thumbnails")).all()) if no_thumb else {}
    items = [{"asset_id": r.asset_id, "paths": paths.get(r.asset_id, []), "capture_time": r.capture_time,
              "camera_make": r.camera_make, "camera_model": r.camera_model, "file_type": r.file_type,
              "status": r.status, "geohash": r.geohash, "country_code": r.country_code, "city": r.city,
              "width": r.grid_width or r.width, "height": r.grid_height or r.height,
              "thumbnail": {"version": thumbnail_version(r.grid_path), "width_px": r.grid_width,
                            "height_px": r.grid_height, "thumbhash": base64.b64encode(r.thumbhash).decode()}
              if r.grid_path else {"error": errors.get(r.asset_id) or "thumbnails stage not run yet"}}
             for r in rows]
    next_cursor = None
    if more and rows:
        last = rows[-1]
        next_cursor = base64.urlsafe_b64encode(json.dumps(
            [last.capture_start_local is None, last.capture_start_local.isoformat() if last.capture_start_local else "",
             last.asset_id]).encode()).decode()
    out = {"items": items, "next_cursor": next_cursor}
    if total:
        out["total"] = count
    return out


def timeline(session, filters: dict[str, Any]) -> list[dict[str, Any]]:
    """Asset counts by capture year and month under ``filters`` (see list_assets).

    Returns:
        ``[{"year": int, "month": int, "count": int}]`` in time order; undated assets are left out.
    """
    # The displayed string starts with the start of the capture period (a month-only date is shown
    # as its 1st, 00:00), so its first 7 characters are the start's month: a third of the time of
    # SQLite's strftime on the timestamp (benchmarks/bench_date_ranges.py); the filters read the timestamps.
    month = func.substr(CaptureDate.capture_time, 1, 7)
    rows = session.execute(_scoped(Scope(session, filters), month, func.count())
                           .where(CaptureDate.capture_start_local.is_not(None)).group_by(month).order_by(month)).all()
    return [{"year": int(m[:4]), "month": int(m[5:7]), "count": n} for m, n in rows]


def facets(session) -> dict[str, list[dict[str, Any]]]:
    """The values the grid's filters offer, with asset counts, most frequent first: ``cameras``
    (``{"make", "model", "count"}``), ``places`` (``{"country_code", "city", "count"}``), ``file_types``
    and ``keywords`` (``{"value", "count"}``, keywords capped at 200)."""
    present = select(FileInstance.asset_id).where(FileInstance.status == "present")  # each count reads one table
    cams = session.execute(select(Metadata.camera_make, Metadata.camera_model, func.count())
                           .where(Metadata.asset_id.in_(present),
                                  or_(Metadata.camera_make.is_not(None), Metadata.camera_model.is_not(None)))
                           .group_by(Metadata.camera_make, Metadata.camera_model).order_by(func.count().desc())).all()
    places = session.execute(select(Place.country_code, Place.city, func.count())
                             .where(Place.asset_id.in_(present), Place.country_code.is_not(None))
                             .group_by(Place.country_code, Place.city).order_by(func.count().desc())).all()
    types = session.execute(select(Asset.file_type, func.count()).where(Asset.asset_id.in_(present))
                            .group_by(Asset.file_type).order_by(func.count().desc())).all()
    # keywords: the user's list where one was set, else the file's (the database expands the JSON lists:
    # SQLite's json_each, PostgreSQL's jsonb_array_elements_text)
    overridden = {o.asset_id: o.value for o in session.scalars(select(UserOverride).where(UserOverride.field == "keywords"))}
    expand = func.jsonb_array_elements_text if session.get_bind().dialect.name == "postgresql" else func.json_each
    words = expand(Metadata.keywords).table_valued("value")
    counts = dict(session.execute(select(words.c.value, func.count()).select_from(Metadata).join(words, literal(True))
                                  .where(Metadata.asset_id.in_(present), Metadata.asset_id.not_in(list(overridden)))
                                  .group_by(words.c.value)).all())
    for value in overridden.values():
        for w in set(value or []):
            counts[w] = counts.get(w, 0) + 1
    return {"cameras": [{"make": a, "model": b, "count": n} for a, b, n in cams],
            "places": [{"country_code": c, "city": t, "count": n} for c, t, n in places],
            "file_types": [{"value": t, "count": n} for t, n in types],
            "keywords": [{"value": w, "count": n} for w, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:200]]}


def positions(session, filters: dict[str, Any], limit: int = 200_000) -> list[list]:
    """``[[asset_id, gps_latitude, gps_longitude, capture_time], ...]`` (signed degrees, WGS 84) of
    every asset with a validated position under ``filters``, at most ``limit``."""
    rows = session.execute(_scoped(Scope(session, filters), Asset.asset_id, Place.gps_latitude, Place.gps_longitude,
                                   CaptureDate.capture_time).where(Place.gps_latitude.is_not(None)).limit(limit)).all()
    return [[a, lat, lon, t] for a, lat, lon, t in rows]


def check_row_id(value: int, what: str) -> int:
    """``value`` when it can be a row id (1 .. 2^63 - 1: SQLite's INTEGER and PostgreSQL's BIGINT range).

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


def tag_source_counts(session, among) -> dict[str, int]:
    """Assets per tag source (``auto``, ``file``, ``manual``) among the assets ``among`` selects (a
    function of the ``asset_id`` column giving a condition, e.g. a correlated EXISTS, or a select of
    asset ids); an asset with tags of two sources counts in both. The JSON list is expanded by the database (SQLite's
    ``json_each``, PostgreSQL's ``jsonb_array_elements``)."""
    from lumina.catalog.models import AssetTags

    if session.get_bind().dialect.name == "postgresql":
        items = func.jsonb_array_elements(AssetTags.tags).table_valued("value")
        source = items.c.value.op("->>")("source")
    else:
        items = func.json_each(AssetTags.tags).table_valued("value")
        source = func.json_extract(items.c.value, "$.source")
    rows = session.execute(select(source, func.count(AssetTags.asset_id.distinct())).select_from(AssetTags)
                           .join(items, literal(True)).where(among(AssetTags.asset_id) if callable(among) else AssetTags.asset_id.in_(among))
                           .group_by(source)).all()
    return {s: n for s, n in rows if s is not None}


def index_lookups_only(session) -> None:
    """For the rest of the session's transaction, have PostgreSQL join by index lookups (nested
    loops) instead of hashing or merging whole tables: for a query over a few thousand given rows
    left-joined to many tables, which the planner's estimates otherwise answer with full scans
    (``SET LOCAL enable_hashjoin/enable_mergejoin = off``). SQLite (index lookups already) is left as
    it is."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL enable_hashjoin = off"))
        session.execute(text("SET LOCAL enable_mergejoin = off"))
