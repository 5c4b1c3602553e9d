"""Date ranges on timestamp columns (issue 16) on a synthetic catalog of N dated assets.

The catalog: N photos with one present file each and a capture time spread over 20 years (90 % to
the second, 5 % dated only to their day, 5 % only to their month, as folder names date them).
Printed per backend (the SQLite file; and PostgreSQL with ``--database-url``, an empty database):

  * migration 0017's back-fill (the catalog taken down to 0016, then up again): rows per second;
  * a date-range query, the grid's first 100 in capture order within three months, p50 over
    ``--repeats`` runs: on the timestamp columns (what ``list_assets`` runs) against the ISO-string
    comparison it replaced (the baseline, rebuilt here), and the whole ``list_assets`` page;
  * counts by month grouped by EXTRACT (strftime on SQLite) of the timestamp against ``substr`` of the
    displayed string (what ``timeline`` groups by: the same month), and ``timeline`` itself.

    python benchmarks/bench_date_ranges.py [--assets 200000] [--repeats 15] [--database-url postgresql://...]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench_scale import timed  # noqa: E402  (median seconds of repeated calls, and the last result)

BATCH = 10_000


def build(folder: Path, n: int, database_url: str | None):
    """The catalog in ``folder`` with ``n`` dated assets; returns it open."""
    from sqlalchemy import insert

    from lumina.catalog.db import open_catalog
    from lumina.catalog.models import Asset, CaptureDate, FileInstance, Source
    from lumina.pipeline.scan import now
    from lumina.stages.dates import capture_period

    cat = open_catalog(folder, database_url=database_url)
    rng, start, ts = random.Random(16), datetime(2005, 1, 1), now()
    with cat.engine.begin() as conn:
        conn.execute(insert(Source), [{"id": 1, "path_bytes": b"/lib", "path": "/lib", "added_at": ts}])
        for first in range(0, n, BATCH):
            ids = [f"{k:064x}" for k in range(first, min(n, first + BATCH))]
            dates = []
            for a in ids:
                when, r = start + timedelta(seconds=rng.randrange(20 * 365 * 86400)), rng.random()
                flags = ["month_only"] if r < 0.05 else ["date_only"] if r < 0.10 else []
                if flags:
                    when = when.replace(day=1 if flags == ["month_only"] else when.day, hour=0, minute=0, second=0)
                stamp = when.isoformat()
                lo, hi = capture_period(stamp, flags)
                dates.append({"asset_id": a, "capture_time": stamp, "capture_time_source": "EXIF:DateTimeOriginal",
                              "capture_time_confidence": 95, "flags": flags, "candidates": [],
                              "capture_start_local": lo, "capture_end_local": hi})
            conn.execute(insert(Asset), [{"asset_id": a, "size_bytes": 3_000_000, "media_kind": "photo", "file_type": "jpeg",
                                          "detected_by": "extension", "status": "active", "first_seen_at": ts} for a in ids])
            conn.execute(insert(FileInstance), [{"source_id": 1, "path_bytes": f"/lib/{a[-8:]}.jpg".encode(),
                                                 "path": f"/lib/{a[-8:]}.jpg", "asset_id": a, "status": "present",
                                                 "first_seen_at": ts, "warnings": []} for a in ids])
            conn.execute(insert(CaptureDate), dates)
    return cat


def migrate_to(cat, revision: str) -> float:
    """Seconds to migrate the catalog to ``revision`` (up or down)."""
    from alembic import command

    from lumina.catalog.db import alembic_config

    began = time.perf_counter()
    with cat.engine.begin() as conn:
        cfg = alembic_config(cat.engine.url.render_as_string(hide_password=False))
        cfg.attributes["connection"] = conn
        (command.downgrade if revision == "0016" else command.upgrade)(cfg, revision)
    return time.perf_counter() - began


def measure(cat, n: int, repeats: int) -> dict[str, str]:
    from sqlalchemy import Integer, cast, extract, func, select

    from lumina.catalog.db import HEAD_REVISION
    from lumina.catalog.models import Asset, CaptureDate
    from lumina.catalog.queries import list_assets, timeline
    from lumina.stages.dates import MAX_PERIOD, iso_period

    migrate_to(cat, "0016")
    fill_s = migrate_to(cat, HEAD_REVISION)
    lo, hi = iso_period("2012-03")[0], iso_period("2012-05")[1]
    page = select(CaptureDate.asset_id).join(Asset, Asset.asset_id == CaptureDate.asset_id).limit(100)
    stamps = page.where(CaptureDate.capture_end_local > lo, CaptureDate.capture_start_local > lo - MAX_PERIOD,
                        CaptureDate.capture_start_local < hi) \
        .order_by(CaptureDate.capture_start_local, CaptureDate.asset_id)
    strings = page.where(CaptureDate.capture_time >= "2012-03", CaptureDate.capture_time < "2012-06") \
        .order_by(CaptureDate.capture_time, CaptureDate.asset_id)
    month = func.substr(CaptureDate.capture_time, 1, 7)
    by_month_strings = select(month, func.count()).where(CaptureDate.capture_time.is_not(None)).group_by(month)
    year, mon = (cast(extract(p, CaptureDate.capture_start_local), Integer) for p in ("year", "month"))
    by_month_stamps = select(year, mon, func.count()).where(CaptureDate.capture_start_local.is_not(None)) \
        .group_by(year, mon)
    with cat.session() as s:
        q_new, rows_new = timed(lambda: s.execute(stamps).all(), repeats)
        q_old, rows_old = timed(lambda: s.execute(strings).all(), repeats)
        q_page, _ = timed(lambda: list_assets(s, {"date_from": "2012-03", "date_to": "2012-05"}, limit=100), repeats)
        total = list_assets(s, {"date_from": "2012-03", "date_to": "2012-05"}, limit=1, total=True)["total"]
        t_new, months_new = timed(lambda: s.execute(by_month_stamps).all(), max(3, repeats // 5))
        t_old, months_old = timed(lambda: s.execute(by_month_strings).all(), max(3, repeats // 5))
        t_api, _ = timed(lambda: timeline(s, {}), max(3, repeats // 5))
    return {"back-fill (0016 -> 0017)": f"{n / fill_s:,.0f} rows/s ({fill_s:.1f} s)",
            "range page, timestamps p50": f"{q_new * 1000:.1f} ms",
            "range page, strings p50 (baseline)": f"{q_old * 1000:.1f} ms ({q_new / q_old:.2f}x)",
            "list_assets page of 100, 2012-03..05": f"{q_page * 1000:.1f} ms ({total:,} match)",
            "rows in the range (stamps / strings)": f"{len(rows_new)} / {len(rows_old)} of the first 100",
            "months by EXTRACT/strftime (not used)": f"{t_new * 1000:.0f} ms ({len(months_new)} months)",
            "months by substr (what timeline() groups)": f"{t_old * 1000:.0f} ms ({t_new / t_old:.2f}x, {len(months_old)} months)",
            "timeline() with the filters' joins": f"{t_api * 1000:.0f} ms"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--assets", type=int, default=200_000)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--database-url", help="an empty PostgreSQL database for a second, side-by-side run")
    args = ap.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend, url in (("sqlite", None), ("postgresql", args.database_url)):
            if backend == "postgresql" and not url:
                continue
            began = time.perf_counter()
            cat = build(Path(tmp) / backend, args.assets, url)
            print(f"{backend}: {args.assets:,} assets built in {time.perf_counter() - began:.0f} s", flush=True)
            results[backend] = measure(cat, args.assets, args.repeats)
            cat.close()
    keys = list(next(iter(results.values())))
    width = max(map(len, keys))
    print(f"{'':{width}}  " + "  ".join(f"{b:>36}" for b in results))
    for k in keys:
        print(f"{k:{width}}  " + "  ".join(f"{results[b][k]:>36}" for b in results))


if __name__ == "__main__":
    main()
