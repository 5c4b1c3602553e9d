"""The catalogs one ``lumina serve`` process serves.

The served folder (``--catalog DIR``) is the catalog with id ``default``. Catalogs created over the
API live in ``DIR/catalogs/<id>/`` (ids are slugs of their names) and are listed in the default
catalog's ``catalog_state['api.catalogs']``. Deleting one removes its folder (database, thumbnails:
derived files only), never a photo; the default catalog cannot be deleted.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import select

from lumina.catalog.db import DB_NAME, Catalog, engine_url, exclusive_lock, open_catalog
from lumina.catalog.models import CatalogState, Source
from lumina.errors import CatalogError, ConfigError, ConflictError, NotFoundError
from lumina.pipeline.scan import check_roots, display, now
from lumina.catalog.writes import upsert

DEFAULT = "default"
KEY = "api.catalogs"
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def slug(name: str) -> str:
    """Lowercase ASCII letters, digits and dashes from ``name`` (at most 40 characters); a name
    without any gets ``catalog-`` and 8 hex digits of its SHA-256, so that distinct names differ."""
    return (re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40]
            or "catalog-" + hashlib.sha256(name.encode()).hexdigest()[:8])


class Registry:
    """Open catalogs by id (kept open for the server's life; thread-safe)."""

    def __init__(self, home: Path, overrides: dict[str, Any] | None = None):
        self.home = home
        self.overrides = overrides or {}
        self._open: dict[str, Catalog] = {}
        self._lock = threading.Lock()
        self._create_lock = threading.Lock()
        self._open[DEFAULT] = open_catalog(home, overrides=self.overrides)

    def _entries(self) -> dict[str, dict[str, str]]:
        with self._open[DEFAULT].session() as s:
            row = s.get(CatalogState, KEY)
            return dict(row.value) if row else {}

    def _save(self, entries: dict[str, dict[str, str]]) -> None:
        with self._open[DEFAULT].session() as s:
            upsert(s, CatalogState, [dict(key=KEY, value=entries)])
            s.commit()

    def ids(self) -> list[str]:
        return [DEFAULT, *sorted(self._entries())]

    def get(self, catalog_id: str) -> Catalog:
        """Raises NotFoundError for an unknown id."""
        with self._lock:
            if catalog_id in self._open:
                return self._open[catalog_id]
            entry = self._entries().get(catalog_id) if _ID.match(catalog_id or "") else None
            if entry is None:
                raise NotFoundError(f"no catalog {catalog_id!r}")
            cat = self._open[catalog_id] = open_catalog(Path(entry["path"]), overrides=self.overrides)
            return cat

    def describe(self, catalog_id: str) -> dict[str, Any]:
        """``{"id", "name", "path", "database", "sources"}`` (``database``: the SQLite file, or the
        PostgreSQL URL without its password)."""
        cat = self.get(catalog_id)
        entry = self._entries().get(catalog_id, {})
        with cat.session() as s:
            sources = [src.path for src in s.scalars(select(Source).order_by(Source.id))]
        return {"id": catalog_id, "name": entry.get("name", self.home.name), "path": str(cat.path),
                "database": cat.database, "sources": sources}

    def create(self, name: str, sources: list[str], database_url: str | None = None) -> dict[str, Any]:
        """A new catalog with these library folders registered (not scanned yet).

        Args:
            database_url: ``postgresql://...`` (TCP, or ``?host=/socket/dir``): the catalog's
                database, an empty one that no other catalog folder uses; remembered in the new
                catalog's folder. ``None``: as ``lumina init`` without one (``LUMINA_DATABASE_URL``,
                else SQLite inside the folder).
        Raises:
            ConfigError: empty name, a source that is not a folder, a URL that is malformed, not
                PostgreSQL, or whose database cannot be opened (server down, password refused, no
                such database, another application's tables: one line, password hidden).
            ConflictError: the name is taken, or another catalog uses the database.
        """
        if not name.strip() or len(name) > 100 or any(ord(c) < 32 or ord(c) == 127 for c in name):
            raise ConfigError("name must be 1-100 characters, without control characters")
        if database_url is not None and engine_url(database_url).get_backend_name() != "postgresql":
            raise ConfigError("database_url: only postgresql:// URLs; leave it out for a SQLite catalog inside the "
                              "served folder")
        with self._create_lock, exclusive_lock(self.home / "catalogs.lock"):  # threads of this server, other servers
            return self._create(name, sources, database_url)

    def _create(self, name: str, sources: list[str], database_url: str | None = None) -> dict[str, Any]:
        """``create`` under the creation lock: concurrent requests for one name get one success and
        409s; different names all succeed (the list of entries is read and written under it)."""
        entries = self._entries()
        cid = slug(name)
        if cid == DEFAULT or cid in entries:
            raise ConflictError(f"a catalog called {name!r} (id {cid}) already exists")
        path = self.home / "catalogs" / cid
        roots = check_roots(sources, path)
        home = os.path.realpath(os.fsencode(self.home))
        for root in roots:  # the served folder holds every catalog's database: never a library
            real = os.path.realpath(root)
            if real == home or home.startswith(real.rstrip(b"/") + b"/") or real.startswith(home + b"/"):
                raise ConfigError(f"{display(root)} contains or is inside the served catalog folder; "
                                  "give the photo folders themselves")
        if path.exists():  # left half-built by a server that died while creating it: not a catalog yet
            shutil.rmtree(path)
        cat = None
        try:
            try:
                # no URL: SQLite inside the folder, also where LUMINA_DATABASE_URL names the served catalog's database
                cat = open_catalog(path, overrides=self.overrides,
                                   database_url=database_url or f"sqlite:///{path / DB_NAME}",
                                   own_database=database_url is not None)
            except CatalogError as exc:  # the request's database does not work: the client fixes the URL
                if database_url is None:
                    raise
                raise ConfigError(f"database_url: {exc}") from None
            with cat.session() as s:
                for p in roots:
                    s.add(Source(path_bytes=p, path=display(p), added_at=now()))
                s.commit()
        except BaseException:  # a full disk, ...: no half-built folder stays to make the name unusable
            if cat is not None:
                cat.close()
            shutil.rmtree(path, ignore_errors=True)
            raise
        with self._lock:
            self._open[cid] = cat
        entries[cid] = {"name": name, "path": str(path)}
        self._save(entries)
        return self.describe(cid)

    def delete(self, catalog_id: str) -> None:
        """Remove a created catalog and its folder (derived files only; photos are never touched).

        Raises:
            NotFoundError: unknown id. ConflictError: the default catalog, or a job is running in it.
        """
        if catalog_id == DEFAULT:
            raise ConflictError("the served catalog cannot be deleted over the API")
        cat = self.get(catalog_id)
        with cat.writer(exclusive=True):  # fails with CatalogError while a job writes to it
            entries = self._entries()
            entry = entries.pop(catalog_id)
            self._save(entries)
            with self._lock:
                self._open.pop(catalog_id, None)
        cat.close()  # after its writer lock's connection went back: none stays open
        path = Path(entry["path"])
        if path.parent == self.home / "catalogs" and not path.is_symlink():
            shutil.rmtree(path)

    def close(self) -> None:
        with self._lock:
            for cat in self._open.values():
                cat.close()
            self._open.clear()


def library_roots(catalog: Catalog) -> list[bytes]:
    """Real paths of the catalog's source folders (an original is served only from inside one)."""
    with catalog.session() as s:
        return [os.path.realpath(p) for p in s.scalars(select(Source.path_bytes))]
