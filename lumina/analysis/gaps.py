"""The gap report: per metadata type, how many assets it applies to, how many have it, why the
rest do not, and which stage fills it; plus date details, cameras, file types, missing files,
failures by error kind and the job order derived from the stage graph.

Status of a type (coverage = count / applicable): ``complete`` (1.0), ``nearly complete``
(>= 0.95), ``good`` (>= 0.75), ``partial`` (> 0), ``missing`` (0), ``not computed`` (its
stage does not exist yet). A type that applies to no asset is ``complete`` with coverage 1.0.
"""

from __future__ import annotations

import hashlib
import html
import json
from collections import Counter
from typing import Any

from sqlalchemy import Text, and_, case, cast, delete, exists, func, insert, literal, or_, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import aliased

from lumina.catalog.db import Catalog, advisory_key
from lumina.analysis.bursts import BURST_ID_TAGS, Frame, ineligible_reason
from lumina.analysis.duplicates import TRUSTED_SOURCES, is_trusted_time_source
from lumina.catalog.models import (Asset, AssetTags, CaptureDate, CatalogState, Description, Embedding, FileInstance,
                                   GapAssetProfile, GapDirty, GapProfile, Metadata, PerceptualHash, Place, Quality,
                                   StageRecord, Thumbnail, UserOverride)
from lumina.catalog.queries import index_lookups_only, tag_source_counts
from lumina.catalog.writes import insert_new, upsert
from lumina.errors import error_kind
from lumina.pipeline.runner import plan_columns, planned, signed_by_sidecar
from lumina.stages import CATALOG_STAGES, GRAPH, SPECS, STAGES, make_stage, topological_order
from lumina.stages.dates import ESTIMATED_SOURCES, date_basis, offset_is_known

CAMERAS_LISTED = 20  # camera rows in the report; the rest are counted in cameras_not_listed
FAILURE_FILES_LISTED = 200  # failed files listed; the rest are counted in failures.files_not_listed
MARKDOWN_FAILURES_LISTED = 20  # of those, shown in the terminal report (the JSON has all 200)
SUMMARY_STATE_KEY = "gap_summary"  # catalog_state: the fingerprint of the per-asset query the summary holds
SUMMARY_CHUNK = 5_000  # assets profiled per query while the summary is brought up to date
REBUILD_SHARE = 0.2  # above this share of changed assets the summary is rebuilt in asset order

# type -> (stage that fills it, applicability: "all" | "gps", what a missing value means)
TYPES: tuple[tuple[str, str, str, str], ...] = (
    ("capture_date", "dates", "all", "no date in file"),
    ("camera", "metadata", "all", "no camera in file"),
    ("gps", "geo", "all", "no GPS in file"),
    ("geohash", "geo", "gps", "no geohash computed"),
    ("place", "geo", "gps", "no place found near the position"),
    ("thumbnails", "thumbnails", "all", "no thumbnail"),
    ("perceptual_hashes", "hashes", "all", "no hashes"),
    ("quality_score", "quality", "all", "no quality score"),
    ("embeddings", "embeddings", "all", "no embedding"),
    ("clip_embeddings", "embeddings", "all", "no CLIP embedding"),
    ("descriptions", "descriptions", "all", "no description"),
    ("tags", "tags", "all", "no tag (no keyword in file, none auto-tagged, none set by hand)"),
    ("bursts", "bursts", "all", "not checked for bursts"),
    ("duplicates", "duplicates", "all", "not checked for duplicates"),
)


def status_of(coverage: float, computed: bool) -> str:
    if not computed:
        return "not computed"
    if coverage >= 1.0:
        return "complete"
    if coverage >= 0.95:
        return "nearly complete"
    if coverage >= 0.75:
        return "good"
    return "partial" if coverage > 0 else "missing"


