"""Burst detection over a synthetic catalog: time and peak memory at 10k and 100k assets.

Each size is built by one process and measured in another, on a fresh SQLite catalog with assets, files, metadata (500
cameras), capture dates with sub-seconds, hashes with 64x64 signatures and quality rows: 25 % of the
assets are burst frames (runs of 3-8 frames 0.2 s apart, dHash 0-3 bits apart), the rest single
shots minutes apart. Printed: the whole ``run_bursts`` (load, detect, write the generation) with its
load/detect split, bursts found against bursts planted, peak RSS, and the 10k -> 100k time ratio
(10.0 would be linear; the sweep is O(n log n)). Target: 100k in under 5 s.

    python benchmarks/bench_bursts.py [--sizes 10000 100000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def build(where: Path, n: int, seed: int = 5) -> int:
    """A catalog of n assets; returns the number of planted bursts."""
    from sqlalchemy import insert

    from lumina.catalog.db import open_catalog
    from lumina.catalog.models import (Asset, CaptureDate, FileInstance, Metadata, PerceptualHash, Quality,
                                       Source, StageRecord)
    from lumina.pipeline.scan import now
    from lumina.stages.hashes import to_signed

    rng = np.random.default_rng(seed)
    cat = open_catalog(where)
    t0, stamp = datetime(2020, 1, 1), now()
    rows: dict[str, list] = {k: [] for k in ("asset", "file", "meta", "date", "hash", "quality", "record")}
    k, planted, clock = 0, 0, {c: t0 for c in range(500)}
    base = rng.integers(0, 256, size=(64, 64), dtype=np.uint8)
    while k < n:
        cam = int(rng.integers(0, 500))
        size = int(rng.integers(3, 9)) if rng.random() < 0.06 else 1
        planted += size > 1
        code = int(rng.integers(0, 2 ** 63))
        sig = (base + cam % 97).astype(np.uint8).tobytes()
        clock[cam] += timedelta(minutes=int(rng.integers(2, 600)))
        for f in range(min(size, n - k)):
            aid = f"{k:064x}"
            when = clock[cam] + timedelta(seconds=0.2 * f)
            code ^= 1 << int(rng.integers(0, 64)) if f else 0
            rows["asset"].append({"asset_id": aid, "size_bytes": 1000, "media_kind": "photo", "file_type": "jpeg",
                                  "detected_by": "extension", "status": "active", "first_seen_at": stamp})
            rows["file"].append({"source_id": 1, "path_bytes": f"/lib/{k}.jpg".encode(), "path": f"/lib/{k}.jpg",
                                 "asset_id": aid, "status": "present", "first_seen_at": stamp, "warnings": []})
            rows["meta"].append({"asset_id": aid, "camera_make": "Make", "camera_model": f"Model {cam}",
                                 "keywords": [], "flags": [], "tags": {}})
            rows["date"].append({"asset_id": aid, "capture_time": when.isoformat(timespec="milliseconds"),
                                 "capture_time_source": "EXIF:DateTimeOriginal", "capture_time_confidence": 95,
                                 "flags": [], "candidates": []})
            c = to_signed(code)
            rows["hash"].append({"asset_id": aid, "ahash": c, "dhash": c, "phash": c, "whash": c,
                                 "degenerate": False, "signature": sig})
            rows["quality"].append({"asset_id": aid, "score": 50.0, "sharpness": float(rng.uniform(10, 500)),
                                    "clipped_highlights": 0.0, "clipped_shadows": 0.0, "mean_luminance": 0.5,
                                    "noise_sigma": 1.0, "megapixels": 12.0, "components": {"exposure": 0.9},
                                    "fidelity_score": 50.0, "format_rank": 1, "bytes_per_pixel": 0.3,
                                    "metadata_richness": 2})
            k += 1
    with cat.engine.begin() as conn:
        conn.execute(insert(Source), [{"id": 1, "path_bytes": b"/lib", "path": "/lib", "added_at": stamp}])
        for model, key in ((Asset, "asset"), (FileInstance, "file"), (Metadata, "meta"), (CaptureDate, "date"),
                           (PerceptualHash, "hash"), (Quality, "quality")):
            for start in range(0, len(rows[key]), 20_000):
                conn.execute(insert(model), rows[key][start:start + 20_000])
    cat.close()
    return planted


def child(where: Path) -> dict:
    """Measured in a process of its own, after the catalog was built by another (peak RSS is ours)."""
    from lumina.analysis.bursts import detect, load_frames, load_signatures
    from lumina.catalog.db import open_catalog
    from lumina.pipeline.bursts_run import run_bursts

    cat = open_catalog(where)
    start = time.perf_counter()
    stats = run_bursts(cat, force=True)
    total = time.perf_counter() - start
    with cat.session() as s:
        t0 = time.perf_counter()
        frames = load_frames(s)
        t1 = time.perf_counter()
        detect(frames, cat.settings, None, lambda ids: load_signatures(s, frames, ids))
        t2 = time.perf_counter()
    cat.close()
    return {"run_s": round(total, 2), "load_s": round(t1 - t0, 2), "detect_s": round(t2 - t1, 2),
            "bursts": stats["bursts"], "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000])
    ap.add_argument("--build", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.build:
        print(json.dumps({"planted": build(Path(args.build[1]), int(args.build[0]))}))
        return
    if args.child:
        print(json.dumps(child(Path(args.child))))
        return
    times = {}
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            run = [sys.executable, __file__]
            built = subprocess.run(run + ["--build", str(n), f"{tmp}/cat"], capture_output=True, text=True, check=True)
            out = subprocess.run(run + ["--child", f"{tmp}/cat"], capture_output=True, text=True, check=True)
        r = {"n": n, **json.loads(built.stdout.splitlines()[-1]), **json.loads(out.stdout.splitlines()[-1])}
        times[n] = r["run_s"]
        print(f"bursts n={n:>8,}: {r['run_s']:6.2f} s whole run (load {r['load_s']} s, detect {r['detect_s']} s), "
              f"{r['bursts']:,} bursts found / {r['planted']:,} planted, peak RSS {r['rss_mib']} MiB")
    if len(times) >= 2:
        (a, ta), (b, tb) = sorted(times.items())[0], sorted(times.items())[-1]
        print(f"scaling {a:,} -> {b:,} assets: time x{tb / ta:.1f} for x{b / a:.0f} assets")


if __name__ == "__main__":
    main()
