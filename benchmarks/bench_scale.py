"""The catalog at scale: a synthetic catalog of N assets (default 100,000; run it once at 1,000,000)
with realistic rows, and what a user waits for on it.

The catalog: N assets (84 % JPEG, 8 % HEIC, 4 % RAW photos, 4 % MP4 videos) with one present file
each, plus 0.2 % files that failed to read; metadata (12 cameras, 5 % with none, a few ExifTool
tags as JSON), a capture date (88 % EXIF:DateTimeOriginal, 7 % QuickTime:CreationDate, 5 % file time
estimates) spread over 20 years, a position for a third (1 % of all assets with a rejected 0,0
placeholder instead), places with geohash and country, thumbnails, perceptual hashes (0.5 %
degenerate) and quality for every decodable asset, and stage records of the six stages up to
quality with their current version and parameters (embeddings, tags and descriptions never ran:
they are pending): 1 % decode failures in the pixel stages and 0.3 % ExifTool failures. 1 % of the
assets share the hashes of the one before (without signatures: the duplicate detector checks these
candidate pairs and reports no group). 2 % of the photos sit in bursts of five frames 0.3 s apart
with 64x64 signatures (the others have none: signatures only matter to bursts and duplicate
candidates, and this keeps 1M assets in a few GB).

Printed, per backend side by side (the SQLite file; and PostgreSQL with ``--database-url``, an
empty database):
  * bulk load: rows per second over all tables, written as a bulk import does (``bulk_writer``: COPY
    on PostgreSQL, one prepared executemany on SQLite, one transaction, batches of 10,000 assets),
    and the catalog's own ``writes.upsert`` rate beside it (``--upsert-assets``);
  * ``lumina gaps``: the first report (it builds the per-asset summary), the steady gap_report time
    (median of ``--repeats``), after 1 % of the assets changed, without the summary (with whether
    the reports agree), and that of ``--previous COMMIT``'s
    ``lumina/analysis/gaps.py`` (loaded from git) on the same catalog, with whether the counts agree;
  * the image list (GET /api/catalogs/{id}/images' query, catalog.queries.list_assets): a page of
    500 with two filters, p50 over ``--pages`` pages (the first page, with the total count of
    matches as the API asks for it, and keyset pages deep into the result) and the first page
    alone, for three filter pairs;
  * duplicates and bursts end to end (run_duplicates, run_bursts, forced): seconds;
  * the database size on disk (SQLite: file plus WAL; PostgreSQL: pg_database_size).

    python benchmarks/bench_scale.py [--assets 100000] [--repeats 3] [--pages 20] [--catalog DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CAMERAS = [("Apple", "iPhone 12"), ("Canon", "EOS 7D"), ("NIKON CORPORATION", "NIKON D750"), ("SONY", "ILCE-7M3"),
           ("FUJIFILM", "X-T3"), ("Google", "Pixel 6"), ("samsung", "SM-G991B"), ("OLYMPUS CORPORATION", "E-M10"),
           ("Panasonic", "DMC-GX80"), ("RICOH IMAGING COMPANY, LTD.", "GR III"), ("LEICA CAMERA AG", "Q2"),
           ("OnePlus", "KB2003")]
KINDS = [("jpeg", "photo", 84), ("heic", "photo", 8), ("raw", "photo", 4), ("mp4", "video", 4)]
COUNTRIES = ["FR", "DE", "US", "JP", "IT", "ES", "GB", "NL", "CH", "PT"]
BATCH = 10_000
BURST_SHARE, BURST_FRAMES = 0.02, 5
PIXEL_STAGES = ("thumbnails", "hashes", "quality")


def asset_rows(k: int, rng: random.Random, start: datetime, params: dict) -> dict[str, list[dict]]:
    """Every row of asset number ``k`` (ids ``f"{k:064x}"``), by table name."""
    from lumina.pipeline.scan import now
    from lumina.stages.dates import capture_period

    a = f"{k:064x}"
    r = rng.random()
    file_type, kind = next((t, m) for t, m, share in _cumulative() if r * 100 < share)
    in_burst = kind == "photo" and (k // BURST_FRAMES) % round(1 / BURST_SHARE) == 0
    # bursts spread over 20 years (a prime step: every year and month holds assets at any size)
    when = start + timedelta(seconds=(k // BURST_FRAMES) * 104_729 % (20 * 365 * 86400),
                             milliseconds=300 * (k % BURST_FRAMES))
    ts = now()
    path = f"/library/{when.year}/{when.month:02d}/IMG_{k:07d}.{file_type}"
    out: dict[str, list[dict]] = {t: [] for t in ("assets", "files", "metadata", "capture_dates", "places", "thumbnails",
                                                  "hashes", "quality", "stage_records")}
    out["assets"].append({"asset_id": a, "size_bytes": rng.randrange(1_000_000, 9_000_000), "media_kind": kind,
                          "file_type": file_type, "detected_by": "extension", "status": "active", "first_seen_at": ts})
    out["files"].append({"source_id": 1, "path_bytes": path.encode(), "path": path, "asset_id": a, "size_bytes": 1,
                         "mtime_ns": int(when.timestamp() * 1e9), "status": "present", "first_seen_at": ts,
                         "warnings": []})
    metadata_failed = rng.random() < 0.003
    decode_failed = rng.random() < 0.01 and not in_burst
    camera = None if rng.random() < 0.05 and not in_burst else CAMERAS[(k // BURST_FRAMES) % len(CAMERAS)]
    gps = (rng.uniform(-60, 70), rng.uniform(-180, 180)) if rng.random() < 1 / 3 else None
    placeholder = gps is None and rng.random() < 0.01
    if not metadata_failed:
        out["metadata"].append({"asset_id": a, "camera_make": camera and camera[0], "camera_model": camera and camera[1],
                                "width": 4000, "height": 3000, "mime_type": "image/jpeg", "orientation": 1,
                                "gps_latitude": gps and gps[0], "gps_longitude": gps and gps[1], "keywords": [],
                                "flags": [], "tags": {"EXIF:Make": camera and camera[0], "EXIF:ISO": 100,
                                                      "EXIF:FNumber": 2.8, "File:FileType": file_type.upper()}})
    source = "EXIF:DateTimeOriginal" if r < 0.88 else "QuickTime:CreationDate" if r < 0.95 else "mtime"
    estimated = source == "mtime" or metadata_failed
    stamp = when.isoformat(timespec="milliseconds" if in_burst else "seconds")
    out["capture_dates"].append({
        "asset_id": a, "capture_time": stamp, "capture_time_utc": stamp,
        **dict(zip(("capture_start_local", "capture_end_local"), capture_period(stamp, []))),
        "capture_time_source": "mtime" if estimated else source, "capture_time_confidence": 30 if estimated else 95,
        "utc_offset_minutes": None if estimated else 60, "flags": ["estimated"] if estimated else [], "candidates": []})
    if gps or placeholder:
        out["places"].append({"asset_id": a, "gps_latitude": gps and gps[0], "gps_longitude": gps and gps[1],
                              "gps_source": "EXIF" if gps else None, "geohash": None, "country_code": None, "flags": [],
                              "rejected": [{"reason": "placeholder 0,0", "latitude": 0.0, "longitude": 0.0}]
                              if placeholder else []})
        if gps:
            out["places"][-1].update(geohash=f"u{k % 9999:04d}xyz", country_code=COUNTRIES[k % len(COUNTRIES)])
    if not decode_failed:
        rel = f"thumbnails/{a[:2]}/{a}-s1-grid.webp"
        out["thumbnails"].append({"asset_id": a, "grid_path": rel, "grid_width": 256, "grid_height": 192,
                                  "grid_bytes": 9000, "preview_path": rel.replace("grid.webp", "preview.jpg"),
                                  "preview_width": 1440, "preview_height": 1080, "preview_bytes": 150_000,
                                  "thumbhash": rng.randbytes(24), "resizer": "libvips"})
        degenerate = rng.random() < 0.005
        # 1 % of the assets are copies of the one before (a re-encode: the same hashes)
        scene = random.Random(k - 1 if k % 100 == 1 and not in_burst else k)
        ahash, phash, whash, dhash = (scene.getrandbits(63) for _ in range(4))
        if in_burst:
            dhash = (k // BURST_FRAMES) * 7919 % (1 << 62)
        out["hashes"].append({"asset_id": a, "ahash": ahash, "dhash": dhash, "phash": phash,
                              "whash": whash, "degenerate": degenerate,
                              "degenerate_reason": "flat image" if degenerate else None,
                              "signature": _burst_signature(k // BURST_FRAMES, rng) if in_burst else None})
        out["quality"].append({"asset_id": a, "score": rng.uniform(20, 90), "sharpness": rng.uniform(5, 900),
                               "clipped_highlights": 0.01, "clipped_shadows": 0.02, "mean_luminance": 0.45,
                               "noise_sigma": 2.0, "megapixels": 12.0, "jpeg_quality": 92,
                               "components": {"sharpness": 0.7, "exposure": 0.8, "noise": 0.9},
                               "fidelity_score": 80.0, "format_rank": 3, "bytes_per_pixel": 0.3, "metadata_richness": 20})
    for stage, (version, params_of) in params.items():
        failed = (stage == "metadata" and metadata_failed) or (stage in PIXEL_STAGES and decode_failed)
        error = None
        if failed:
            error = ("exiftool_error: ExifTool exited with status 1" if stage == "metadata"
                     else "decode_error: cannot identify image file")
        out["stage_records"].append({"asset_id": a, "stage": stage, "version": version,
                                     "params_hash": params_of[file_type], "status": "failed" if failed else "ok",
                                     "error": error, "duration_ms": 12.5, "finished_at": ts})
    return out


def _burst_signature(burst: int, rng: random.Random) -> bytes:
    """A 64x64 grey signature: the burst's own scene plus a little noise per frame."""
    scene = random.Random(burst).randbytes(4096)
    return bytes(min(255, max(0, b + rng.randrange(-3, 4))) for b in scene)


