"""The gap report and filling it."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from lumina.analysis.gaps import gap_report
from lumina.api.deps import guarded, job_doc, registry
from lumina.api.registry import Registry
from lumina.errors import ConflictError
from lumina.pipeline import jobs

router = APIRouter(dependencies=guarded, tags=["gaps"])


@router.get("/api/catalogs/{catalog_id}/gaps")
def gaps(catalog_id: str, reg: Registry = Depends(registry)) -> dict:  # noqa: B008
    """The gap report (the JSON of ``lumina gaps --format json``)."""
    return gap_report(reg.get(catalog_id))


@router.post("/api/catalogs/{catalog_id}/gaps/fill", status_code=202)
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
