"""``lumina show PATH_OR_ASSET_ID --catalog DIR [--format json]``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from lumina.cli.common import CatalogOpt, Format, emit_json, errors_to_exit
from rich.console import Console


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
    out = Console()
    table = Table(show_header=False, box=None)
    for key in ("asset_id", "paths", "file_type", "capture_time", "capture_time_source", "capture_time_confidence",
                "utc_offset_minutes", "date_flags", "camera_make", "camera_model", "width", "height", "gps_latitude",
                "gps_longitude", "geohash", "country_code", "city", "timezone", "error"):
        value = doc.get(key)
        text = "\n".join(value) if isinstance(value, list) else ("-" if value is None else str(value))
        table.add_row(key, text)
    for name, rec in doc["stages"].items():
        table.add_row(f"stage {name}", f"{rec['status']} v{rec['version']}" + (f" — {rec['error']}" if rec["error"] else ""))
    out.print(table)
    if doc["date_candidates"]:
        cands = Table("source", "value", "offset", "status", title="capture-time candidates")
        for c in doc["date_candidates"]:
            cands.add_row(str(c.get("source")), str(c.get("value")), str(c.get("utc_offset_minutes")),
                          str(c.get("status")) + (f" ({c['reason']})" if c.get("reason") else ""))
        out.print(cands)
