"""Durable jobs: queued in the catalog, run by a worker, surviving kills.

A job is a stage name (that stage and its prerequisites), ``pipeline`` (every stage) or ``scan``
(walk the sources, then every stage). ``lumina run`` and ``lumina scan`` create a job and run it
at once in their own process; ``lumina worker`` (and ``lumina serve``) run queued ones.

Durability: a worker holds the catalog's writer lock (``Catalog.writer``, an ``flock`` the kernel
drops when the process dies) while it runs a job, and every batch of results is committed together
with the job's counts, failures and heartbeat. So when a worker finds a job ``running`` while it
holds the lock itself, that job's worker is gone (killed, crashed, machine rebooted): the job is
marked ``interrupted`` and then resumed like a queued one. Resuming re-plans from the per-asset
stage records, so nothing committed is redone and nothing is written twice.

Rules: at most one queued or running job per type (a second gets ``ConflictError``); ``cancel``
stops a queued job at once and a running one between batches (``JobCancelled``), keeping what it
committed; a job that finished with failed assets is ``succeeded`` with ``failed`` > 0.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, or_, select, update

from lumina.catalog.db import Catalog, WriterBusy
from lumina.catalog.models import Job, Source
from lumina.catalog.queries import check_row_id
from lumina.errors import (RUN_ERROR_KINDS, ConflictError, ConfigError, JobCancelled, LuminaError,
                           NotFoundError, RunError, RunStopped, error_kind, run_error)
from lumina.pipeline import leases
from lumina.pipeline.runner import Reporter, _Done
from lumina.pipeline.scan import now
from lumina.pipeline.stopping import STOP
from lumina.settings import coerce
from lumina.stages import CATALOG_STAGES, STAGES
from lumina.stages.base import AssetView

ACTIVE = ("queued", "running", "interrupted")
FINISHED = ("succeeded", "failed", "cancelled")
STATUSES = ("queued", "running", "succeeded", "failed", "cancelled", "interrupted")
MAX_LISTED_FAILURES = 1000
PARAMS = {"force": bool, "retry_failed": bool, "roots": list, "settings": dict, "follow_links_outside": bool}
PARAM_DEFAULTS = {"force": False, "retry_failed": False, "settings": {}, "follow_links_outside": False}


def job_types() -> list[str]:
    """Every job type: each implemented stage, ``pipeline`` and ``scan``."""
    return [*STAGES, *CATALOG_STAGES, "pipeline", "scan"]


def worker_id() -> str:
    """``host:pid:random`` of this process (a new random part per call)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def job_doc(job: Job) -> dict[str, Any]:
    """The job as JSON: ``{"id", "type", "params", "status", "done", "failed", "total", "progress",
    "stages", "failures", "result", "created_at", "started_at", "finished_at", "heartbeat_at",
    "worker_id", "attempts", "cancel_requested", "error"}`` (times in ISO 8601 UTC)."""
    def t(v):
        return v.isoformat() + "Z" if v else None

    settled = job.done + job.failed
    return {"id": job.id, "type": job.job_type, "params": job.params, "status": job.status, "done": job.done,
            "failed": job.failed, "total": job.total,
            "progress": round(settled / job.total, 4) if job.total else (1.0 if job.status in FINISHED else 0.0),
            "stages": job.stages, "failures": job.failures, "result": job.result, "created_at": t(job.created_at),
            "started_at": t(job.started_at), "finished_at": t(job.finished_at), "heartbeat_at": t(job.heartbeat_at),
            "worker_id": job.worker_id, "attempts": job.attempts, "cancel_requested": job.cancel_requested,
            "error": job.error}


