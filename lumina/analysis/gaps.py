"""The gap report: per metadata type, how many assets it applies to, how many have it, why the
rest do not, and which stage fills it; plus date details, cameras, file types, missing files,
failures by error kind and the job order derived from the stage graph.

Status of a type (coverage = count / applicable): ``complete`` (1.0), ``nearly complete``
(>= 0.95), ``good`` (>= 0.75), ``partial`` (> 0), ``missing`` (0), ``not computed`` (its
stage does not exist yet). A type that applies to no asset is ``complete`` with coverage 1.0.
"""

from __future__ import annotations

import html
from collections import Counter
from typing import Any

from sqlalchemy import func, select

from lumina.catalog.db import Catalog
from lumina.catalog.models import (AssetTags, CaptureDate, Description, Embedding, FileInstance, Metadata,
                                   PerceptualHash, Place, Quality, StageRecord, Thumbnail)
from lumina.errors import error_kind
from lumina.pipeline.runner import asset_views, plan
from lumina.stages import CATALOG_STAGES, GRAPH, SPECS, STAGES, make_stage, topological_order
from lumina.stages.dates import ESTIMATED_SOURCES, date_basis, offset_is_known

CAMERAS_LISTED = 20  # camera rows in the report; the rest are counted in cameras_not_listed
FAILURE_FILES_LISTED = 200  # failed files listed; the rest are counted in failures.files_not_listed
MARKDOWN_FAILURES_LISTED = 20  # of those, shown in the terminal report (the JSON has all 200)

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


