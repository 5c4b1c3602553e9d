"""``lumina sidecars write [PATH…|--all] [--dry-run] [--into-originals]``."""

from __future__ import annotations

from typing import Annotated

import typer

from lumina.cli.common import CatalogOpt, Format, emit_json, err, errors_to_exit, progress_bar

app = typer.Typer(help="XMP sidecars: the catalog's decisions, where other photo managers read them.",
                  no_args_is_help=True)


@app.command("write")
def write_command(
    paths: Annotated[list[str] | None, typer.Argument(help="Files, folders or asset ids")] = None,
    all_files: Annotated[bool, typer.Option("--all", help="Every present catalogued file")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list what would be written")] = False,
    into_originals: Annotated[bool, typer.Option("--into-originals", help="Also write into the photos themselves "
                                                                          "(each backed up in the trash first)")] = False,
    catalog: CatalogOpt = None,
    fmt: Annotated[Format, typer.Option("--format", help="Output format")] = Format.table,
) -> None:
    """Write capture time, GPS, rating, keywords, title, description, reject flag and duplicate/burst
    decisions into name.ext.xmp sidecars (merged, never clobbered; conflicts reported)."""
    with errors_to_exit():
        from lumina.catalog.db import open_catalog
        from lumina.pipeline.sidecars import write_sidecars

        cat = open_catalog(catalog, create=False)
        with progress_bar(fmt is Format.table and err.is_terminal) as progress:
            out = write_sidecars(cat, paths or [], all_files, dry_run, into_originals, progress)
        cat.close()
    if fmt is Format.json:
        emit_json(out)
    else:
        verb = "would write" if dry_run else "wrote"
        for w in out["written"]:
            typer.echo(f"{verb} {w['sidecar']}: {', '.join(w['tags'])}")
        for c in out["conflicts"]:
            typer.echo(f"conflict {c['sidecar']}: {c['tag']} was edited outside Lumina "
                       f"(sidecar {c['sidecar_value']!r}, catalog {c['catalog']!r}); left as it is")
        for f in out["failed"]:
            err.print(f"error: {f['sidecar']}: {f['error']}", markup=False, highlight=False)
        typer.echo(f"{len(out['written'])} {verb}, {len(out['unchanged'])} unchanged, "
                   f"{len(out['conflicts'])} conflicts, {len(out['failed'])} failed"
                   + (f", {len(out.get('originals', []))} originals written (backups in the trash)"
                      if into_originals else ""))
    if out["failed"]:
        raise typer.Exit(1)
