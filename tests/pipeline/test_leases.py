"""Several workers on one catalog (issue 16 item 3), on a real PostgreSQL server; SQLite's one writer.

The server and a fresh migrated database per test come from the PostgreSQL fixtures of
tests/conftest.py (``pg_url``); every worker is a real ``lumina worker --once`` process on the
real corpus; nothing of ours is patched.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import select

from lumina.analysis.gaps import gap_report
from lumina.catalog.db import open_catalog
from lumina.catalog.models import Asset, Job, StageRecord, WorkBatch
from lumina.pipeline import leases
from lumina.pipeline.jobs import submit
from lumina.stages import STAGES
from tests.conftest import gap_counts

ROOT = Path(__file__).resolve().parents[2]


def _worker(folder: Path, lease_s: float) -> subprocess.Popen:
    """``lumina worker --once`` with one stage process (two workers share the machine's two cores),
    in a session of its own (a SIGKILL of its group takes its ExifTool too)."""
    env = {**os.environ, "LUMINA_LEASE_S": str(lease_s)}
    return subprocess.Popen([sys.executable, "-m", "lumina", "worker", "--once", "--poll", "0.2", "--workers", "1",
                             "--catalog", str(folder)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _kill(proc: subprocess.Popen) -> None:
    """SIGKILL the worker and its children (no chance to finish its batch or release its leases)."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


def _finish(proc: subprocess.Popen, timeout_s: float = 900) -> str:
    out, err = proc.communicate(timeout=timeout_s)
    assert proc.returncode == 0, err[-3000:]
    return out


def _wait_for(catalog, query, timeout_s: float = 300):
    """The first row of ``query`` once there is one (polled every 50 ms)."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        with catalog.session() as s:
            row = s.execute(query).first()
        if row is not None:
            return row
        time.sleep(0.05)
    raise AssertionError(f"nothing matched {query} in {timeout_s} s")


def _pid_part(pid: int) -> str:
    return f"%:{pid}:%"  # worker ids are host:pid:random


def _completion_log(catalog) -> tuple[Counter, set, list[WorkBatch]]:
    """Asset-stage units per done batch (a Counter: each must be 1), the per-asset stage records,
    and every batch row."""
    with catalog.session() as s:
        batches = s.scalars(select(WorkBatch).order_by(WorkBatch.id)).all()
        records = {(r.asset_id, r.stage) for r in s.execute(select(StageRecord.asset_id, StageRecord.stage))
                   if r.stage in STAGES}
    units = Counter((asset_id, stage) for b in batches if b.status == "done"
                    for asset_id, stages in b.items for stage in stages)
    return units, records, batches


def _assert_complete_once(catalog) -> list[WorkBatch]:
    """Every asset-stage unit was committed by exactly one done batch, and they are all the
    per-asset stage records there are (nothing lost, nothing doubled); every batch is done."""
    units, records, batches = _completion_log(catalog)
    assert batches and all(b.status == "done" for b in batches), [(b.id, b.status) for b in batches if b.status != "done"]
    assert max(units.values()) == 1, [u for u, n in units.items() if n > 1][:5]
    assert set(units) == records
    with catalog.session() as s:
        assets = s.scalar(select(Asset.asset_id).limit(1))
        job = s.scalar(select(Job))
    assert assets is not None and job.status == "succeeded", (job.status, job.error)
    catalog_wide = sum(c["ok"] + c["failed"] for name, c in job.stages.items() if name not in STAGES)
    assert job.done + job.failed == len(records) + catalog_wide  # the job's counts: each unit once
    return batches


def _scan_job(pg_url: str, root: Path, tmp_path: Path):
    """A new PostgreSQL catalog in ``tmp_path`` with a queued scan job of ``root``; its folder and catalog."""
    folder = tmp_path / "catalog"
    catalog = open_catalog(folder, database_url=pg_url)
    submit(catalog, "scan", {"roots": [str(root)]})
    return folder, catalog


def _holding_a_batch(worker: subprocess.Popen):
    """A running batch leased to ``worker``."""
    return select(WorkBatch.id).where(WorkBatch.status == "running", WorkBatch.lease_owner.like(_pid_part(worker.pid)))


def test_two_workers_finish_the_corpus_once_each_with_the_gaps_of_one(pg_url, corpus, corpus_catalog, tmp_path):
    folder, catalog = _scan_job(pg_url, corpus, tmp_path)
    workers = [_worker(folder, 60), _worker(folder, 60)]
    outputs = sorted(_finish(w) for w in workers)
    assert outputs[0] == "" and outputs[1].startswith("job 1 scan: succeeded")  # one owner, one helper
    batches = _assert_complete_once(catalog)
    by_worker = Counter(b.done_by for b in batches)
    assert len(by_worker) == 2, by_worker  # both did batches
    # the same gap report as the one-worker SQLite scan of the same corpus
    assert gap_counts(gap_report(catalog)) == gap_counts(gap_report(corpus_catalog))
    catalog.close()


def test_a_helper_killed_mid_batch_is_covered_by_the_owner(pg_url, corpus, tmp_path):
    folder, catalog = _scan_job(pg_url, corpus / "exif-samples", tmp_path)
    owner = _worker(folder, 3)
    _wait_for(catalog, select(Job.id).where(Job.status == "running", Job.worker_id.like(_pid_part(owner.pid))))
    helper = _worker(folder, 3)
    _wait_for(catalog, _holding_a_batch(helper))
    _kill(helper)
    with catalog.session() as s:  # what the helper held when it died
        orphaned = s.scalars(_holding_a_batch(helper)).all()
    assert orphaned
    _finish(owner)
    batches = {b.id: b for b in _assert_complete_once(catalog)}
    for batch_id in orphaned:  # claimed again after the lease expired, finished by the owner
        assert batches[batch_id].attempts == 2 and f":{owner.pid}:" in batches[batch_id].done_by
    catalog.close()


def test_an_owner_killed_mid_batch_hands_its_job_to_the_next_worker(pg_url, corpus, tmp_path):
    folder, catalog = _scan_job(pg_url, corpus / "exif-samples", tmp_path)
    first = _worker(folder, 3)
    _wait_for(catalog, _holding_a_batch(first))
    _kill(first)
    second = _worker(folder, 3)
    assert _finish(second).startswith("job 1 scan: succeeded")
    _assert_complete_once(catalog)
    with catalog.session() as s:
        job = s.scalar(select(Job))
    assert job.attempts == 2 and f":{second.pid}:" in job.worker_id
    assert f":{first.pid}:" in job.error  # the note of the interruption names the lost worker
    catalog.close()


def test_catalog_wide_stages_take_turns_under_the_advisory_lock(pg_url, tmp_path):
    catalog = open_catalog(tmp_path / "catalog", database_url=pg_url)
    order: list[str] = []
    first_in = threading.Event()

    def second() -> None:
        first_in.wait()
        with leases.catalog_wide(catalog, "duplicates"):
            order.append("second in")

    thread = threading.Thread(target=second)
    thread.start()
    with leases.catalog_wide(catalog, "duplicates"):
        first_in.set()
        time.sleep(0.5)  # the second worker is waiting on the lock meanwhile
        with leases.catalog_wide(catalog, "bursts"):  # another stage's lock is free
            order.append("bursts too")
        order.append("first out")
    thread.join(timeout=30)
    assert order == ["bursts too", "first out", "second in"]
    catalog.close()


def test_a_second_worker_on_sqlite_is_told_about_the_single_writer(tmp_path, monkeypatch):
    monkeypatch.delenv("LUMINA_DATABASE_URL", raising=False)  # SQLite under either --backend
    catalog = open_catalog(tmp_path / "catalog")
    submit(catalog, "pipeline")
    with catalog.writer():  # a scan or worker holding the catalog
        result = subprocess.run([sys.executable, "-m", "lumina", "worker", "--once", "--catalog",
                                 str(tmp_path / "catalog")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "is a SQLite catalog, which takes one writer at a time" in result.stderr
    assert f"(pid {os.getpid()})" in result.stderr and "PostgreSQL catalog" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr  # one clear line
    catalog.close()
