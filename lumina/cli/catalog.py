"""``lumina catalog copy --from DIR --to postgresql://...|DIR2 [--to-catalog DIR2] [--force]``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lumina.cli.common import errors_to_exit

app = typer.Typer(help="Move a catalog to another database (SQLite <-> PostgreSQL) or folder.", no_args_is_help=True)


@app.command("copy")
def copy_command(
    source: Annotated[str, typer.Option("--from", help="catalog folder to copy (its database: SQLite or PostgreSQL)")],
    target: Annotated[str, typer.Option("--to", help="postgresql://... URL (an empty database), or a new catalog "
                                                     "folder (SQLite)")],
    to_catalog: Annotated[str | None, typer.Option(
        "--to-catalog", help="with a URL: the catalog folder that will use it (default: FROM-postgresql next to FROM)")] = None,
    force: Annotated[bool, typer.Option("--force", help="replace the rows of a non-empty target")] = False,
) -> None:
    """Copy a whole catalog to PostgreSQL, back to SQLite, or to another folder.

    Every table in dependency order, in batches, ids kept; the row counts of every table are checked
    and printed; thumbnails and settings come along to the new folder. One transaction: a copy that
    fails leaves the target as it was."""
    with errors_to_exit():
        from lumina.catalog.copy import copy_folder_files, copy_rows
        from lumina.catalog.db import catalog_dir_from, open_catalog
        from lumina.errors import CatalogError

        src_dir = catalog_dir_from(source)
        src = open_catalog(src_dir, create=False)
        is_url = "://" in target
        dst_dir = (Path(to_catalog) if to_catalog else src_dir.with_name(src_dir.name + "-postgresql")) if is_url \
            else Path(target)
        if dst_dir.resolve() == src_dir.resolve():
            raise CatalogError(f"{dst_dir} is the source catalog folder; give another folder")
        dst = None
        try:
            dst = open_catalog(dst_dir, database_url=target if is_url else None)
            with src.writer(exclusive=True), dst.writer(exclusive=True):
                counts = copy_rows(src, dst, force=force)
                files = copy_folder_files(src.path, dst.path)
            width = max(len(t) for t in counts)
            typer.echo(f"{'table':<{width}}  {'source':>10}  {'target':>10}")
            for table, (a, b) in counts.items():
                typer.echo(f"{table:<{width}}  {a:>10}  {b:>10}")
            typer.echo(f"copied {sum(a for a, _ in counts.values())} rows in {len(counts)} tables (counts match) "
                       f"and {files} files from {src.database} to {dst.database}; use it with --catalog {dst.path}")
        finally:
            src.close()
            if dst is not None:
                dst.close()
