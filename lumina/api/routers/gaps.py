"""The gap report and filling it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from lumina.analysis.gaps import gap_report
from lumina.api.deps import ApiError, guarded, job_doc, registry
from lumina.api.registry import Registry
from lumina.api.routers.images import with_urls
from lumina.api.schemas import FillOut, GapReport, ImagePage
from lumina.catalog import queries
from lumina.errors import ConflictError
from lumina.pipeline import jobs

router = APIRouter(dependencies=guarded, tags=["gaps"])


@router.get("/api/catalogs/{catalog_id}/gaps", response_model=GapReport)
def gaps(catalog_id: str, reg: Registry = Depends(registry)) -> dict:  # noqa: B008
    """The gap report (the JSON of ``lumina gaps --format json``)."""
    return gap_report(reg.get(catalog_id))


@router.post("/api/catalogs/{catalog_id}/gaps/fill", status_code=202, response_model=FillOut)
def fill_gaps(catalog_id: str, reg: Registry = Depends(registry)) -> dict:  # noqa: B008
    """Queue one job per stage with pending work, in the stage graph's order."""
    cat = reg.get(catalog_id)
    queued, skipped = [], []
    for step in gap_report(cat)["job_order"]:
        if step["available"] and step["pending"]:
            try:
                queued.append(job_doc(catalog_id, jobs.submit(cat, step["stage"])))
            except ConflictError as exc:
                skipped.append({"stage": step["stage"], "reason": str(exc)})
    return {"jobs": queued, "skipped": skipped}


@router.get("/api/catalogs/{catalog_id}/gaps/{gap_type}/assets", response_model=ImagePage)
def gap_assets(catalog_id: str, gap_type: str,
               reason: Annotated[str, Query(min_length=1, max_length=400, description="a key of the row's reasons")],
               cursor: Annotated[str | None, Query(max_length=400)] = None,
               limit: Annotated[int, Query(ge=1, le=500)] = 100,
               reg: Registry = Depends(registry)) -> dict:  # noqa: B008
    """The assets one reason of one gap counts (the gap report's ``reasons``), as an image page."""
    cat = reg.get(catalog_id)
    row = next((r for r in gap_report(cat, with_assets=True)["metadata"] if r["type"] == gap_type), None)
    if row is None:
        raise ApiError(404, "not_found", f"no metadata type {gap_type!r} in the gap report")
    if reason not in row["reason_assets"]:
        raise ApiError(404, "not_found", f"{gap_type}: no reason {reason!r} now; reasons: {', '.join(row['reasons'])}")
    with cat.session() as s:
        page = queries.list_assets(s, {"asset_ids": row["reason_assets"][reason]}, cursor, limit, total=cursor is None)
    return with_urls(page)
