"""Duplicate groups: list, one group, resolve, "not duplicates"."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from lumina.api.deps import ASSET_ID, guarded, registry
from lumina.api.registry import Registry
from lumina.api.schemas import DuplicateReport, GroupDoc, Open
from lumina.pipeline import duplicates_run
from lumina.pipeline.embedding_pairs_run import duplicates_with_derivative_pairs

router = APIRouter(dependencies=guarded, tags=["duplicates"])


class ResolveIn(BaseModel):
    keep: str = Field(min_length=1, max_length=4096, description="asset id, unique prefix (>= 8 hex digits) or path")


class ResolveGroupIn(ResolveIn):
    trash: str | None = Field(default=None, min_length=1, max_length=4096,
                              description="move the other files to this folder (copied, SHA-256 verified, removed)")


class PairIn(BaseModel):
    asset_a: str = Field(pattern=f"^{ASSET_ID}$")  # pydantic's (Rust) regex: $ is the end of the text
    asset_b: str = Field(pattern=f"^{ASSET_ID}$")


@router.get("/api/catalogs/{catalog_id}/duplicates", response_model=DuplicateReport)
def duplicates(catalog_id: str, reg: Registry = Depends(registry)) -> dict:  # noqa: B008
    """The current generation's groups (the JSON of ``lumina duplicates --format json``,
    plus ``total``: the number of groups)."""
    with reg.get(catalog_id).session() as s:
        doc = duplicates_with_derivative_pairs(s)
    return {**doc, "total": len(doc["groups"])}


@router.get("/api/catalogs/{catalog_id}/duplicates/{group_id}", response_model=GroupDoc)
def duplicate_group(catalog_id: str, group_id: int, reg: Registry = Depends(registry)) -> dict:  # noqa: B008
    """One group with per-signal distances and the keeper's reason."""
    with reg.get(catalog_id).session() as s:
        return duplicates_run.group_report(s, group_id)


@router.post("/api/catalogs/{catalog_id}/duplicates/{group_id}/resolve", response_model=Open)
def resolve_group(catalog_id: str, group_id: int, body: ResolveGroupIn,
                  reg: Registry = Depends(registry)) -> dict:  # noqa: B008
    """Keep one member; the others are marked rejected in the catalog; their files stay untouched
    unless ``trash`` names a folder to move them to (the library is written only then)."""
    return duplicates_run.resolve(reg.get(catalog_id), group_id, body.keep, body.trash)


@router.post("/api/catalogs/{catalog_id}/duplicates/not-duplicates", response_model=Open)
def not_duplicates(catalog_id: str, body: PairIn, reg: Registry = Depends(registry)) -> dict:  # noqa: B008
    """Record that two assets are not duplicates; every later run respects it. Accepted while a job
    runs: ``pending_job`` is then the duplicates job queued to apply it (else None: applied)."""
    pending = duplicates_run.not_duplicates(reg.get(catalog_id), body.asset_a, body.asset_b)
    return {"recorded": "not_duplicate", "asset_a": body.asset_a, "asset_b": body.asset_b, "pending_job": pending}
