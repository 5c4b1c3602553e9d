"""Catalogs: list, create, describe, delete, scan."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from lumina.api.deps import guarded, job_doc, registry
from lumina.api.registry import Registry
from lumina.api.schemas import CatalogDoc, CatalogList, JobDoc
from lumina.pipeline import jobs

router = APIRouter(dependencies=guarded, tags=["catalogs"])


class CatalogIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    sources: list[str] = Field(default_factory=list, max_length=100)
    database_url: str | None = Field(
        default=None, min_length=1, max_length=2000,
        description="PostgreSQL database of the new catalog: postgresql://USER:PASSWORD@HOST:PORT/DB (or "
                    "postgresql:///DB?host=/socket/dir), an empty database that no other catalog uses; remembered "
                    "in the catalog's folder and shown without its password. Default: a SQLite database in the "
                    "catalog's folder (or the server's LUMINA_DATABASE_URL)")


@router.get("/api/catalogs", response_model=CatalogList)
def list_catalogs(reg: Registry = Depends(registry)) -> dict:  # noqa: B008
    return {"items": [reg.describe(cid) for cid in reg.ids()]}


@router.post("/api/catalogs", status_code=201, response_model=CatalogDoc)
def create_catalog(body: CatalogIn, reg: Registry = Depends(registry)) -> dict:  # noqa: B008
    """A new catalog with these library folders (scan it with POST /api/catalogs/{id}/scan), on a
    PostgreSQL database when ``database_url`` is given."""
    return reg.create(body.name, body.sources, body.database_url)


@router.get("/api/catalogs/{catalog_id}", response_model=CatalogDoc)
def get_catalog(catalog_id: str, reg: Registry = Depends(registry)) -> dict:  # noqa: B008
    return reg.describe(catalog_id)


@router.delete("/api/catalogs/{catalog_id}", status_code=204)
def delete_catalog(catalog_id: str, reg: Registry = Depends(registry)) -> None:  # noqa: B008
    """Delete the catalog record and its derived files; photos are never touched."""
    reg.delete(catalog_id)


@router.post("/api/catalogs/{catalog_id}/scan", status_code=202, response_model=JobDoc)
def scan_catalog(catalog_id: str, reg: Registry = Depends(registry)) -> dict:  # noqa: B008
    """Queue a scan of the catalog's source folders."""
    return job_doc(catalog_id, jobs.submit(reg.get(catalog_id), "scan"))