def _profile_query(settings: dict, with_assets: bool, overridden: frozenset = frozenset(), sidecars: bool = True):
    """One row per distinct combination of what the report reads about an asset, with its count
    ``n``, over every asset with a present file: the database does the counting (one GROUP BY over
    left joins on primary keys), Python names the reasons once per combination. Yes/no facts travel
    as one integer of bits (``BITS``: a narrow grouping key); each stage's record gives its
    ``<stage>_status``, ``<stage>_error`` (when not ok) and the planner's columns
    (``lumina.pipeline.runner.plan_columns``). With ``with_assets`` one row per asset (``n`` = 1)
    with its ``asset_id``. ``overridden``: the user-override fields any asset has; ``sidecars``:
    whether any file has a sidecar (what cannot matter is left out of the per-asset work)."""
    recs = {st: aliased(StageRecord, name=f"rec_{st}") for st in sorted(STAGES)}
    camera_make_set = and_(Metadata.camera_make.is_not(None), Metadata.camera_make != "")
    burst_ids = [Metadata.burst_uuid, *(Metadata.tags[tag].as_string() for tag, _ in BURST_ID_TAGS)]
    facts = {
        "photo": Asset.media_kind == "photo",
        "m_camera": or_(camera_make_set, Metadata.camera_model.is_not(None)),  # (make or model) is not None
        "m_camera_set": or_(camera_make_set, and_(Metadata.camera_model.is_not(None), Metadata.camera_model != "")),
        "m_gps": Metadata.gps_latitude.is_not(None),
        "m_text": or_(and_(Metadata.description.is_not(None), Metadata.description != ""),
                      and_(Metadata.title.is_not(None), Metadata.title != "")),
        # read from the file's ExifTool JSON only where it can matter: a frame that burst detection
        # would take anyway (camera, trusted unsuspicious time, hashes) is covered without it
        "m_burst_id": case((and_(camera_make_set | and_(Metadata.camera_model.is_not(None), Metadata.camera_model != ""),
                                 CaptureDate.capture_time_source.in_(TRUSTED_SOURCES),
                                 ~cast(CaptureDate.flags, Text).like('%"suspicious"%'),
                                 PerceptualHash.dhash.is_not(None), PerceptualHash.signature.is_not(None)), False),
                           else_=or_(*(func.coalesce(cast(v, Text), "").not_in(["", "0"]) for v in burst_ids))),
        "d_row": CaptureDate.asset_id.is_not(None), "d_time": CaptureDate.capture_time.is_not(None),
        "d_subsecond": CaptureDate.capture_time.like("%.%"),
        "d_confident": func.coalesce(CaptureDate.capture_time_confidence, 0) >= 95,
        "d_offset": CaptureDate.utc_offset_minutes.is_not(None),
        "d_suspicious": cast(CaptureDate.flags, Text).like('%"suspicious"%'),
        "p_gps": Place.gps_latitude.is_not(None), "p_geohash": Place.geohash.is_not(None),
        "p_place": Place.country_code.is_not(None),
        "thumbnails": Thumbnail.asset_id.is_not(None), "quality_score": Quality.asset_id.is_not(None),
        "perceptual_hashes": PerceptualHash.asset_id.is_not(None), "degenerate": PerceptualHash.degenerate.is_(True),
        "h_frame": and_(PerceptualHash.dhash.is_not(None), PerceptualHash.signature.is_not(None)),
        "embeddings": Embedding.asset_id.is_not(None), "clip_embeddings": Embedding.clip_model_id.is_not(None),
        "descriptions": Description.asset_id.is_not(None),
        "tags": and_(AssetTags.tags.is_not(None), cast(AssetTags.tags, Text).not_in(["[]", "null"])),
    }
    cols = [Asset.file_type.label("file_type"), Asset.media_kind.label("media_kind"),
            Metadata.camera_make.label("m_make"), Metadata.camera_model.label("m_model"),
            CaptureDate.capture_time_source.label("d_source"), cast(CaptureDate.flags, Text).label("d_flags"),
            case((Place.gps_latitude.is_(None), cast(Place.rejected, Text))).label("p_rejected")]
    signed = False
    for st, rec in recs.items():
        stage = make_stage(st, settings)
        planner = plan_columns(stage, recs, overridden)
        facts[f"{st}_old_version"], facts[f"{st}_newer"] = planner["old_version"], planner["newer"]
        signed = signed or signed_by_sidecar(stage)
        cols += [rec.status.label(f"{st}_status"), case((rec.status != "ok", rec.error)).label(f"{st}_error"),
                 planner["params_hash"].label(f"{st}_params_hash")]
    if signed and sidecars:  # the first present file's sidecar, as the planner's views see it
        cols.append(select(FileInstance.sidecar_signature)
                    .where(FileInstance.asset_id == Asset.asset_id, FileInstance.status == "present")
                    .order_by(FileInstance.path_bytes).limit(1).scalar_subquery().label("sidecar_signature"))
    else:
        cols.append(literal(None).label("sidecar_signature"))
    assert len(facts) < 63, "the bits of one BIGINT"
    bits = sum((case((test, 1 << i), else_=0) for i, test in enumerate(facts.values())), literal(0)).label("bits")
    cols.append(bits)
    present = exists().where(FileInstance.asset_id == Asset.asset_id, FileInstance.status == "present")
    query = select(*cols, Asset.asset_id, literal(1).label("n")).select_from(Asset)
    for model in (Metadata, CaptureDate, Place, Thumbnail, Quality, PerceptualHash, Embedding, Description, AssetTags):
        query = query.outerjoin(model, model.asset_id == Asset.asset_id)
    for st, rec in recs.items():
        query = query.outerjoin(rec, and_(rec.asset_id == Asset.asset_id, rec.stage == st))
    query = query.where(present)
    if not with_assets:  # grouped outside: PostgreSQL cannot group by the correlated sidecar subquery
        per_asset = query.subquery()
        keys = [per_asset.c[c.name] for c in cols]
        query = select(*keys, func.count().label("n")).group_by(*keys)
    return query, list(facts)


