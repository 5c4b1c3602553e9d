"""``lumina init --catalog DIR [--database-url postgresql://...]``."""

from __future__ import annotations

from typing import Annotated

import typer

from lumina.cli.common import CatalogOpt, err, errors_to_exit


def init_command(
    catalog: CatalogOpt = None,
    database_url: Annotated[str | None, typer.Option(
        "--database-url",
        help="PostgreSQL database of the catalog (postgresql://USER:PASSWORD@HOST:PORT/DB, or "
             "postgresql:///DB?host=/socket/dir); remembered in the folder. Default: LUMINA_DATABASE_URL for a new folder, else SQLite inside the folder")] = None,
) -> None:
    """Create a catalog folder and its database (migrated to the newest schema), and say where it is."""
    with errors_to_exit():
        from lumina.catalog.db import open_catalog

        with open_catalog(catalog, database_url=database_url) as cat:
            typer.echo(f"catalog {cat.path}: {cat.backend} database {cat.database}")
            if cat.vector_version:
                typer.echo(f"pgvector {cat.vector_version} ready")
            elif cat.vector_notice:
                err.print(f"note: {cat.vector_notice}", soft_wrap=True, markup=False)
