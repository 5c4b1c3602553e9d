"""Bursts: list, one burst, apply a choice, apply every recommendation."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from lumina.api.deps import guarded, registry
from lumina.api.registry import Registry
from lumina.api.routers.duplicates import ResolveIn
from lumina.api.schemas import BurstDoc, BurstReport, Open
from lumina.pipeline import bursts_run

router = APIRouter(dependencies=guarded, tags=["bursts"])


@router.get("/api/catalogs/{catalog_id}/bursts", response_model=BurstReport)
def bursts(catalog_id: str, reg: Registry = Depends(registry)) -> dict:  # noqa: B008
    """The current generation's bursts (the JSON of ``lumina bursts --format json``, plus
    ``total``: the number of bursts)."""
    with reg.get(catalog_id).session() as s:
        doc = bursts_run.bursts_report(s)
    return {**doc, "total": len(doc["bursts"])}


@router.get("/api/catalogs/{catalog_id}/bursts/{burst_id}", response_model=BurstDoc)
def burst(catalog_id: str, burst_id: int, reg: Registry = Depends(registry)) -> dict:  # noqa: B008
    with reg.get(catalog_id).session() as s:
        return bursts_run.burst_report(s, burst_id)


@router.post("/api/catalogs/{catalog_id}/bursts/{burst_id}/apply", response_model=Open)
def apply_burst(catalog_id: str, burst_id: int, body: ResolveIn, reg: Registry = Depends(registry)) -> dict:  # noqa: B008
    """Keep one frame; the others are marked rejected in the catalog (files untouched)."""
    return bursts_run.apply(reg.get(catalog_id), burst_id, body.keep)


@router.post("/api/catalogs/{catalog_id}/bursts/apply-recommended", response_model=Open)
def apply_recommended(catalog_id: str, reg: Registry = Depends(registry)) -> dict:  # noqa: B008
    """Keep every burst's best frame."""
    return bursts_run.apply(reg.get(catalog_id), all_recommended=True)