def _cumulative():
    total = 0
    for file_type, kind, share in KINDS:
        total += share
        yield file_type, kind, total


def stage_params(settings: dict) -> dict:
    """stage -> (version, file_type -> params_hash) as the planner computes them for a file of that type."""
    from lumina.pipeline.runner import AssetView
    from lumina.stages import STAGES, make_stage

    out = {}
    for name in ("metadata", "geo", "dates", *PIXEL_STAGES):
        if name not in STAGES:
            continue
        stage = make_stage(name, settings)
        out[name] = (stage.version, {t: stage.params_hash(AssetView("0" * 64, f"/x.{t}".encode(), kind, t, 1, 0, None, None))
                                     for t, kind, _ in KINDS})
    return out


TABLE_ORDER = ("assets", "files", "metadata", "capture_dates", "places", "thumbnails", "hashes", "quality",
               "stage_records")  # parents first


def bulk_writer(conn):
    """A function ``write(table, rows)`` that appends ``rows`` (dicts, any subset of the columns) to
    ``table`` the way a bulk import does, in the caller's transaction: COPY through psycopg on
    PostgreSQL, the driver's executemany of one prepared INSERT on SQLite. Values go through each
    column type's own bind processor (the catalog's JSON, timestamp and boolean encodings), and a
    column left out gets its model default, exactly as an ORM or Core insert stores them."""
    from lumina.catalog.models import Base

    dialect = conn.dialect
    raw = conn.connection.driver_connection
    plans = {}

    def plan(table, given):
        # a column the rows leave out gets its model default; without one (generated ids, server
        # defaults) the database fills it
        columns = [c for c in Base.metadata.tables[table].columns if c.name in given or c.default is not None]
        processors = [c.type.dialect_impl(dialect).bind_processor(dialect) for c in columns]
        defaults = [None if c.default is None else
                    c.default.arg(None) if c.default.is_callable else c.default.arg for c in columns]
        names = ", ".join(f'"{c.name}"' for c in columns)
        if dialect.name == "postgresql":
            sql = f'COPY "{table}" ({names}) FROM STDIN'
        else:
            sql = f'INSERT INTO "{table}" ({names}) VALUES ({", ".join("?" * len(columns))})'
        return [c.name for c in columns], processors, defaults, sql

    def write(table: str, rows: list[dict]) -> int:
        key = (table, frozenset(rows[0]))
        names, processors, defaults, sql = plans.get(key) or plans.setdefault(key, plan(*key))
        tuples = [tuple((p(row[n]) if p else row[n]) if n in row else d
                        for n, p, d in zip(names, processors, defaults)) for row in rows]
        if dialect.name == "postgresql":
            with raw.cursor() as cur, cur.copy(sql) as copy:
                for t in tuples:
                    copy.write_row(t)
        else:
            raw.executemany(sql, tuples)
        return len(tuples)

    return write


