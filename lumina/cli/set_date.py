"""``lumina set-date PATH_OR_ASSET_ID DATETIME --catalog DIR``."""

from __future__ import annotations

from typing import Annotated

import typer

from lumina.cli.common import CatalogOpt, Format, emit_json, errors_to_exit


def set_date_command(
    ref: Annotated[str, typer.Argument(metavar="PATH_OR_ASSET_ID", help="A catalogued file path or an asset id")],
    when: Annotated[str | None, typer.Argument(metavar="DATETIME",
                                               help="Local capture time, e.g. 2019-07-14T10:00:00 or "
                                                    "2019-07-14T10:00:00.250+02:00")] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the override")] = False,
    catalog: CatalogOpt = None,
    fmt: Annotated[Format, typer.Option("--format", help="Output format")] = Format.table,
) -> None:
    """Set the capture time of one asset by hand; it wins over every date read from files.

    Stored in the catalog only: the photo file is never written.
    """
    with errors_to_exit():
        from lumina.catalog.db import open_catalog
        from lumina.errors import ConfigError
        from lumina.pipeline.overrides import parse_capture_time, set_override

        if clear == (when is not None):
            raise ConfigError("give either DATETIME or --clear")
        with open_catalog(catalog, create=False) as cat:
            value = None if clear else parse_capture_time(when, int(cat.settings["date_min_year"]))
            doc = set_override(cat, ref, "capture_time", value)
    if fmt is Format.json:
        emit_json(doc)
    else:
        offset = "unknown" if doc["utc_offset_minutes"] is None else f"{doc['utc_offset_minutes']:+d} min"
        typer.echo(f"{doc['asset_id']}: capture time {doc['capture_time']} "
                   f"(source {doc['capture_time_source']}, UTC offset {offset})")
