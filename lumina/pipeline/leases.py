"""Several writers on one catalog: claims, leases and heartbeats for jobs and their work batches.

On PostgreSQL any number of ``lumina worker`` processes, on one machine or several, share one
catalog:

- A job is claimed with ``SELECT … FOR UPDATE SKIP LOCKED`` (two workers never take the same row;
  neither waits for the other) and held under a lease: its ``worker_id`` (the owner) and
  ``lease_expires_at``. The owner plans each stage group and stores its batches as ``work_batches``
  rows, then runs catalog-wide stages when every batch is done.
- Every worker, owner or not, claims ``pending`` batches the same way, under a lease of its own.
  A batch's results, the job's counts and the batch's ``done`` mark are committed in one
  transaction, and only while the batch row (locked ``FOR UPDATE``) is still leased to that worker:
  a worker that lost its lease writes nothing, so each asset-stage is committed once.
- A ``Heartbeat`` thread renews every lease a worker holds, every third of ``lease_s``. A worker
  killed mid-batch stops renewing; when its leases expire another worker claims its running batch
  (``attempts`` + 1) and, for the owner, its job (re-planned from the stage records, so nothing
  committed is redone).
- Catalog-wide stages (bursts, duplicates, embedding pairs) run under a PostgreSQL advisory lock
  (``catalog_wide``), so only one worker runs each at a time.

SQLite keeps its single writer: ``Catalog.writer`` (an ``flock``) admits one process, so every
helper here degrades to the plain in-order run, and a second worker is told why it waits
(``SINGLE_WRITER``). The code path is the same; only whether other workers can join differs.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, func, or_, select, update

from lumina.catalog.db import Catalog, advisory_key
from lumina.catalog.models import Job, WorkBatch
from lumina.pipeline.scan import now
from lumina.pipeline.stopping import check_stop

log = logging.getLogger(__name__)

POLL_S = 0.25  # wait between looks at other workers' batches (a batch takes seconds)
SINGLE_WRITER = ("{path} is a SQLite catalog, which takes one writer at a time: another worker or scan "
                 "(pid {pid}) is writing to it. To run several workers at once, use a PostgreSQL catalog "
                 "(lumina init --database-url postgresql://...)")

Items = list[list]  # [[asset_id, [stage, ...]], ...]: the due stages of each asset of a batch


def shared(catalog: Catalog) -> bool:
    """Whether several workers may write this catalog at once (PostgreSQL; SQLite: one writer)."""
    return catalog.engine.dialect.name == "postgresql"


def lease_end(catalog: Catalog) -> datetime:
    """When a lease taken or renewed now expires (UTC, naive like every catalog time)."""
    return now() + timedelta(seconds=float(catalog.settings["lease_s"]))


def lease_lost():
    """The condition of a running job whose worker is gone: its lease expired, or it has none (left
    by a worker that ended without finishing it, before leases existed or after its final write)."""
    return or_(Job.lease_expires_at.is_(None), Job.lease_expires_at < now())


def gone_here(owners: Sequence[str | None]) -> list[str]:
    """The worker ids among ``owners`` (``host:pid:random``, ``lumina.pipeline.jobs.worker_id``)
    whose process ran on this machine and has ended: their leases need not be waited out (a
    killed or crashed run, then the same command run again). A reused pid counts as alive, so the
    lease is then waited out as for a worker on another machine."""
    host = socket.gethostname()
    gone = []
    for owner in owners:
        parts = (owner or "").rsplit(":", 2)
        if len(parts) != 3 or parts[0] != host or not parts[1].isdigit():
            continue
        try:
            os.kill(int(parts[1]), 0)
        except ProcessLookupError:
            gone.append(owner)
        except PermissionError:  # alive, another user's
            pass
    return gone


def claimable_job(catalog: Catalog, job_id: int | None = None):
    """The query that claims the oldest job to run: queued, interrupted, or (shared catalogs)
    running with its lease lost (``lease_lost``). Locked ``FOR UPDATE SKIP LOCKED`` (rendered on
    PostgreSQL; SQLite serialises writers itself)."""
    claimable = [Job.status.in_(("queued", "interrupted"))]
    if shared(catalog):
        claimable.append(and_(Job.status == "running", lease_lost()))
    query = select(Job).where(or_(*claimable))
    if job_id is not None:
        query = query.where(Job.id == job_id)
    return query.order_by(Job.id).limit(1).with_for_update(skip_locked=True)


def _claimable_batch():
    return or_(WorkBatch.status == "pending",
               and_(WorkBatch.status == "running", WorkBatch.lease_expires_at < now()))


class Heartbeat:
    """A thread renewing every lease ``me`` holds (its running jobs and batches) every
    ``lease_s / 3`` seconds; a no-op on SQLite. Use as a context manager.

    A renewal that fails (connection lost) is logged and retried at the next beat: if the worker
    stays cut off, its leases expire and other workers take its work over.
    """

    def __init__(self, catalog: Catalog, me: str):
        self.catalog, self.me = catalog, me
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def renew(self) -> None:
        """Extend this worker's leases now."""
        until = lease_end(self.catalog)
        with self.catalog.session() as s:
            # Batches, then the job, each committed on its own: a batch being committed holds its
            # row and then waits for the job's, so taking them in the other order could deadlock.
            s.execute(update(WorkBatch).where(WorkBatch.lease_owner == self.me, WorkBatch.status == "running")
                      .values(lease_expires_at=until))
            s.commit()
            s.execute(update(Job).where(Job.worker_id == self.me, Job.status == "running")
                      .values(lease_expires_at=until, heartbeat_at=now()))
            s.commit()

    def _beat(self) -> None:
        while not self._stop.wait(float(self.catalog.settings["lease_s"]) / 3):
            try:
                self.renew()
            except Exception as exc:  # noqa: BLE001 - the lease then expires; others take over
                log.warning("lease renewal failed for %s: %s", self.me, exc)

    def __enter__(self) -> Heartbeat:
        if shared(self.catalog):
            self._thread = threading.Thread(target=self._beat, name="lumina-heartbeat", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def reset_group(catalog: Catalog, job_id: int | None, group: str) -> None:
    """Drop the unfinished batches of ``group`` left by an earlier owner of the job, before the
    group is planned again from the stage records (a batch a live helper is committing is locked
    and done by then, so it is kept; one it has not committed is lost to it and planned again)."""
    if job_id is None or not shared(catalog):
        return
    with catalog.session() as s:
        s.execute(delete(WorkBatch).where(WorkBatch.job_id == job_id, WorkBatch.group == group,
                                          WorkBatch.status != "done"))
        s.commit()


class BatchClaims:
    """The batches of one job's stage group that this worker runs, in claim order.

    Iterate to claim batches one at a time (each claim is committed under a lease before the batch
    is handed out, so an executor that reads ahead holds only what it is running). On SQLite, or
    without a job, it hands out ``batches`` in order with no rows written.

    Args:
        catalog: the open catalog.
        me: this worker's id (``lumina.pipeline.jobs.worker_id``).
        job_id: the job the batches belong to, or None.
        group: stage names joined by ``+``.
        batches: the planned batches (the job's owner), stored as ``pending`` rows; None for a
            worker that helps with batches another worker planned.
    """

    def __init__(self, catalog: Catalog, me: str, job_id: int | None, group: str,
                 batches: Sequence[Items] | None = None):
        self.catalog, self.me, self.job_id, self.group = catalog, me, job_id, group
        self.shared = job_id is not None and shared(catalog)
        self._local = list(batches or [])
        self._batch_of: dict[str, int] = {}  # asset id -> id of the claimed batch it is in
        if self.shared and batches:
            with catalog.session() as s:
                s.add_all(WorkBatch(job_id=job_id, group=group, items=b, status="pending", attempts=0)
                          for b in batches)
                s.commit()

    def count(self) -> int:
        """Batches this worker may still claim (planned ones on SQLite)."""
        if not self.shared:
            return len(self._local)
        with self.catalog.session() as s:
            return s.scalar(select(func.count()).select_from(WorkBatch).where(
                WorkBatch.job_id == self.job_id, WorkBatch.group == self.group, _claimable_batch()))

    def _claim(self) -> Items | None:
        with self.catalog.session() as s:
            row = s.scalar(select(WorkBatch).where(WorkBatch.job_id == self.job_id, WorkBatch.group == self.group,
                                                   _claimable_batch())
                           .order_by(WorkBatch.id).limit(1).with_for_update(skip_locked=True))
            if row is None:
                return None
            row.status, row.lease_owner, row.lease_expires_at = "running", self.me, lease_end(self.catalog)
            row.attempts += 1
            s.commit()
            for asset_id, _ in row.items:
                self._batch_of[asset_id] = row.id
            return row.items

    def __iter__(self) -> Iterator[Items]:
        if not self.shared:
            yield from self._local
            self._local = []
            return
        while (items := self._claim()) is not None:
            yield items

    def settle(self, session, asset_ids: Sequence[str]) -> bool:
        """Before committing a batch's results in ``session``: lock its row and mark it done by
        this worker. False (write nothing: roll back) when the lease was lost, to a worker that
        took the batch over after it expired, or to a new owner that planned the group again."""
        if not self.shared or not asset_ids:
            return True
        batch_id = self._batch_of.get(asset_ids[0])
        row = session.scalar(select(WorkBatch).where(WorkBatch.id == batch_id).with_for_update())
        if row is None or row.status != "running" or row.lease_owner != self.me:
            log.warning("batch %s of job %s was taken over by another worker; its results are dropped",
                        batch_id, self.job_id)
            return False
        row.status, row.done_by, row.finished_at = "done", self.me, now()
        return True

    def finished(self) -> bool:
        """After this worker's claims ran out: wait while other workers run the group's last
        batches. True when every batch is done; False when one can be claimed again (its worker's
        lease expired): iterate again.

        Raises:
            RunStopped: ``STOP`` was set while waiting.
        """
        while self.shared:
            with self.catalog.session() as s:
                open_rows = s.execute(select(WorkBatch.status, WorkBatch.lease_expires_at).where(
                    WorkBatch.job_id == self.job_id, WorkBatch.group == self.group,
                    WorkBatch.status != "done")).all()
            if not open_rows:
                return True
            t = now()
            if any(st == "pending" or (until is not None and until < t) for st, until in open_rows):
                return False
            check_stop()
            time.sleep(POLL_S)
        return True


def helpable_batch(catalog: Catalog) -> tuple[int, str] | None:
    """``(job_id, group)`` of a running job with a batch this worker could claim, or None
    (always None on SQLite: the job's own worker runs its batches)."""
    if not shared(catalog):
        return None
    with catalog.session() as s:
        row = s.execute(select(WorkBatch.job_id, WorkBatch.group).join(Job, Job.id == WorkBatch.job_id)
                        .where(Job.status == "running", _claimable_batch())
                        .order_by(WorkBatch.id).limit(1)).first()
    return (row.job_id, row.group) if row else None


@contextmanager
def catalog_wide(catalog: Catalog, name: str) -> Iterator[None]:
    """Hold the PostgreSQL advisory lock of catalog-wide stage ``name`` (``pg_advisory_lock`` on a
    connection kept for the block; the server drops it if this worker dies). A second worker waits
    for the first to finish, then finds the stage up to date. Taken by the stage's own run function,
    so every caller holds it (a job, a not-duplicates answer, a sidecar import, the CLI). No-op on
    SQLite (one writer)."""
    if not shared(catalog):
        yield
        return
    with catalog.engine.connect() as conn:
        key = advisory_key(name)
        conn.execute(select(func.pg_advisory_lock(key)))
        conn.commit()
        try:
            yield
        finally:
            conn.execute(select(func.pg_advisory_unlock(key)))
            conn.commit()
