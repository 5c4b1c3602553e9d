"""Jobs: start, list, inspect, cancel, and follow one over server-sent events."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from lumina.api.deps import ApiError, guarded, job_doc, job_ref, registry
from lumina.api.registry import DEFAULT, Registry
from lumina.api.schemas import JobDoc, JobPage
from lumina.pipeline import jobs

router = APIRouter(dependencies=guarded, tags=["jobs"])
ALIASES = {"detect-duplicates": "duplicates", "detect-bursts": "bursts"}  # ``thumbnails`` is a stage name


class JobIn(BaseModel):
    catalog_id: str = Field(default=DEFAULT, max_length=64)
    force: bool = False
    retry_failed: bool = False
    similarity_threshold: int | None = Field(default=None, ge=0, le=32, description="Hamming radius (bits), duplicates")


@router.post("/api/jobs/{job_type}", status_code=202, response_model=JobDoc)
def start_job(job_type: str, body: JobIn, reg: Registry = Depends(registry)) -> dict:  # noqa: B008
    """Queue a job: a stage name, ``pipeline`` (fill every gap in order) or ``scan``; aliases
    ``detect-duplicates`` (with ``similarity_threshold``), ``detect-bursts``, ``thumbnails``."""
    kind = ALIASES.get(job_type, job_type)
    if kind not in jobs.job_types():
        raise ApiError(404, "not_found", f"no job type {job_type!r}; types: {', '.join(jobs.job_types())}")
    params: dict[str, Any] = {"force": body.force, "retry_failed": body.retry_failed}
    if body.similarity_threshold is not None:
        if kind != "duplicates":
            raise ApiError(422, "invalid", "similarity_threshold applies to detect-duplicates only")
        params["settings"] = {"duplicate_radius_bits": body.similarity_threshold}
    return job_doc(body.catalog_id, jobs.submit(reg.get(body.catalog_id), kind, params))


@router.get("/api/jobs", response_model=JobPage)
def list_all_jobs(status: Annotated[str | None, Query(max_length=16)] = None,
                  limit: Annotated[int, Query(ge=1, le=500)] = 50,
                  offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
                  reg: Registry = Depends(registry)) -> dict:  # noqa: B008
    """Jobs of every catalog, newest first, paged."""
    if status is not None and status not in jobs.STATUSES:
        raise ApiError(422, "invalid", f"unknown job status {status!r}; statuses: {', '.join(jobs.STATUSES)}")
    items, total = [], 0
    for cid in reg.ids():
        newest, count = jobs.newest(reg.get(cid), status, offset + limit)
        items += [job_doc(cid, j) for j in newest]
        total += count
    items.sort(key=lambda j: j["created_at"], reverse=True)
    return {"items": items[offset:offset + limit], "total": total}


@router.get("/api/jobs/{job_id}", response_model=JobDoc)
def get_job(job_id: str, reg: Registry = Depends(registry)) -> dict:  # noqa: B008
    """One job with progress, per-stage counts and failures (path, stage, kind, message)."""
    cid, n = job_ref(reg, job_id)
    return job_doc(cid, jobs.get(reg.get(cid), n))


@router.delete("/api/jobs/{job_id}", response_model=JobDoc)
def cancel_job(job_id: str, reg: Registry = Depends(registry)) -> dict:  # noqa: B008
    """Cancel a queued job, or stop a running one after its current batch."""
    cid, n = job_ref(reg, job_id)
    return job_doc(cid, jobs.cancel(reg.get(cid), n))


@router.get("/api/jobs/{job_id}/events", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}, "description": "progress events, then end"}})
async def job_events(job_id: str, reg: Registry = Depends(registry)) -> StreamingResponse:  # noqa: B008
    """Server-sent events: ``progress`` with the job JSON whenever it changes, then ``end``."""
    cid, n = job_ref(reg, job_id)
    cat = reg.get(cid)
    first = await run_in_threadpool(jobs.get, cat, n)

    async def stream():
        last, doc = None, first
        while True:
            body = json.dumps(job_doc(cid, doc))
            if body != last:
                yield f"event: progress\ndata: {body}\n\n"
                last = body
            if doc["status"] in jobs.FINISHED:
                yield f"event: end\ndata: {body}\n\n"
                return
            await asyncio.sleep(0.25)
            try:
                doc = await run_in_threadpool(jobs.get, cat, n)
            except Exception as exc:  # noqa: BLE001 - e.g. its catalog was deleted: end the stream
                gone = {"error": {"code": "gone", "message": f"job {job_id} can no longer be read: {exc}"}}
                yield f"event: end\ndata: {json.dumps(gone)}\n\n"
                return

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