def _profile_batches(s, settings: dict, with_assets: bool, where=None):
    """The rows of ``_profile_query`` as dicts (``where``: a further condition on the assets), the bits
    still packed in ``bits``, in lists of up to ``SUMMARY_CHUNK`` rows streamed from one query."""
    overridden = frozenset(s.scalars(select(UserOverride.field).distinct()))
    sidecars = s.scalar(select(FileInstance.id).where(FileInstance.sidecar_signature.is_not(None)).limit(1)) is not None
    query, _ = _profile_query(settings, with_assets, overridden, sidecars)
    if where is not None:
        query = query.where(where)
    for part in s.execute(query.execution_options(yield_per=SUMMARY_CHUNK)).partitions():
        yield [row._asdict() for row in part]


def _profiles(s, settings: dict, with_assets: bool, where=None) -> list[dict[str, Any]]:
    """Every row of ``_profile_batches`` in one list."""
    return [p for batch in _profile_batches(s, settings, with_assets, where) for p in batch]


def _unpacked(profiles: list[dict[str, Any]], names: list[str]) -> list[dict[str, Any]]:
    """``profiles`` with their ``bits`` unpacked into ``names`` (the facts of ``_profile_query``)."""
    for p in profiles:
        bits = p.pop("bits")
        p.update({name: bool(bits >> i & 1) for i, name in enumerate(names)})
    return profiles


def _fingerprint(s, query) -> str:
    """SHA-256 of ``query`` (the per-asset profile query with every override field and the sidecar
    subquery: ``_profile_query(settings, True, None, True)``) compiled for this backend, with its
    parameters: a new stage version, fact or column changes it, and a summary built by other code is
    rebuilt."""
    compiled = query.compile(dialect=s.get_bind().dialect)
    return hashlib.sha256(f"{compiled}|{sorted(compiled.params.items(), key=str)}".encode()).hexdigest()


def refresh_summary(s, settings: dict, full_query=None) -> int:
    """Bring the gap report's per-asset summary up to date and commit: every asset marked in
    ``gap_dirty`` (by the triggers of migration 0018) gets its profile again from ``_profile_query``
    (one query per ``SUMMARY_CHUNK`` assets); an asset without a present file loses its row. When the
    query itself changed (``_fingerprint``) or more than ``REBUILD_SHARE`` of the assets are marked,
    the whole summary is rebuilt in keyset chunks of asset ids instead.

    ``full_query``: ``_profile_query(settings, True, None, True)`` when the caller has it built.

    Returns:
        the number of assets profiled (0: the summary was current).
    Raises:
        sqlalchemy.exc.OperationalError: the database cannot be written (a read-only catalog) or stays
            locked past the busy timeout; nothing is changed then.
    """
    if s.bind.dialect.name == "postgresql":  # one refresh at a time: two would insert the same asset rows
        s.execute(select(func.pg_advisory_xact_lock(advisory_key(SUMMARY_STATE_KEY))))
    fingerprint = _fingerprint(s, (full_query or _profile_query(settings, True, None, True))[0])
    state = s.get(CatalogState, SUMMARY_STATE_KEY)
    marked = s.scalar(select(func.count()).select_from(GapDirty))
    current = state is not None and state.value == fingerprint
    if current and not marked:
        return 0
    known = {key: pid for key, pid in s.execute(select(GapProfile.profile_key, GapProfile.profile_id))}
    profiled = 0

    keys: dict[tuple, str] = {}  # a profile's values (in the query's column order) -> its profile_key

    def store(rows: list[dict[str, Any]]) -> None:
        nonlocal profiled
        texts, pointers = {}, []
        for p in rows:
            asset_id = p.pop("asset_id")
            p.pop("n")
            values = tuple(p.values())
            key = keys.get(values)
            if key is None:  # JSON and SHA-256 once per distinct profile, not per asset
                text = json.dumps(p, sort_keys=True)
                key = keys[values] = hashlib.sha256(text.encode()).hexdigest()
                texts[key] = text
            pointers.append((asset_id, key))
        new = [{"profile_key": k, "profile": t} for k, t in texts.items() if k not in known]
        if new:
            insert_new(s, GapProfile, new, ["profile_key"])
            known.update(s.execute(select(GapProfile.profile_key, GapProfile.profile_id)
                                   .where(GapProfile.profile_key.in_([r["profile_key"] for r in new]))).all())
        if pointers:
            s.execute(insert(GapAssetProfile), [{"asset_id": a, "profile_id": known[k]} for a, k in pointers])
        profiled += len(pointers)

    if not current or marked > REBUILD_SHARE * max(1, s.scalar(select(func.count()).select_from(GapAssetProfile))):
        s.execute(delete(GapDirty))  # first: a writer marking an asset from now on waits for this commit
        s.execute(delete(GapAssetProfile))
        for batch in _profile_batches(s, settings, True):  # one pass: PostgreSQL hash-joins whole tables
            store(batch)
        upsert(s, CatalogState, [{"key": SUMMARY_STATE_KEY, "value": fingerprint}])
    else:
        ids = list(s.scalars(delete(GapDirty).returning(GapDirty.asset_id)))
        index_lookups_only(s)  # a few thousand assets: probe them, never scan whole tables
        for i in range(0, len(ids), SUMMARY_CHUNK):
            chunk = ids[i:i + SUMMARY_CHUNK]
            s.execute(delete(GapAssetProfile).where(GapAssetProfile.asset_id.in_(chunk)))
            store(_profiles(s, settings, True, Asset.asset_id.in_(chunk)))
    s.commit()
    return profiled


