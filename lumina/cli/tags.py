"""``lumina tags PATH_OR_ASSET_ID [--add TAG] [--remove TAG] [--clear]``: a user's tags."""

from __future__ import annotations

from typing import Annotated

import typer

from lumina.cli.common import CatalogOpt, Format, emit_json, errors_to_exit


def tags_command(
    ref: Annotated[str, typer.Argument(metavar="PATH_OR_ASSET_ID", help="A catalogued file path or an asset id")],
    add: Annotated[list[str] | None, typer.Option("--add", help="A tag to add (source manual); repeatable")] = None,
    remove: Annotated[list[str] | None, typer.Option(
        "--remove", help="A tag to remove, whatever its source; it stays removed on every re-run; repeatable")] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Forget this asset's added and removed tags")] = False,
    catalog: CatalogOpt = None,
    fmt: Annotated[Format, typer.Option("--format", help="Output format")] = Format.table,
) -> None:
    """Show, add or remove the tags of one asset (catalog only: the photo file is never written)."""
    with errors_to_exit():
        from lumina.catalog.db import open_catalog
        from lumina.catalog.queries import describe
        from lumina.pipeline.overrides import set_override

        cat = open_catalog(catalog, create=False)
        with cat.session() as s:
            doc = describe(s, ref)
            overrides = doc.get("overrides") or {}
        manual = {t.lower() for t in overrides.get("tags_manual") or []}
        removed = {t.lower() for t in overrides.get("tags_removed") or []}
        if clear:
            manual, removed = set(), set()
        for t in add or []:
            manual.add(t.strip().lower())
            removed.discard(t.strip().lower())
        for t in remove or []:
            removed.add(t.strip().lower())
            manual.discard(t.strip().lower())
        if add or remove or clear:
            set_override(cat, doc["asset_id"], "tags_manual", sorted(manual) or None)
            doc = set_override(cat, doc["asset_id"], "tags_removed", sorted(removed) or None)
        cat.close()
    if fmt is Format.json:
        emit_json({"asset_id": doc["asset_id"], "tags": doc["tags"], "removed": sorted(removed)})
        return
    for t in doc["tags"]:
        typer.echo(f"{t['tag']:<24} {t['score']:.2f}  {t['source']:<7} {t['model_id'] or ''}")
    if removed:
        typer.echo(f"removed by you: {', '.join(sorted(removed))}")