def load(cat, n: int) -> tuple[int, float]:
    """Write the synthetic rows (``bulk_writer``, one transaction); returns (rows written, seconds)."""
    from lumina.pipeline.scan import now

    rng = random.Random(16)
    start = datetime(2005, 1, 1)
    params = stage_params(cat.settings)
    rows = 0
    t0 = time.perf_counter()
    with cat.engine.begin() as conn:
        write = bulk_writer(conn)
        rows += write("sources", [{"id": 1, "path_bytes": b"/library", "path": "/library", "added_at": now()}])
        for lo in range(0, n, BATCH):
            batch: dict[str, list[dict]] = {}
            for k in range(lo, min(n, lo + BATCH)):
                for table, items in asset_rows(k, rng, start, params).items():
                    batch.setdefault(table, []).extend(items)
            for table in TABLE_ORDER:
                if batch.get(table):
                    rows += write(table, batch[table])
        rows += write("files", [{"source_id": 1, "path_bytes": f"/library/broken/{k}.jpg".encode(),
                                 "path": f"/library/broken/{k}.jpg", "status": "failed",
                                 "error": "read_error: permission denied", "first_seen_at": now(), "warnings": []}
                                for k in range(n // 500)])
    return rows, time.perf_counter() - t0


def upsert_rate(cat, n: int) -> float:
    """Rows per second of the catalog's own write path (``lumina.catalog.writes.upsert``, the stage
    results' bulk upsert) for the rows of ``n`` more assets, committed per table and batch of 500
    assets as the runner does; the rows are deleted again afterwards."""
    from sqlalchemy import delete

    from lumina.catalog import models
    from lumina.catalog.writes import upsert

    by_table = {t.name: m.class_ for m in models.Base.registry.mappers for t in [m.local_table]}
    rng = random.Random(17)
    params = stage_params(cat.settings)
    first = 10 ** 12  # asset numbers far above the synthetic catalog's
    rows, t0 = 0, time.perf_counter()
    for lo in range(first, first + n, 500):
        batch: dict[str, list[dict]] = {}
        for k in range(lo, min(first + n, lo + 500)):
            for table, items in asset_rows(k, rng, datetime(2005, 1, 1), params).items():
                batch.setdefault(table, []).extend(items)
        with cat.session() as s:
            for table in TABLE_ORDER:
                if table == "files":
                    continue  # its key is a generated id: the scan inserts files, stages upsert results
                by_keys: dict[tuple, list[dict]] = {}
                for row in batch[table]:
                    by_keys.setdefault(tuple(row), []).append(row)
                for same in by_keys.values():
                    rows += upsert(s, by_table[table], same)
            s.commit()
    elapsed = time.perf_counter() - t0
    ids = [f"{k:064x}" for k in range(first, first + n)]
    with cat.session() as s:
        for table in reversed(TABLE_ORDER):
            if table != "files":
                model = by_table[table]
                s.execute(delete(model).where(model.asset_id.in_(ids)))
        s.commit()
    return rows / elapsed


def trigger_cost(cat, n: int, rounds: int = 3) -> tuple[float, float]:
    """Rows per second of ``writes.upsert`` for the rows of ``n`` new assets with the gap summary's
    triggers (migration 0018) and without them, alternating ``rounds`` times (medians); each round
    runs in one transaction that is rolled back, the triggers dropped inside it (DDL is
    transactional on both backends), so the catalog is left as it was."""
    from sqlalchemy import text

    from lumina.catalog import models
    from lumina.catalog.writes import upsert

    by_table = {t.name: m.class_ for m in models.Base.registry.mappers for t in [m.local_table]}
    params = stage_params(cat.settings)
    rng = random.Random(18)
    batch: dict[str, list[dict]] = {}
    for k in range(2 * 10 ** 12, 2 * 10 ** 12 + n):
        for table, items in asset_rows(k, rng, datetime(2005, 1, 1), params).items():
            batch.setdefault(table, []).extend(items)
    rates: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(rounds):
        for with_triggers in (True, False):
            with cat.session() as s:
                # a DML first: the sqlite3 driver opens its transaction only before one (a DDL alone
                # would autocommit and drop the triggers for good)
                s.execute(text("DELETE FROM gap_dirty WHERE asset_id = ''"))
                if not with_triggers:
                    names = s.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'gap_%'")
                                      if cat.engine.dialect.name == "sqlite" else
                                      text("SELECT tgname || ' ON ' || tgrelid::regclass FROM pg_trigger "
                                           "WHERE tgname LIKE 'gap_%'")).scalars().all()
                    for name in names:
                        s.execute(text(f"DROP TRIGGER {name}"))
                rows, t0 = 0, time.perf_counter()
                for table in TABLE_ORDER:
                    if table != "files":
                        rows += upsert(s, by_table[table], batch[table])
                s.flush()
                rates[with_triggers].append(rows / (time.perf_counter() - t0))
                s.rollback()
    return statistics.median(rates[True]), statistics.median(rates[False])


def touch_stage_records(cat, n: int) -> None:
    """Re-record the metadata stage of ``n`` random assets (the catalog's own upsert, same values but
    a new finish time), as a rescan after edits does; their gap summary rows go stale."""
    from sqlalchemy import select

    from lumina.catalog.models import StageRecord
    from lumina.catalog.writes import upsert
    from lumina.pipeline.scan import now

    with cat.session() as s:
        total = s.scalar(select(StageRecord.asset_id).order_by(StageRecord.asset_id.desc()).limit(1))
        picked = [f"{k:064x}" for k in random.Random(n).sample(range(int(total, 16) + 1), n)]
        rows = s.execute(select(StageRecord).where(StageRecord.asset_id.in_(picked), StageRecord.stage == "metadata"))
        upsert(s, StageRecord, [{"asset_id": r.asset_id, "stage": r.stage, "version": r.version, "params_hash": r.params_hash,
                                 "status": r.status, "error": r.error, "duration_ms": r.duration_ms, "finished_at": now()}
                                for (r,) in rows])
        s.commit()


def previous_gap_report(commit: str):
    """``gap_report`` of ``lumina/analysis/gaps.py`` as it was at ``commit`` (loaded from git)."""
    import subprocess
    import types

    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{commit}:lumina/analysis/gaps.py"], check=True,
                            capture_output=True, text=True).stdout
    module = types.ModuleType("gaps_previous")
    exec(compile(source, f"gaps.py@{commit}", "exec"), module.__dict__)
    return module.gap_report


def database_bytes(cat) -> int:
    from sqlalchemy import func, select

    if cat.engine.dialect.name == "postgresql":
        with cat.engine.connect() as conn:
            return conn.scalar(select(func.pg_database_size(func.current_database())))
    return sum(p.stat().st_size for p in Path(cat.path).glob("catalog.db*"))


def timed(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def image_pages(cat, filters: dict, pages: int) -> list[float]:
    """Seconds per page of 500 under ``filters``: the first page (with the total count of matches, as
    GET /api/catalogs/{id}/images asks for it), then keyset pages following it."""
    from lumina.catalog.queries import list_assets

    times, cursor = [], None
    with cat.session() as s:
        for _ in range(pages):
            t0 = time.perf_counter()
            page = list_assets(s, filters, cursor=cursor, limit=500, total=cursor is None)  # as the API asks
            times.append(time.perf_counter() - t0)
            cursor = page["next_cursor"]  # None at the end: back to the first page
    return times


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--assets", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--pages", type=int, default=20)
    ap.add_argument("--catalog", type=Path, help="keep the catalogs in DIR/sqlite and DIR/postgresql (default: a "
                                                  "temporary folder); a catalog already loaded there is measured again")
    ap.add_argument("--database-url", help="an empty PostgreSQL database for a second, side-by-side run")
    ap.add_argument("--previous", help="also time the gap report of this commit's lumina/analysis/gaps.py "
                                       "(e.g. d8e586a, before it was aggregate SQL)")
    ap.add_argument("--previous-repeats", type=int, help="repeats of the previous code's report (default: --repeats)")
    ap.add_argument("--only", choices=("sqlite", "postgresql"), help="run one backend only")
    ap.add_argument("--trigger-cost", type=int, default=0, metavar="N",
                    help="also time writes.upsert of N assets' rows with and without the gap summary's triggers")
    ap.add_argument("--skip-clusters", action="store_true", help="leave out duplicates and bursts")
    ap.add_argument("--upsert-assets", type=int, default=2_000,
                    help="assets whose rows also go through the catalog's own upsert, for its rate (0: skip)")
    args = ap.parse_args()
    os.environ.setdefault("LUMINA_SETTLE_S", "0")
    backends = [("sqlite", None)] + ([("postgresql", args.database_url)] if args.database_url else [])
    backends = [b for b in backends if args.only in (None, b[0])]
    print(f"bench_scale: {args.assets:,} assets; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    results = {}
    for name, url in backends:
        with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
            folder = (args.catalog or Path(tmp)) / name
            results[name] = run_one(folder, url, args)
    labels = list(results)
    print()
    print("| measure | " + " | ".join(labels) + " |")
    print("|---|" + "---|" * len(labels))
    for key in results[labels[0]]:
        print(f"| {key} | " + " | ".join(str(results[b].get(key, "-")) for b in labels) + " |")


def run_one(folder: Path, url: str | None, args) -> dict:
    from lumina.analysis.gaps import gap_report
    from lumina.catalog.copy import refresh_statistics
    from sqlalchemy import delete, func, select

    from lumina.catalog.db import open_catalog
    from lumina.catalog.models import Asset

    t0 = time.perf_counter()
    cat = open_catalog(folder, database_url=url)  # an existing catalog is migrated here
    backend = cat.engine.dialect.name
    print(f"[{backend}] catalog opened (and migrated) in {time.perf_counter() - t0:.1f} s", flush=True)
    if url and backend != "postgresql":
        sys.exit("--database-url: this catalog code does not open PostgreSQL catalogs yet (issue 16's plumbing)")
    out = {}
    with cat.session() as s:
        loaded = s.scalar(select(func.count()).select_from(Asset))
    if loaded:
        print(f"[{backend}] {loaded:,} assets already loaded in {folder}: measured again", flush=True)
        out["rows loaded"] = f"({loaded:,} assets, loaded before)"
    else:
        rows, load_s = load(cat, args.assets)
        refresh_statistics(cat)  # what autovacuum does a minute after a bulk load (PostgreSQL only)
        out["rows loaded"] = f"{rows:,}"
        out["bulk load (rows/s)"] = f"{rows / load_s:,.0f}"
        print(f"[{backend}] loaded {rows:,} rows in {load_s:.1f} s ({rows / load_s:,.0f} rows/s)", flush=True)
    if args.trigger_cost:
        with_t, without_t = trigger_cost(cat, args.trigger_cost)
        out[f"writes.upsert with / without the summary triggers (rows/s, {args.trigger_cost:,} assets)"] = \
            f"{with_t:,.0f} / {without_t:,.0f} ({with_t / without_t:.2f}x)"
        print(f"[{backend}] upsert with triggers {with_t:,.0f} rows/s, without {without_t:,.0f}", flush=True)
    if args.upsert_assets:
        rate = upsert_rate(cat, args.upsert_assets)
        out[f"writes.upsert (rows/s, {args.upsert_assets:,} assets)"] = f"{rate:,.0f}"
        print(f"[{backend}] writes.upsert {rate:,.0f} rows/s", flush=True)
    if loaded:  # a kept catalog: forget its summary, so that the first report below builds it again
        from lumina.analysis.gaps import SUMMARY_STATE_KEY
        from lumina.catalog.models import CatalogState

        with cat.session() as s:
            s.execute(delete(CatalogState).where(CatalogState.key == SUMMARY_STATE_KEY))
            s.commit()
    t0 = time.perf_counter()
    gap_report(cat)  # the first report after the load builds the per-asset summary
    out["lumina gaps, first after the load: builds the summary (s)"] = f"{time.perf_counter() - t0:.1f}"
    print(f"[{backend}] first gap report (builds the summary) {out['lumina gaps, first after the load: builds the summary (s)']} s",
          flush=True)
    gaps_s, report = timed(lambda: gap_report(cat), args.repeats)
    out["lumina gaps (s, median)"] = f"{gaps_s:.2f}"
    touched = args.assets // 100
    changed_s, changed = timed(lambda: (touch_stage_records(cat, touched), gap_report(cat))[1], args.repeats)
    out["lumina gaps after 1 % of the assets changed (s, median; with the upsert)"] = f"{changed_s:.2f}"
    direct_s, direct = timed(lambda: gap_report(cat, summary=False), 1)
    out["lumina gaps without the summary (s)"] = f"{direct_s:.2f} (same report: {direct == changed})"
    print(f"[{backend}] after 1 % changed {changed_s:.2f} s; without the summary {out['lumina gaps without the summary (s)']}",
          flush=True)
    report = changed  # the catalog as it is now, for the previous code's report
    if args.previous:
        previous = previous_gap_report(args.previous)
        old_s, old = timed(lambda: previous(cat), args.previous_repeats or args.repeats)
        old.pop("catalog"), report.pop("catalog")
        same = {k: v for k, v in old.items() if k != "cameras"} == {k: v for k, v in report.items() if k != "cameras"}
        out[f"lumina gaps at {args.previous} (s, median of {args.previous_repeats or args.repeats})"] = f"{old_s:.2f} (same counts: {same})"
        print(f"[{backend}] previous gap report ({args.previous}) {old_s:.2f} s; same counts: {same}", flush=True)
    print(f"[{backend}] gap report {gaps_s:.2f} s (median of {args.repeats}); total_assets {report['total_assets']:,}, "
          f"pending {sum(j['pending'] for j in report['job_order'])}", flush=True)
    for label, filters in (("camera + has_gps", {"camera": "canon", "has_gps": True}),
                           ("date range + file_type", {"date_from": "2010", "date_to": "2014", "file_type": "jpeg"}),
                           ("country + camera", {"country": "FR", "camera": "iphone"})):
        times = image_pages(cat, filters, args.pages)
        out[f"image list, 500, {label}: p50 / first page with total (ms)"] = \
            f"{pct(times, 0.5) * 1000:.0f} / {times[0] * 1000:.0f}"
        print(f"[{backend}] image list {label}: p50 {pct(times, 0.5) * 1000:.0f} ms, first page "
              f"{times[0] * 1000:.0f} ms", flush=True)
    cat.close()
    if not args.skip_clusters:
        from lumina.pipeline.bursts_run import run_bursts
        from lumina.pipeline.duplicates_run import run_duplicates

        cat = open_catalog(folder)
        t0 = time.perf_counter()
        stats = run_bursts(cat, force=True)
        out["bursts end to end (s)"] = f"{time.perf_counter() - t0:.1f} ({stats.get('bursts')} bursts)"
        t0 = time.perf_counter()
        stats = run_duplicates(cat, force=True)
        out["duplicates end to end (s)"] = f"{time.perf_counter() - t0:.1f} ({stats.get('groups')} groups)"
        print(f"[{backend}] bursts {out['bursts end to end (s)']}, duplicates {out['duplicates end to end (s)']}", flush=True)
        cat.close()
        cat = open_catalog(folder)
    out["database size (MB)"] = f"{database_bytes(cat) / 1e6:,.0f}"
    cat.close()
    return out


if __name__ == "__main__":
    main()