def update_summary(catalog: Catalog) -> int:
    """``refresh_summary`` in a session of its own, called at the end of a scan: the report that
    follows reads a current summary, and a first scan of a large library pays the summary's build
    (about 5 min at 1M assets on SQLite, ``bench_scale.py``) instead of the first ``lumina gaps``.

    Returns:
        the number of assets profiled; 0 when the summary was current or the catalog cannot be
        written now (a read-only folder, another writer past the busy timeout): the next report
        profiles them then.
    """
    with catalog.session() as s:
        try:
            return refresh_summary(s, catalog.settings)
        except OperationalError:
            s.rollback()
            return 0


def _summary_profiles(s, settings: dict, with_assets: bool, full_query=None) -> list[dict[str, Any]]:
    """``_profiles`` read from the summary (``refresh_summary`` first): one GROUP BY over
    ``gap_asset_profiles``, or with ``with_assets`` one row per asset."""
    refresh_summary(s, settings, full_query)
    if with_assets:
        rows = s.execute(select(GapAssetProfile.profile_id, GapAssetProfile.asset_id, literal(1))).all()
    else:
        rows = s.execute(select(GapAssetProfile.profile_id, literal(None), func.count())
                         .group_by(GapAssetProfile.profile_id)).all()
    texts = dict(s.execute(select(GapProfile.profile_id, GapProfile.profile)
                           .where(GapProfile.profile_id.in_({pid for pid, _, _ in rows}))).all())
    decoded = {pid: json.loads(text) for pid, text in texts.items()}
    return [{**decoded[pid], "n": n, **({"asset_id": asset_id} if with_assets else {})} for pid, asset_id, n in rows]


def _counted(counter: Counter) -> dict[str, int]:
    """A counter as a dict, largest first, ties in key order (the database returns groups in no set order)."""
    return dict(sorted(counter.items(), key=lambda kv: (-kv[1], str(kv[0]))))