def submit(catalog: Catalog, job_type: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Queue a job; returns its JSON.

    Args:
        job_type: one of ``job_types()``.
        params: ``force``, ``retry_failed`` (booleans), ``roots`` (scan only: folders; default the
            catalog's sources).
    Raises:
        ConfigError: unknown type or parameter. ConflictError: a job of that type is queued or running.
    """
    params = _normalised(catalog, job_type, params)
    with catalog.session() as s:
        active = s.scalar(select(Job).where(Job.job_type == job_type, Job.status.in_(ACTIVE)).order_by(Job.id))
        if active is not None:
            raise ConflictError(f"job {active.id} ({job_type}) is already {active.status}; wait for it or cancel it")
        job = Job(job_type=job_type, params=params, status="queued", created_at=now(), stages={}, failures=[],
                  result={})
        s.add(job)
        s.commit()
        return job_doc(job)


def submit_unless_active(catalog: Catalog, job_type: str, params: dict[str, Any] | None = None) -> int | None:
    """Queue a job as ``submit`` does, unless one of that type is queued or running already (it, or
    the next run, does the same work): the new job's id, or None."""
    try:
        return submit(catalog, job_type, params)["id"]
    except ConflictError:
        return None


def _normalised(catalog: Catalog, job_type: str, params: dict[str, Any] | None) -> dict[str, Any]:
    """Validated parameters with their defaults filled in (scan roots: the catalog's sources).

    Raises:
        ConfigError: unknown type or parameter.
    """
    params = dict(params or {})
    if job_type not in job_types():
        raise ConfigError(f"unknown job type {job_type!r}; types: {', '.join(job_types())}")
    for key, value in params.items():
        if (key not in PARAMS or not isinstance(value, PARAMS[key])
                or (key in ("roots", "follow_links_outside") and job_type != "scan")):
            raise ConfigError(f"job parameter {key}={value!r} is not accepted for {job_type}")
    if params.get("settings"):  # settings of this stage only, for this run
        cls = STAGES.get(job_type) or CATALOG_STAGES.get(job_type)
        allowed = set(cls.setting_names) if cls else set()
        if set(params["settings"]) - allowed:
            raise ConfigError(f"settings {', '.join(sorted(set(params['settings']) - allowed))} do not apply to {job_type}")
        params["settings"] = coerce(params["settings"])
    with catalog.session() as s:
        if job_type == "scan" and not params.get("roots"):
            params["roots"] = [src.path for src in s.scalars(select(Source).order_by(Source.id))]
            if not params["roots"]:
                raise ConfigError("this catalog has no source folders yet: give roots")
    return params


def get(catalog: Catalog, job_id: int) -> dict[str, Any]:
    """Raises NotFoundError for an unknown id."""
    with catalog.session() as s:
        job = s.get(Job, check_row_id(job_id, "job"))
        if job is None:
            raise NotFoundError(f"no job {job_id} in this catalog")
        return job_doc(job)


def list_jobs(catalog: Catalog, status: str | None = None, limit: int = 50, offset: int = 0) -> dict[str, Any]:
    """``{"items": [job JSON, newest first], "total"}``.

    Raises:
        ConfigError: unknown status or a limit outside 1..500.
    """
    if status is not None and status not in STATUSES:
        raise ConfigError(f"unknown job status {status!r}; statuses: {', '.join(STATUSES)}")
    if not 1 <= limit <= 500 or offset < 0:
        raise ConfigError("limit must be 1..500 and offset >= 0")
    items, total = newest(catalog, status, offset + limit)
    return {"items": items[offset:], "total": total}


def newest(catalog: Catalog, status: str | None, count: int) -> tuple[list[dict[str, Any]], int]:
    """The ``count`` newest jobs (any number) and how many there are in all, for paging across catalogs."""
    with catalog.session() as s:
        query = select(Job) if status is None else select(Job).where(Job.status == status)
        total = s.scalar(select(func.count()).select_from(query.subquery()))
        return [job_doc(j) for j in s.scalars(query.order_by(Job.id.desc()).limit(count))], total


def cancel(catalog: Catalog, job_id: int) -> dict[str, Any]:
    """Cancel a queued or interrupted job at once, or ask a running one to stop between batches.

    Raises:
        NotFoundError: unknown id. ConflictError: the job has already finished.
    """
    with catalog.session() as s:
        job = s.get(Job, check_row_id(job_id, "job"))
        if job is None:
            raise NotFoundError(f"no job {job_id} in this catalog")
        if job.status in FINISHED:
            raise ConflictError(f"job {job_id} has already finished ({job.status})")
        if job.status == "running":
            job.cancel_requested = True
        else:
            job.status, job.finished_at = "cancelled", now()
        s.commit()
        return job_doc(job)


class JobReporter(Reporter):
    """Keeps a job's counts, failures and heartbeat in step with the results (same transaction)."""

    def __init__(self, job_id: int, worker: str | None = None):
        self.job_id, self.worker = job_id, worker  # the worker claims batches under this id

    def _locked(self, session) -> Job:
        """The job row, locked until the commit: several workers add to its counts at once."""
        return session.get(Job, self.job_id, with_for_update=True, populate_existing=True)

    def planned(self, session, stage: str, count: int) -> None:
        job = self._locked(session)
        job.total = job.total + count
        job.heartbeat_at = now()

    def batch(self, session, stage: str, views: dict[str, AssetView], done: Sequence[_Done]) -> None:
        job = self._locked(session)
        stages = dict(job.stages or {})
        counts = dict(stages.get(stage, {"ok": 0, "failed": 0, "skipped": 0}))
        failures = list(job.failures or [])
        for d in done:
            counts[d.result.status] += 1
            if d.result.status == "failed":
                job.failed += 1
                if len(failures) < MAX_LISTED_FAILURES:
                    view = views.get(d.asset_id)
                    failures.append({"path": os.fsdecode(view.path) if view else None, "asset_id": d.asset_id,
                                     "stage": stage, "kind": error_kind(d.result.reason),
                                     "message": d.result.reason})
            else:
                job.done += 1
        stages[stage] = counts
        job.stages, job.failures, job.heartbeat_at = stages, failures, now()

    def check(self, session) -> None:
        if session.scalar(select(Job.cancel_requested).where(Job.id == self.job_id)):
            raise JobCancelled(f"job {self.job_id} was cancelled")


def recover(catalog: Catalog) -> list[int]:
    """Mark jobs ``interrupted`` whose worker is gone; returns their ids. On SQLite call it only
    while holding the writer lock (then no live worker can be running a job); on PostgreSQL a
    worker is gone when its lease has expired (``lumina.pipeline.leases``) or, on this machine,
    when its process has ended."""
    with catalog.session() as s:
        gone = select(Job).where(Job.status == "running")
        if leases.shared(catalog):
            owners = s.scalars(select(Job.worker_id).where(Job.status == "running")).all()
            gone = gone.where(or_(leases.lease_lost(), Job.worker_id.in_(leases.gone_here(owners))))
            gone = gone.with_for_update(skip_locked=True)
        orphans = s.scalars(gone).all()
        for job in orphans:
            job.status = "interrupted"
            job.error = (f"worker {job.worker_id} stopped (killed or crashed) after its heartbeat at "
                         f"{job.heartbeat_at.isoformat() + 'Z' if job.heartbeat_at else 'start'}; resumed from the stage records")
        s.commit()
        return [j.id for j in orphans]


def _claim(catalog: Catalog, me: str, job_id: int | None = None) -> Job | None:
    """Claim the oldest runnable job (``FOR UPDATE SKIP LOCKED``, see ``leases.claimable_job``)
    for worker ``me`` under a lease."""
    with catalog.session() as s:
        job = s.scalar(leases.claimable_job(catalog, job_id))
        if job is None:
            return None
        s.execute(update(Job).where(Job.id == job.id).values(
            status="running", worker_id=me, attempts=Job.attempts + 1, heartbeat_at=now(),
            lease_expires_at=leases.lease_end(catalog),
            started_at=job.started_at or now(), total=Job.done + Job.failed))  # a resumed job re-plans the rest
        s.commit()
        s.refresh(job)
        s.expunge(job)
        return job


def _remove_leftovers(catalog: Catalog) -> None:
    """Temporary files of killed runs: partial thumbnails, ExifTool alias folders (writer lock held)."""
    from lumina.media.exiftool import remove_stale_folders
    from lumina.stages.thumbnails import remove_partial_files

    remove_partial_files(catalog.path)
    remove_stale_folders()


def execute(catalog: Catalog, job: Job, progress: Any = None) -> None:
    """Run one claimed job to its end state (the caller holds the writer lock, and a
    ``leases.Heartbeat`` for its ``worker_id``)."""
    reporter = JobReporter(job.id, job.worker_id)
    p = job.params or {}
    _remove_leftovers(catalog)
    force = job.started_at if p.get("force") else False  # a resumed job never redoes its own results
    if p.get("settings"):
        catalog = catalog.with_settings(p["settings"])
    status, error, result = "succeeded", None, {}
    try:
        if job.job_type == "scan":
            from lumina.pipeline.scan import scan

            counts = scan(catalog, p["roots"], force=force, retry_failed=p.get("retry_failed", False),
                          progress=progress, reporter=reporter,
                          follow_links_outside=p.get("follow_links_outside", False))
            result = counts.as_dict()
        else:
            from lumina.pipeline.runner import run_pipeline

            stages = None if job.job_type == "pipeline" else [job.job_type]
            result = {"stages": run_pipeline(catalog, stages, force=force,
                                             retry_failed=p.get("retry_failed", False), progress=progress,
                                             reporter=reporter)}
    except JobCancelled as exc:
        status, error = "cancelled", str(exc)
    except RunStopped as exc:  # the same command (or a worker) resumes it
        status, error = "interrupted", f"{exc}; committed results are kept"
    except Exception as exc:  # noqa: BLE001 - a bug must end this job, not the worker
        transient = run_error(exc, catalog.path)
        if transient is not None:  # the machine's state, not a photo's: no asset was marked failed
            status, error = "failed", str(transient)
        elif isinstance(exc, LuminaError):
            status, error = "failed", str(exc)
        else:
            status, error = "failed", f"internal_error: {type(exc).__name__}: {exc}"
    try:
        with catalog.session() as s:
            s.execute(update(Job).where(Job.id == job.id).values(  # a resumed job keeps the note of its interruption
                status=status, error=error or Job.error, result=result, lease_expires_at=None,
                finished_at=None if status == "interrupted" else now(), heartbeat_at=now()))
            s.commit()
    except Exception as exc:  # the catalog itself is full or gone: the job stays "running" and is resumed later
        transient = run_error(exc, catalog.path)
        if transient is None:
            raise
        if error and error.split(":", 1)[0] in RUN_ERROR_KINDS:  # say the first cause, once
            raise RunError(*error.split(": ", 1)) from exc
        raise transient from exc


def run_now(catalog: Catalog, job_type: str, params: dict[str, Any] | None = None,
            progress: Any = None) -> dict[str, Any]:
    """Create a job and run it in this process (``lumina run``, ``lumina scan``); returns its JSON.

    Raises:
        ConflictError: a job of that type is queued or running. CatalogError: another writer holds
        the catalog. ConfigError: unknown type or parameter.
    """
    me = worker_id()
    with catalog.writer(), leases.Heartbeat(catalog, me):
        recover(catalog)
        job_id = _adopt(catalog, job_type, _normalised(catalog, job_type, params))
        job = _claim(catalog, me, job_id)
        if job is None:  # PostgreSQL: another worker runs it now
            raise ConflictError(f"job {job_id} ({job_type}) is running on another worker; `lumina worker` "
                                "on this machine would help with its batches")
        execute(catalog, job, progress)
    return get(catalog, job_id)


def _adopt(catalog: Catalog, job_type: str, params: dict[str, Any]) -> int:
    """The job a command should run now (the caller holds the writer lock, after ``recover``):
    an interrupted or queued job of this type with the same parameters is resumed; an interrupted
    one with other parameters is superseded (``cancelled``, its committed results stay and the new
    job plans from them); else a new job. A queued job with other parameters (queued over the API
    for a worker) is left alone: ConflictError.
    """
    with catalog.session() as s:
        active = s.scalar(select(Job).where(Job.job_type == job_type, Job.status.in_(ACTIVE)).order_by(Job.id))
        if active is not None and {**PARAM_DEFAULTS, **(active.params or {})} == {**PARAM_DEFAULTS, **params}:
            return active.id
        if active is not None and active.status == "interrupted":
            active.status, active.finished_at = "cancelled", now()
            active.error = f"superseded by a {job_type} with other parameters; its committed results are kept"
            s.commit()
        elif active is not None and active.status == "running":  # PostgreSQL: another live worker runs it
            raise ConflictError(f"job {active.id} ({job_type}) is running on worker {active.worker_id} with other "
                                f"parameters; wait for it, or cancel it with `lumina jobs cancel {active.id}`")
        elif active is not None:
            raise ConflictError(f"job {active.id} ({job_type}) is queued with other parameters; run it with "
                                f"`lumina worker --once` or cancel it with `lumina jobs cancel {active.id}`")
    return submit(catalog, job_type, params)["id"]


def _has_jobs(catalog: Catalog) -> bool:
    """Whether any job is queued, interrupted or marked running (perhaps by a dead worker)."""
    with catalog.session() as s:
        return s.scalar(select(Job.id).where(Job.status.in_(ACTIVE)).limit(1)) is not None


def _help(catalog: Catalog, me: str) -> bool:
    """Run claimable batches of a job another worker owns (PostgreSQL); False when there were none."""
    from lumina.pipeline.runner import StageGroup, run_batches

    found = leases.helpable_batch(catalog)
    if found is None:
        return False
    job_id, group = found
    with catalog.session() as s:
        params = s.get(Job, job_id).params or {}
    settings = {**catalog.settings, **(params.get("settings") or {})}
    stages = StageGroup(group.split("+"), settings)
    for stage in stages.stages.values():
        stage.preflight()  # a missing tool is said here, as by the owner
    try:
        run_batches(catalog, stages, leases.BatchClaims(catalog, me, job_id, group), JobReporter(job_id, me))
    except JobCancelled:
        pass  # its owner ends the job
    return True


def work(catalog: Catalog, once: bool = False, poll_s: float = 1.0, stop: threading.Event | None = None,
         on_job: Any = None, on_wait: Any = None) -> int:
    """The worker loop: recover interrupted jobs, then run queued ones in order. On PostgreSQL
    several workers run at once: each claims jobs and batches (``lumina.pipeline.leases``), and a
    worker with no job to claim helps with the batches of running ones.

    Args:
        once: return when no job is left to run or help with instead of polling.
        poll_s: seconds between looks at an empty queue, or at a catalog another writer holds.
        stop: set it to end the loop after the current job.
        on_job: called with each finished job's JSON.
        on_wait: called once with the message saying why this worker waits (SQLite: another
            writer holds the catalog).
    Returns:
        The number of jobs run.
    Raises:
        CatalogError: with ``once``, another writer holds a SQLite catalog.
    """
    me, ran, told = worker_id(), 0, False
    while (stop is None or not stop.is_set()) and not STOP.is_set():
        busy = False
        try:
            if _has_jobs(catalog):  # the writer lock is taken only for work: idle polls never block others
                with catalog.writer(), leases.Heartbeat(catalog, me):
                    recover(catalog)
                    while ((stop is None or not stop.is_set()) and not STOP.is_set()  # STOP: a signal, see stopping.py
                           and (job := _claim(catalog, me)) is not None):
                        execute(catalog, job)
                        ran += 1
                        if on_job is not None:
                            on_job(get(catalog, job.id))
                    busy = _help(catalog, me)
        except WriterBusy as exc:  # SQLite: a scan or another worker is writing: wait for it
            message = leases.SINGLE_WRITER.format(pid=exc.holder, path=catalog.path)
            if once:
                raise WriterBusy(message, exc.holder) from None
            if on_wait is not None and not told:
                on_wait(message)
            told = True
        if busy:
            continue
        if once and not (leases.shared(catalog) and _has_jobs(catalog)):  # others' running jobs: wait to help
            return ran
        if stop is not None:
            stop.wait(poll_s)
        else:
            time.sleep(poll_s)
    return ran
