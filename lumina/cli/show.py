"""``lumina show PATH_OR_ASSET_ID... --catalog DIR [--format json]``."""

from __future__ import annotations

from typing import Annotated

import typer

from lumina.cli.common import CatalogOpt, Format, emit_json, err, errors_to_exit


def show_command(
    refs: Annotated[list[str], typer.Argument(metavar="PATH_OR_ASSET_ID...",
                                              help="Catalogued file paths or asset ids (one or more)")],
    catalog: CatalogOpt = None,
    fmt: Annotated[Format, typer.Option("--format", help="Output format")] = Format.table,
) -> None:
    """Explain photos: their paths, metadata, capture date, place and stage records.

    With several PATH_OR_ASSET_IDs, JSON is one object per line (JSON lines) in argument order; an
    unknown one gives {"ref", "error"} on its line, and the exit status is then 1.
    """
    import json

    from lumina.errors import NotFoundError

    with errors_to_exit():
        from lumina.catalog.db import open_catalog
        from lumina.catalog.queries import describe
        with open_catalog(catalog, create=False) as cat:
            with cat.session() as s:
                if len(refs) == 1:
                    docs = [describe(s, refs[0])]
                else:
                    docs = []
                    for ref in refs:
                        try:
                            docs.append(describe(s, ref))
                        except NotFoundError as exc:
                            docs.append({"ref": ref, "error": str(exc)})
    if fmt is Format.json and len(refs) == 1:
        emit_json(docs[0])
        return
    for i, doc in enumerate(docs):
        if fmt is Format.json:
            typer.echo(json.dumps(doc, ensure_ascii=True, default=str))
        elif "ref" in doc:
            err.print(f"error: {doc['error']}", markup=False, highlight=False)
        else:
            typer.echo(("\n" if i else "") + _table(doc))
    if any("ref" in d for d in docs):
        raise typer.Exit(1)


def _table(doc: dict) -> str:
    """The human-readable form of one ``describe`` document."""
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
    # in the order they ran (prerequisites first); importing the stage graph would cost a second
    for name in sorted(doc["stages"], key=lambda n: (doc["stages"][n]["finished_at"] or "", n)):
        rec = doc["stages"][name]
        lines.append(f"{'stage ' + name:<25} {rec['status']} v{rec['version']}" + (f": {rec['error']}" if rec["error"] else ""))
    if doc["date_candidates"]:
        lines.append("capture-time candidates:")
        for c in doc["date_candidates"]:
            off = "offset unknown" if c.get("utc_offset_minutes") is None else f"offset {c['utc_offset_minutes']:+d} min"
            why = f" ({c['reason']})" if c.get("reason") else ""
            lines.append(f"  {c['status']:<10} {c['source']:<30} {c.get('value') or c.get('raw')!s:<26} {off}{why}")
    return "\n".join(lines)
