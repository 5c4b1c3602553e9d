"""Pipeline throughput on the real corpus: process pool with 1 and 2 workers, and a Dask
LocalCluster with 2 workers, in one run.

Each configuration gets a fresh catalog with the corpus files registered (``scan`` without stages),
then ``lumina run``'s code path (a ``pipeline`` job run in this process) is timed: every per-asset
stage and the catalog-wide ones. Printed: seconds, assets per second, and the ratio to 1 worker.

    python benchmarks/bench_pipeline.py [--corpus ../shared/corpus/real]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def timed(corpus: Path, overrides: dict) -> tuple[float, int, dict]:
    from sqlalchemy import func, select

    from lumina.catalog.db import open_catalog
    from lumina.catalog.models import Asset
    from lumina.pipeline.jobs import run_now
    from lumina.pipeline.scan import scan

    with tempfile.TemporaryDirectory() as tmp:
        cat = open_catalog(Path(tmp) / "cat", overrides=overrides)
        scan(cat, [corpus], run_stages=False)
        with cat.session() as s:
            assets = s.scalar(select(func.count()).select_from(Asset))
        start = time.perf_counter()
        doc = run_now(cat, "pipeline")
        elapsed = time.perf_counter() - start
        cat.close()
    return elapsed, assets, doc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus" / "real")
    args = ap.parse_args()
    os.environ.setdefault("LUMINA_SETTLE_S", "0")
    results = {}
    for label, overrides in (("process pool, 1 worker", {"workers": 1}), ("process pool, 2 workers", {"workers": 2})):
        results[label] = timed(args.corpus, overrides)
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        results["Dask LocalCluster, 2 workers"] = timed(args.corpus, {"dask_scheduler": cluster.scheduler_address})
    base = results["process pool, 1 worker"][0]
    for label, (elapsed, assets, doc) in results.items():
        print(f"{label:<30} {elapsed:7.1f} s  {assets / elapsed:6.1f} assets/s  x{base / elapsed:.2f} vs 1 worker  "
              f"({doc['done']} units done, {doc['failed']} failed, status {doc['status']})")


if __name__ == "__main__":
    main()
