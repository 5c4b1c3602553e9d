"""``lumina show PATH_OR_ASSET_ID --catalog DIR [--format json]``."""

from __future__ import annotations

from typing import Annotated

import typer

from lumina.cli.common import CatalogOpt, Format, emit_json, errors_to_exit
from lumina.stages import topological_order

STAGE_ORDER = topological_order()


def show_command(
    ref: Annotated[str, typer.Argument(metavar="PATH_OR_ASSET_ID", help="A catalogued file path or an asset id")],
    catalog: CatalogOpt = None,
    fmt: Annotated[Format, typer.Option("--format", help="Output format")] = Format.table,
) -> None:
    """Explain one photo: its paths, metadata, capture date, place and stage records."""
    with errors_to_exit():
        from lumina.catalog.db import open_catalog
        from lumina.catalog.queries import describe
        cat = open_catalog(catalog, create=False)
        with cat.session() as s:
            doc = describe(s, ref)
        cat.close()
    if fmt is Format.json:
        emit_json(doc)
        return
    lines = []
    for key in ("asset_id", "paths", "file_type", "capture_time", "capture_time_source", "capture_time_confidence",
                "utc_offset_minutes", "date_flags", "camera_make", "camera_model", "width", "height", "gps_latitude",
                "gps_longitude", "geohash", "country_code", "city", "timezone", "error"):
        value = doc.get(key)
        if isinstance(value, list):
            value = ("\n" + " " * 26).join(map(str, value)) if value else "-"
        lines.append(f"{key:<25} {'-' if value is None else value}")
    if doc["quality"]:
        q = doc["quality"]
        lines.append(f"{'quality':<25} {q['score']:.1f}/100 (sharpness {q['sharpness']:.0f}, noise {q['noise_sigma']:.2f}, "
                     f"JPEG quality {q['jpeg_quality'] or '-'}; fidelity {q['fidelity_score']:.1f})")
    if doc["hashes"]:
        h = doc["hashes"]
        lines.append(f"{'hashes':<25} aHash {h['ahash']} dHash {h['dhash']} pHash {h['phash']} wHash {h['whash']}"
                     + (f" DEGENERATE: {h['degenerate_reason']}" if h["degenerate"] else ""))
    if doc.get("live_photo"):
        link = doc["live_photo"]
        lines.append(f"{'live_photo':<25} {(link['paths'] or [link['asset_id']])[0]} ({link['media_kind']}; "
                     f"matched by {link['matched_by']}; group {link['group']} in `lumina duplicates`)")
    if doc["thumbnails"]:
        lines.append(f"{'thumbnails':<25} {doc['thumbnails']['grid_path']}, {doc['thumbnails']['preview_path']}")
    for f in doc["files"]:
        if f["status"] != "present":
            lines.append(f"{'file ' + f['status']:<25} {f['path']}" + (f" ({f['error']})" if f["error"] else ""))
    for name in [n for n in STAGE_ORDER if n in doc["stages"]]:
        rec = doc["stages"][name]
        lines.append(f"{'stage ' + name:<25} {rec['status']} v{rec['version']}" + (f": {rec['error']}" if rec["error"] else ""))
    if doc["date_candidates"]:
        lines.append("capture-time candidates:")
        for c in doc["date_candidates"]:
            off = "offset unknown" if c.get("utc_offset_minutes") is None else f"offset {c['utc_offset_minutes']:+d} min"
            why = f" ({c['reason']})" if c.get("reason") else ""
            lines.append(f"  {c['status']:<10} {c['source']:<30} {c.get('value') or c.get('raw')!s:<26} {off}{why}")
    typer.echo("\n".join(lines))