def gap_report(catalog: Catalog, with_assets: bool = False, summary: bool = True) -> dict[str, Any]:
    """The gap report as a JSON-ready dict (shape documented in the README); ``with_assets`` adds
    to each metadata row ``reason_assets``: reason -> the sorted asset ids it counts.

    The per-asset facts come from the summary (``refresh_summary``: one GROUP BY over a narrow
    table that triggers keep current), or with ``summary=False`` (and where the catalog cannot be
    written) straight from ``_profile_query`` (GROUP BY over the left joins of every stage's rows);
    Python names the reasons once per distinct combination, never per asset."""
    from lumina.pipeline import bursts_run, duplicates_run

    full_query = _profile_query(catalog.settings, True, None, True)  # built once: its SQL, its fact names
    with catalog.session() as s:
        profiles = None
        if summary:
            try:
                profiles = _summary_profiles(s, catalog.settings, with_assets, full_query)
            except OperationalError:  # a read-only catalog, or a writer holding it past the busy timeout
                s.rollback()
        if profiles is None:
            profiles = _profiles(s, catalog.settings, with_assets)
        profiles = _unpacked(profiles, full_query[1])
        stage_errors = s.execute(select(StageRecord.stage, StageRecord.error, func.count())
                                 .where(StageRecord.status == "failed", _present(StageRecord.asset_id))
                                 .group_by(StageRecord.stage, StageRecord.error)).all()
        failed = s.execute(select(StageRecord.stage, StageRecord.asset_id, StageRecord.error)
                           .where(StageRecord.status == "failed", _present(StageRecord.asset_id))).all()
        first_path = dict(s.execute(select(FileInstance.asset_id, func.min(FileInstance.path_bytes))
                                    .where(FileInstance.status == "present",
                                           FileInstance.asset_id.in_({a for _, a, _ in failed}))
                                    .group_by(FileInstance.asset_id)).all()) if failed else {}
        semantic = _semantic_rows(s, catalog.settings)
        file_status = dict(s.execute(select(FileInstance.status, func.count()).group_by(FileInstance.status)).all())
        file_failures = s.execute(select(FileInstance.path, FileInstance.error)
                                  .where(FileInstance.status == "failed")).all()
        generation = duplicates_run.current_generation(s)
        burst_generation = bursts_run.current_generation(s)
        stale = {name: cls.is_stale(s, catalog.settings) for name, cls in CATALOG_STAGES.items()}
        duplicates_stale, bursts_stale = stale["duplicates"], stale["bursts"]
        total = sum(p["n"] for p in profiles)
        pending = {}
        for spec in GRAPH:
            if spec.name in STAGES:
                stage = make_stage(spec.name, catalog.settings)
                inputs: Counter = Counter()  # the planner's rule once per distinct input, not per profile
                for p in profiles:
                    inputs[(p[f"{spec.name}_status"], p[f"{spec.name}_old_version"], p[f"{spec.name}_newer"],
                            p[f"{spec.name}_params_hash"], p["media_kind"], p["file_type"], p["sidecar_signature"])] += p["n"]
                pending[spec.name] = sum(n for args, n in inputs.items() if planned(stage, *args))
            elif spec.name in CATALOG_STAGES:
                pending[spec.name] = int(bool(total) and stale[spec.name])
            else:
                pending[spec.name] = total if spec.scope == "asset" else (1 if total else 0)

    cameras: Counter = Counter()  # make and model as read, where either is set
    for p in profiles:
        if p["m_camera_set"]:
            cameras[(p["m_make"], p["m_model"])] += p["n"]
    geo_ran = "geo" in STAGES
    for p in profiles:  # what load_frames and ineligible_reason see for a photo (see lumina.analysis.bursts)
        p["flags"] = json.loads(p["d_flags"]) if p["d_flags"] else []
        p["frame"] = Frame(p.get("asset_id", ""), [], "active") if p["photo"] else None  # media_kind photo
        if p["frame"] is not None:
            f = p["frame"]
            f.camera = ("", "", None) if p["m_camera_set"] else None
            if p["d_time"]:
                f.capture_time, f.time_source, f.subsecond = "x", p["d_source"], bool(p["d_subsecond"])
                f.trusted = is_trusted_time_source(p["d_source"]) and not p["d_suspicious"]
            f.dhash = 0 if p["h_frame"] else None

    def has_gps(p: dict) -> bool:
        return bool(p["p_gps"]) if geo_ran else bool(p["m_gps"])

    have = {
        # a file time or a folder name is an estimate, listed among the reasons, never coverage
        "capture_date": lambda p: p["d_time"] and p["d_source"] not in ESTIMATED_SOURCES,
        "camera": lambda p: p["m_camera"],
        "gps": has_gps,
        "geohash": lambda p: p["p_geohash"],
        "place": lambda p: p["p_place"],
        "descriptions": lambda p: p["descriptions"] or p["m_text"],
        "tags": lambda p: p["tags"],
        "embeddings": lambda p: p["embeddings"],
        "clip_embeddings": lambda p: p["clip_embeddings"],
        "duplicates": lambda p: generation is not None and p["perceptual_hashes"] and not p["degenerate"],
        "bursts": lambda p: burst_generation is not None and p["frame"] is not None and (
            p["m_burst_id"] or ineligible_reason(p["frame"]) is None),
        "thumbnails": lambda p: p["thumbnails"], "perceptual_hashes": lambda p: p["perceptual_hashes"],
        "quality_score": lambda p: p["quality_score"],
    }

    available = set(STAGES) | set(CATALOG_STAGES)

    def missing_reason(type_name: str, stage: str, p: dict, default: str) -> str:
        if stage not in available:
            return f"stage not available yet: {stage}"
        if type_name == "bursts":
            if burst_generation is None:
                return "stage not run yet: bursts"
            if p["frame"] is None:
                return "not a photo"
            return f"not checked: {ineligible_reason(p['frame'])}"
        if type_name == "duplicates":
            if generation is None:
                return "stage not run yet: duplicates"
            if p["degenerate"]:
                return "not checked: flat image (degenerate hashes)"
            return f"not checked: hashes failed: {error_kind(p['hashes_error'])}" if p["hashes_status"] == "failed" \
                else "not checked: no hashes yet"
        if type_name == "capture_date" and p["d_row"] and p["d_source"] in ESTIMATED_SOURCES:
            return ESTIMATED_SOURCES[p["d_source"]]
        status = p.get(f"{stage}_status")
        for req in SPECS[stage].requires:  # a failed prerequisite explains a stage that never ran
            if p.get(f"{req}_status") == "failed" and status is None:
                return f"{req} failed: {error_kind(p[f'{req}_error'])}"
        if type_name == "clip_embeddings" and semantic["clip_embeddings"]["reason"]:
            return semantic["clip_embeddings"]["reason"]
        if status is None:
            return f"stage not run yet: {stage}"
        error = p[f"{stage}_error"]
        if status == "failed":
            return f"{stage} failed: {error_kind(error)}"
        if status == "skipped":
            return f"{stage} skipped: {error_kind(error) if error else 'no reason recorded'}"
        rejected = json.loads(p["p_rejected"]) if type_name == "gps" and p["p_rejected"] else None
        if rejected:
            return "GPS rejected: " + "; ".join(sorted({r["reason"] for r in rejected}))
        return default

    metadata_rows = []
    for type_name, stage, applies, default in TYPES:
        applicable = [p for p in profiles if applies == "all" or has_gps(p)]
        test = have.get(type_name)
        reasons: Counter = Counter()
        reason_assets: dict[str, list[str]] = {}
        count = 0
        for p in applicable:
            if test is not None and test(p):
                count += p["n"]
                continue
            why = missing_reason(type_name, stage, p, default)
            reasons[why] += p["n"]
            if with_assets:
                reason_assets.setdefault(why, []).append(p["asset_id"])
        n_applicable = sum(p["n"] for p in applicable)
        coverage = round(count / n_applicable, 4) if n_applicable else 1.0
        metadata_rows.append({
            "type": type_name, "applicable": n_applicable, "count": count, "coverage": coverage,
            "gap": n_applicable - count, "status": status_of(coverage, stage in available),
            "reasons": _counted(reasons), "fill_job": stage,
            **{k: v for k, v in semantic.get(type_name, {}).items() if k in ("by_source", "models")},
        })
        if with_assets:
            metadata_rows[-1]["reason_assets"] = {r: sorted(reason_assets[r]) for r in metadata_rows[-1]["reasons"]}

    stage_failures: dict[str, Counter] = {}
    for stage, error, n in stage_errors:
        stage_failures.setdefault(stage, Counter())[error_kind(error)] += n
    stage_failure_files = sorted(
        ({"path": first_path[aid].decode("utf-8", "backslashreplace"), "stage": stage, "error": error}
         for stage, aid, error in failed), key=lambda f: (f["path"], f["stage"]))
    by_kind = Counter(error_kind(e) for _, e in file_failures)
    for c in stage_failures.values():
        by_kind.update(c)

    dated = [p for p in profiles if p["d_time"]]
    flag_counts: Counter = Counter()
    for p in profiles:
        for f in p["flags"] or []:
            flag_counts[f] += p["n"]

    def dated_count(test) -> int:
        return sum(p["n"] for p in dated if test(p))

    by_source: Counter = Counter()
    basis: Counter = Counter()
    file_types: Counter = Counter()
    for p in profiles:
        file_types[p["file_type"]] += p["n"]
    for p in dated:
        by_source[p["d_source"]] += p["n"]
        basis[date_basis(p["d_source"])] += p["n"]
    failure_files = [{"path": p, "stage": None, "error": e} for p, e in sorted(file_failures)] + stage_failure_files
    cameras_listed = sorted(cameras.items(), key=lambda kv: (-kv[1], kv[0][0] or "", kv[0][1] or ""))
    report = {
        "catalog": str(catalog.path),
        "total_assets": total,
        "metadata": metadata_rows,
        "dates": {
            "dated": sum(p["n"] for p in dated),
            "by_source": _counted(by_source),
            "confidence_ge_95": dated_count(lambda p: p["d_confident"]),
            # an offset the metadata, the GPS time zone or the user gives; never a file time's zone
            "known_utc_offset": dated_count(lambda p: offset_is_known(p["d_source"], 0 if p["d_offset"] else None,
                                                                      p["flags"] or [])),
            "estimated": flag_counts.get("estimated", 0),
            "suspicious": flag_counts.get("suspicious", 0),
            "conflicting": flag_counts.get("conflicting", 0),
            "flags": _counted(flag_counts),
            # the seed report's rows: total with any date, high confidence, from the file's own
            # metadata (EXIF, QuickTime, maker notes, XMP/IPTC in the file), and what rests on less
            "total_with_date": sum(p["n"] for p in dated),
            "high_confidence": dated_count(lambda p: p["d_confident"]),
            "from_exif_quicktime": basis.get("metadata", 0),
            "from_sidecar": basis.get("sidecar", 0),
            "from_filename": basis.get("filename", 0),
            "user_override": basis.get("user", 0),
            "estimated_from_file_time": basis.get("mtime", 0),
            "estimated_from_folder": basis.get("folder", 0),
        },
        # ties by name: the database's row order differs between backends
        "cameras": [{"make": mk, "model": md, "count": n} for (mk, md), n in cameras_listed[:CAMERAS_LISTED]],
        "cameras_total": len(cameras),
        "cameras_not_listed": max(0, len(cameras) - CAMERAS_LISTED),
        "file_types": _counted(file_types),
        "files": {"present": file_status.get("present", 0), "missing": file_status.get("missing", 0),
                  "failed": file_status.get("failed", 0), "unsettled": file_status.get("unsettled", 0),
                  "ignored": file_status.get("ignored", 0)},
        "missing_files": file_status.get("missing", 0),
        "degenerate_hashes": sum(p["n"] for p in profiles if p["degenerate"]),
        "failures": {
            "by_kind": _counted(by_kind),
            "by_stage": {st: _counted(c) for st, c in sorted(stage_failures.items())},
            "files": failure_files[:FAILURE_FILES_LISTED],
            "files_not_listed": max(0, len(failure_files) - FAILURE_FILES_LISTED),
        },
        "job_order": [{"stage": n, "requires": list(SPECS[n].requires), "scope": SPECS[n].scope,
                       "available": n in available, "pending": pending[n]} for n in topological_order()],
        "bursts": {"generation": burst_generation.id if burst_generation else None,
                   "bursts": (burst_generation.stats or {}).get("bursts") if burst_generation else None,
                   "frames": (burst_generation.stats or {}).get("frames") if burst_generation else None,
                   "whole_second_times": sum(p["n"] for p in profiles if p["photo"] and p["d_time"]
                                             and not p["d_subsecond"]),
                   "stale": bursts_stale},
        "duplicates": {"generation": generation.id if generation else None,
                       "groups": (generation.stats or {}).get("groups") if generation else None,
                       "stale": duplicates_stale},
    }
    return report


