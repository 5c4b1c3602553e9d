"""``lumina gaps --catalog DIR [--format markdown|json|html]``."""

from __future__ import annotations

import sys
from enum import Enum
from typing import Annotated

import typer

from lumina.cli.common import CatalogOpt, emit_json, errors_to_exit, on_catalog


class GapFormat(str, Enum):
    markdown = "markdown"
    json = "json"
    html = "html"


def gaps_command(
    catalog: CatalogOpt = None,
    fmt: Annotated[GapFormat, typer.Option("--format", help="Report format")] = GapFormat.markdown,
) -> None:
    """Coverage of every metadata type, reasons for the gaps, and the jobs that fill them."""
    with errors_to_exit():
        from lumina.analysis.gaps import gap_report, to_html, to_markdown

        report = on_catalog(catalog, gap_report)
    if fmt is GapFormat.json:
        emit_json(report)
    else:
        sys.stdout.write(to_html(report) if fmt is GapFormat.html else to_markdown(report))