def gap_report(catalog: Catalog, with_assets: bool = False) -> dict[str, Any]:
    """The gap report as a JSON-ready dict (shape documented in the README); ``with_assets`` adds
    to each metadata row ``reason_assets``: reason -> the sorted asset ids it counts."""
    with catalog.session() as s:
        views = asset_views(s)
        ids = set(views)
        # plain rows of the columns the report reads, never ORM objects: building one object per
        # stage record was most of the report's time on a large catalog
        records: dict[str, dict[str, Any]] = {}
        for rec in s.execute(select(StageRecord.stage, StageRecord.asset_id, StageRecord.status, StageRecord.error)):
            if rec.asset_id in ids:
                records.setdefault(rec.stage, {})[rec.asset_id] = rec
        meta = {m.asset_id: m for m in s.execute(
            select(Metadata.asset_id, Metadata.camera_make, Metadata.camera_model, Metadata.description,
                   Metadata.title, Metadata.keywords, Metadata.gps_latitude, Metadata.gps_longitude))
            if m.asset_id in ids}
        places = {p.asset_id: p for p in s.execute(select(Place.asset_id, Place.gps_latitude, Place.geohash,
                                                          Place.country_code, Place.rejected)) if p.asset_id in ids}
        dates = {d.asset_id: d for d in s.execute(
            select(CaptureDate.asset_id, CaptureDate.capture_time, CaptureDate.capture_time_source,
                   CaptureDate.capture_time_confidence, CaptureDate.utc_offset_minutes, CaptureDate.flags))
            if d.asset_id in ids}
        pixels = {name: set(s.scalars(select(model.asset_id))) & ids
                  for name, model in (("thumbnails", Thumbnail), ("perceptual_hashes", PerceptualHash),
                                      ("quality_score", Quality))}
        degenerate = set(s.scalars(select(PerceptualHash.asset_id).where(PerceptualHash.degenerate))) & ids
        semantic = _semantic_rows(s, ids, catalog.settings)
        file_types = Counter(v.file_type for v in views.values())
        file_status = dict(s.execute(select(FileInstance.status, func.count()).group_by(FileInstance.status)).all())
        file_failures = s.execute(select(FileInstance.path, FileInstance.error)
                                  .where(FileInstance.status == "failed")).all()
        from lumina.analysis.bursts import ineligible_reason, load_frames
        from lumina.pipeline import bursts_run, duplicates_run

        generation = duplicates_run.current_generation(s)
        burst_generation = bursts_run.current_generation(s)
        stale = {name: cls.is_stale(s, catalog.settings) for name, cls in CATALOG_STAGES.items()}
        duplicates_stale, bursts_stale = stale["duplicates"], stale["bursts"]
        frames = load_frames(s)
        pending = {}
        for spec in GRAPH:
            if spec.name in STAGES:
                pending[spec.name] = len(plan(s, make_stage(spec.name, catalog.settings), views))
            elif spec.name in CATALOG_STAGES:
                pending[spec.name] = int(bool(ids) and stale[spec.name])
            else:
                pending[spec.name] = len(ids) if spec.scope == "asset" else (1 if ids else 0)

    geo_ran = "geo" in STAGES

    def has_gps(a: str) -> bool:
        if geo_ran:
            return a in places and places[a].gps_latitude is not None
        m = meta.get(a)
        return m is not None and m.gps_latitude is not None

    have = {
        # a file time or a folder name is an estimate, listed among the reasons, never coverage
        "capture_date": lambda a: a in dates and dates[a].capture_time is not None
        and dates[a].capture_time_source not in ESTIMATED_SOURCES,
        "camera": lambda a: a in meta and (meta[a].camera_make or meta[a].camera_model) is not None,
        "gps": has_gps,
        "geohash": lambda a: a in places and places[a].geohash is not None,
        "place": lambda a: a in places and places[a].country_code is not None,
        "descriptions": lambda a: a in semantic["descriptions"]["have"] or (
            a in meta and bool(meta[a].description or meta[a].title)),
        "tags": lambda a: a in semantic["tags"]["have"],
        "embeddings": lambda a: a in semantic["embeddings"]["have"],
        "clip_embeddings": lambda a: a in semantic["clip_embeddings"]["have"],
        "duplicates": lambda a: generation is not None and a in pixels["perceptual_hashes"] and a not in degenerate,
        "bursts": lambda a: burst_generation is not None and a in frames and (
            frames[a].burst_uuid is not None or ineligible_reason(frames[a]) is None),
        **{name: (lambda a, have_set=have_set: a in have_set) for name, have_set in pixels.items()},
    }

    available = set(STAGES) | set(CATALOG_STAGES)

    def missing_reason(type_name: str, stage: str, a: str, default: str) -> str:
        if stage not in available:
            return f"stage not available yet: {stage}"
        if type_name == "bursts":
            if burst_generation is None:
                return "stage not run yet: bursts"
            if a not in frames:
                return "not a photo"
            return f"not checked: {ineligible_reason(frames[a])}"
        if type_name == "duplicates":
            if generation is None:
                return "stage not run yet: duplicates"
            if a in degenerate:
                return "not checked: flat image (degenerate hashes)"
            rec = records.get("hashes", {}).get(a)
            return f"not checked: hashes failed: {error_kind(rec.error)}" if rec and rec.status == "failed" \
                else "not checked: no hashes yet"
        if type_name == "capture_date" and a in dates and dates[a].capture_time_source in ESTIMATED_SOURCES:
            return ESTIMATED_SOURCES[dates[a].capture_time_source]
        rec = records.get(stage, {}).get(a)
        for req in SPECS[stage].requires:  # a failed prerequisite explains a stage that never ran
            r = records.get(req, {}).get(a)
            if r is not None and r.status == "failed" and rec is None:
                return f"{req} failed: {error_kind(r.error)}"
        if type_name == "clip_embeddings" and semantic["clip_embeddings"]["reason"]:
            return semantic["clip_embeddings"]["reason"]
        if rec is None:
            return f"stage not run yet: {stage}"
        if rec.status == "failed":
            return f"{stage} failed: {error_kind(rec.error)}"
        if rec.status == "skipped":
            return f"{stage} skipped: {error_kind(rec.error) if rec.error else 'no reason recorded'}"
        if type_name == "gps" and a in places and places[a].rejected:
            return "GPS rejected: " + "; ".join(sorted({r["reason"] for r in places[a].rejected}))
        return default

    metadata_rows = []
    for type_name, stage, applies, default in TYPES:
        applicable = [a for a in ids if applies == "all" or has_gps(a)]
        test = have.get(type_name)
        got = [a for a in applicable if test is not None and test(a)]
        got_set = set(got)
        why = {a: missing_reason(type_name, stage, a, default) for a in applicable if a not in got_set}
        reasons = Counter(why.values())
        coverage = round(len(got) / len(applicable), 4) if applicable else 1.0
        metadata_rows.append({
            "type": type_name, "applicable": len(applicable), "count": len(got), "coverage": coverage,
            "gap": len(applicable) - len(got), "status": status_of(coverage, stage in available),
            "reasons": dict(reasons.most_common()), "fill_job": stage,
            **{k: v for k, v in semantic.get(type_name, {}).items() if k in ("by_source", "models")},
        })
        if with_assets:
            metadata_rows[-1]["reason_assets"] = {r: sorted(a for a, w in why.items() if w == r) for r in reasons}

    stage_failures: dict[str, Counter] = {}
    for stage, recs in records.items():
        for rec in recs.values():
            if rec.status == "failed":
                stage_failures.setdefault(stage, Counter())[error_kind(rec.error)] += 1
    first_path = {a: views[a].path.decode("utf-8", "backslashreplace") for a in ids}
    stage_failure_files = sorted(
        ({"path": first_path[rec.asset_id], "stage": stage, "error": rec.error}
         for stage, recs in records.items() for rec in recs.values() if rec.status == "failed"),
        key=lambda f: (f["path"], f["stage"]))
    by_kind = Counter(error_kind(e) for _, e in file_failures)
    for c in stage_failures.values():
        by_kind.update(c)

    cameras = Counter((m.camera_make, m.camera_model) for m in meta.values()
                      if m.camera_make or m.camera_model)
    dated = [d for d in dates.values() if d.capture_time is not None]
    flag_counts = Counter(f for d in dates.values() for f in (d.flags or []))
    basis = Counter(date_basis(d.capture_time_source) for d in dated)
    failure_files = [{"path": p, "stage": None, "error": e} for p, e in sorted(file_failures)] + stage_failure_files
    report = {
        "catalog": str(catalog.path),
        "total_assets": len(ids),
        "metadata": metadata_rows,
        "dates": {
            "dated": len(dated),
            "by_source": dict(Counter(d.capture_time_source for d in dated).most_common()),
            "confidence_ge_95": sum(1 for d in dated if (d.capture_time_confidence or 0) >= 95),
            # an offset the metadata, the GPS time zone or the user gives; never a file time's zone
            "known_utc_offset": sum(1 for d in dated if offset_is_known(d.capture_time_source, d.utc_offset_minutes,
                                                                         d.flags or [])),
            "estimated": flag_counts.get("estimated", 0),
            "suspicious": flag_counts.get("suspicious", 0),
            "conflicting": flag_counts.get("conflicting", 0),
            "flags": dict(flag_counts.most_common()),
            # the seed report's rows: total with any date, high confidence, from the file's own
            # metadata (EXIF, QuickTime, maker notes, XMP/IPTC in the file), and what rests on less
            "total_with_date": len(dated),
            "high_confidence": sum(1 for d in dated if (d.capture_time_confidence or 0) >= 95),
            "from_exif_quicktime": basis.get("metadata", 0),
            "from_sidecar": basis.get("sidecar", 0),
            "from_filename": basis.get("filename", 0),
            "user_override": basis.get("user", 0),
            "estimated_from_file_time": basis.get("mtime", 0),
            "estimated_from_folder": basis.get("folder", 0),
        },
        # ties by name: most_common alone keeps the database's row order, which differs between backends
        "cameras": [{"make": mk, "model": md, "count": n} for (mk, md), n in
                    sorted(cameras.items(), key=lambda c: (-c[1], c[0][0] or "", c[0][1] or ""))[:CAMERAS_LISTED]],
        "cameras_total": len(cameras),
        "cameras_not_listed": max(0, len(cameras) - CAMERAS_LISTED),
        "file_types": dict(file_types.most_common()),
        "files": {"present": file_status.get("present", 0), "missing": file_status.get("missing", 0),
                  "failed": file_status.get("failed", 0), "unsettled": file_status.get("unsettled", 0),
                  "ignored": file_status.get("ignored", 0)},
        "missing_files": file_status.get("missing", 0),
        "degenerate_hashes": len(degenerate),
        "failures": {
            "by_kind": dict(by_kind.most_common()),
            "by_stage": {st: dict(c.most_common()) for st, c in sorted(stage_failures.items())},
            "files": failure_files[:FAILURE_FILES_LISTED],
            "files_not_listed": max(0, len(failure_files) - FAILURE_FILES_LISTED),
        },
        "job_order": [{"stage": n, "requires": list(SPECS[n].requires), "scope": SPECS[n].scope,
                       "available": n in available, "pending": pending[n]} for n in topological_order()],
        "bursts": {"generation": burst_generation.id if burst_generation else None,
                   "bursts": (burst_generation.stats or {}).get("bursts") if burst_generation else None,
                   "frames": (burst_generation.stats or {}).get("frames") if burst_generation else None,
                   "whole_second_times": sum(1 for f in frames.values() if f.capture_time and not f.subsecond),
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
def _semantic_rows(s, ids: set[str], settings: dict) -> dict[str, dict[str, Any]]:
    """What the embeddings, tags and descriptions stages filled, per row: ``have`` (asset ids),
    ``by_source`` (assets per tag or description source; an asset with tags of two sources counts
    in both), ``models`` (assets per model id) and, for ``clip_embeddings``, the ``reason`` every
    asset lacks one when no CLIP model is configured or it is unusable."""
    emb = [e for e in s.execute(select(Embedding.asset_id, Embedding.model_id, Embedding.clip_model_id,
                                       Embedding.clip_error)) if e.asset_id in ids]
    tags = [t for t in s.scalars(select(AssetTags)) if t.asset_id in ids and t.tags]
    descs = [d for d in s.execute(select(Description.asset_id, Description.source, Description.model_id))
             if d.asset_id in ids]
    clip_reason = None
    if not settings.get("clip_image_model_path"):
        clip_reason = ("no CLIP model configured: text search matches tags instead; set clip_image_model_path, "
                       "clip_text_model_path and clip_tokenizer_path")
    elif emb and all(e.clip_model_id is None for e in emb):
        clip_reason = next((e.clip_error for e in emb if e.clip_error), None)
    tag_sources: Counter = Counter()
    for t in tags:
        tag_sources.update({r["source"] for r in t.tags})
    return {
        "embeddings": {"have": {e.asset_id for e in emb}, "models": dict(Counter(e.model_id for e in emb))},
        "clip_embeddings": {"have": {e.asset_id for e in emb if e.clip_model_id},
                            "models": dict(Counter(e.clip_model_id for e in emb if e.clip_model_id)),
                            "reason": clip_reason},
        "tags": {"have": {t.asset_id for t in tags}, "by_source": dict(tag_sources.most_common())},
        "descriptions": {"have": {d.asset_id for d in descs}, "by_source": dict(Counter(d.source for d in descs)),
                         "models": dict(Counter(d.model_id for d in descs if d.model_id))},
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