# Date detail rows of the Markdown and HTML reports: (key in report["dates"], label).
DATE_ROWS = (("total_with_date", "total with any date"), ("high_confidence", "high confidence (>= 95)"),
             ("from_exif_quicktime", "from the file's metadata (EXIF, QuickTime, maker notes)"),
             ("from_sidecar", "from a sidecar (XMP, Google Takeout)"), ("from_filename", "from the file name"),
             ("user_override", "set by the user"), ("estimated_from_folder", "estimated from a folder name"),
             ("estimated_from_file_time", "estimated from the file time"),
             ("known_utc_offset", "known UTC offset (metadata, GPS or user)"), ("suspicious", "suspicious"),
             ("conflicting", "conflicting"))
def _present(asset_id):
    """"The asset ``asset_id`` (a column) has a present file", as a correlated EXISTS: one probe of
    the files' (asset_id, status) index per row the query reads (an ``IN`` list of every present
    asset was built for each query instead: 0.5 s at 100k assets even over an empty table)."""
    return exists().where(FileInstance.asset_id == asset_id, FileInstance.status == "present")


def _semantic_rows(s, settings: dict) -> dict[str, dict[str, Any]]:
    """What the embeddings, tags and descriptions stages filled, per row, among the assets with a
    present file, counted by the database: ``by_source`` (assets per tag or
    description source; an asset with tags of two sources counts in both), ``models`` (assets per
    model id) and, for ``clip_embeddings``, the ``reason`` every asset lacks one when no CLIP model
    is configured or it is unusable."""
    def per(column, *where) -> dict:
        table = column.class_
        return _counted(Counter(dict(s.execute(select(column, func.count()).where(_present(table.asset_id), *where)
                                               .group_by(column)).all())))

    models = per(Embedding.model_id)
    clip_models = per(Embedding.clip_model_id, Embedding.clip_model_id.is_not(None))
    clip_reason = None
    if not settings.get("clip_image_model_path"):
        clip_reason = ("no CLIP model configured: text search matches tags instead; set clip_image_model_path, "
                       "clip_text_model_path and clip_tokenizer_path")
    elif models and not clip_models:
        clip_reason = s.scalar(select(Embedding.clip_error).where(_present(Embedding.asset_id),
                                                                   Embedding.clip_error.is_not(None)).limit(1))
    return {
        "embeddings": {"models": models},
        "clip_embeddings": {"models": clip_models, "reason": clip_reason},
        "tags": {"by_source": _counted(Counter(tag_source_counts(s, _present)))},
        "descriptions": {"by_source": per(Description.source),
                         "models": per(Description.model_id, Description.model_id.is_not(None))},
    }


def _md(value: Any) -> str:
    """A table cell: pipes and line breaks escaped so that file or camera names cannot break the table."""
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def to_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown tables (cells escaped)."""
    out = [f"# Gap report: {report['catalog']}", "", f"Assets: {report['total_assets']}", "",
           "| type | applicable | count | coverage | gap | status | reasons | fill job |",
           "|---|---|---|---|---|---|---|---|"]
    for m in report["metadata"]:
        reasons = _md("; ".join(f"{k} ({v})" for k, v in m["reasons"].items()) or "-")
        out.append(f"| {m['type']} | {m['applicable']} | {m['count']} | {m['coverage']:.1%} | {m['gap']} | "
                   f"{m['status']} | {reasons} | {m['fill_job']} |")
    semantic = [m for m in report["metadata"] if "models" in m or "by_source" in m]
    if semantic:  # which model made the vectors, where the tags and sentences come from
        out += ["", "## Embeddings, tags and descriptions", "", "| type | by source | models |", "|---|---|---|"]
        out += [f"| {m['type']} | {_md(', '.join(f'{k}: {v}' for k, v in m.get('by_source', {}).items()) or '-')} | "
                f"{_md(', '.join(f'{k}: {v}' for k, v in m.get('models', {}).items()) or '-')} |" for m in semantic]
    d = report["dates"]
    out += ["", "## Capture dates", "", "| dates | assets |", "|---|---|"]
    out += [f"| {label} | {d[key]} |" for key, label in DATE_ROWS]
    out += ["", "| source | assets |", "|---|---|"]
    out += [f"| {_md(k)} | {v} |" for k, v in d["by_source"].items()]
    b = report["bursts"]
    out += ["", "## Bursts", "", f"Bursts: {b['bursts'] if b['bursts'] is not None else 'not detected yet'}; "
            f"frames in bursts: {b['frames'] or 0}; capture times with whole seconds only (low precision): "
            f"{b['whole_second_times']}"]
    out += ["", "## Cameras", "", "| make | model | assets |", "|---|---|---|"]
    out += [f"| {_md(c['make'] or '-')} | {_md(c['model'] or '-')} | {c['count']} |" for c in report["cameras"]]
    if report["cameras_not_listed"]:
        out += ["", f"… and {report['cameras_not_listed']} more cameras"]
    out += ["", "## File types", "", "| type | assets |", "|---|---|"]
    out += [f"| {k} | {v} |" for k, v in report["file_types"].items()]
    f = report["files"]
    out += ["", "## Files", "", ", ".join(f"{k}: {v}" for k, v in f.items()),
            "", "## Failures by error kind", "", "| kind | count |", "|---|---|"]
    out += [f"| {k} | {v} |" for k, v in report["failures"]["by_kind"].items()]
    if report["failures"]["files"]:
        out += ["", "| file | stage | error |", "|---|---|---|"]
        shown = report["failures"]["files"][:MARKDOWN_FAILURES_LISTED]
        out += [f"| {_md(f['path'])} | {f['stage'] or '-'} | {_md(f['error'])} |" for f in shown]
        more = len(report["failures"]["files"]) - len(shown) + report["failures"]["files_not_listed"]
        if more:
            out += ["", f"… and {more} more failure records (file and stage): `lumina gaps --format json` "
                        f"lists {FAILURE_FILES_LISTED}, `lumina jobs show ID` every one"]
    out += ["", "## Job order (from the stage graph)", "", "| # | stage | requires | available | pending |",
            "|---|---|---|---|---|"]
    out += [f"| {i} | {j['stage']} | {', '.join(j['requires']) or '-'} | {'yes' if j['available'] else 'not yet'} | "
            f"{j['pending']} |" for i, j in enumerate(report["job_order"], 1)]
    return "\n".join(out) + "\n"


def to_html(report: dict[str, Any]) -> str:
    """The report as a standalone HTML page (all text escaped)."""
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(m['type'])}</td><td>{m['applicable']}</td><td>{m['count']}</td><td>{m['coverage']:.1%}</td>"
        f"<td>{m['gap']}</td><td>{e(m['status'])}</td><td>{e('; '.join(f'{k} ({v})' for k, v in m['reasons'].items()))}"
        f"</td><td>{e(m['fill_job'])}</td></tr>" for m in report["metadata"])
    def table(head: tuple[str, ...], rows: list[tuple]) -> str:
        th = "".join(f"<th>{e(h)}</th>" for h in head)
        body = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in r) + "</tr>" for r in rows)
        return f"<table border='1'><tr>{th}</tr>{body}</table>"

    d = report["dates"]
    more = report["cameras_not_listed"]
    extra = ("<h2>Capture dates</h2>" + table(("dates", "assets"), [(label, d[key]) for key, label in DATE_ROWS])
             + table(("source", "assets"), list(d["by_source"].items()))
             + "<h2>Cameras</h2>" + table(("make", "model", "assets"),
                                           [(c["make"] or "-", c["model"] or "-", c["count"]) for c in report["cameras"]])
             + (f"<p>… and {more} more cameras</p>" if more else "")
             + "<h2>File types</h2>" + table(("type", "assets"), list(report["file_types"].items()))
             + "<h2>Files</h2>" + table(("status", "files"), list(report["files"].items())))
    fails = "".join(f"<tr><td>{e(k)}</td><td>{v}</td></tr>" for k, v in report["failures"]["by_kind"].items())
    jobs = "".join(f"<li>{e(j['stage'])} ({j['pending']} pending{'' if j['available'] else ', not available yet'})</li>"
                   for j in report["job_order"])
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Lumina gap report</title></head><body>"
            f"<h1>Gap report: {e(report['catalog'])}</h1><p>Assets: {report['total_assets']}</p>"
            f"<table border='1'><tr><th>type</th><th>applicable</th><th>count</th><th>coverage</th><th>gap</th>"
            f"<th>status</th><th>reasons</th><th>fill job</th></tr>{rows}</table>"
            f"{extra}<h2>Failures by error kind</h2><table border='1'>{fails}</table><h2>Job order</h2><ol>{jobs}</ol>"
            f"</body></html>\n")
