"""Pixel stages (thumbnails + hashes + quality) from one decode, against a baseline that decodes each
file at full size separately for every output, as the system Lumina replaces did.

Prints images/s for ../shared/corpus/large (8 camera JPEGs, 6-22 MP) and the corpus JPEGs, the
speed-up, peak RSS of the worker process and thumbnail bytes per image. Single process, medians.

    python benchmarks/bench_pixels.py [--runs N]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "corpus"


def ours(paths: list[Path], catalog_dir: str) -> tuple[float, int]:
    from lumina.pipeline.runner import StageGroup
    from lumina.settings import load_settings
    from lumina.stages.base import AssetView

    settings = load_settings()
    settings["catalog_dir"] = catalog_dir
    group = StageGroup(["thumbnails", "hashes", "quality"], settings)
    items = [(AssetView(f"{i:064x}", os.fsencode(p), "photo", "jpeg", p.stat().st_size, 0, inputs={"metadata": None}),
              ("thumbnails", "hashes", "quality")) for i, p in enumerate(paths)]
    start = time.perf_counter()
    results = group.run(items)
    elapsed = time.perf_counter() - start
    assert all(d.result.status == "ok" for _, d in results), [d.result.reason for _, d in results if d.result.reason]
    thumb_bytes = sum(d.result.values["grid_bytes"] + d.result.values["preview_bytes"]
                      for n, d in results if n == "thumbnails")
    return elapsed, thumb_bytes


def baseline(paths: list[Path], out_dir: str) -> float:
    """Full-size decode per output: grid thumbnail, preview, four hashes, quality."""
    import imagehash
    from PIL import Image, ImageOps

    from lumina.stages.quality import pixel_quality

    def full(p: Path) -> Image.Image:
        with Image.open(p) as img:
            return ImageOps.exif_transpose(img).convert("RGB")

    start = time.perf_counter()
    for i, p in enumerate(paths):
        img = full(p)
        img.thumbnail((256, 256), Image.Resampling.LANCZOS)
        img.save(f"{out_dir}/{i}-grid.webp", quality=80)
        img = full(p)
        img.thumbnail((1440, 1440), Image.Resampling.LANCZOS)
        img.save(f"{out_dir}/{i}-preview.jpg", quality=85)
        img = full(p)
        for fn in (imagehash.average_hash, imagehash.dhash, imagehash.phash, imagehash.whash):
            fn(img)
        img = full(p)
        pixel_quality(img, img.width, img.height, None, 512)
    return time.perf_counter() - start


def worker(method: str, folder: str, runs: int) -> None:
    """Runs one method in a fresh process, so that the peak RSS printed is that method's own."""
    with open(Path(folder) / "MANIFEST.csv", newline="") as f:  # the corpus's own list of good JPEGs
        rows = list(csv.DictReader(f))
    paths = sorted(Path(folder) / r["relpath"] for r in rows
                   if r["relpath"].lower().endswith((".jpg", ".jpeg")) and r.get("kind", "jpeg") == "jpeg")
    times, thumb = [], 0
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            if method == "ours":
                t, thumb = ours(paths, tmp)
            else:
                t = baseline(paths, tmp)
            times.append(t)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"n": len(paths), "s": statistics.median(times), "rss": rss, "thumb": thumb}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--worker", nargs=3, metavar=("METHOD", "FOLDER", "_"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker[0], args.worker[1], args.runs)
        return
    for name, folder in (("large", SHARED / "large"), ("corpus", SHARED / "real")):
        res = {}
        for method in ("ours", "baseline"):
            out = subprocess.run([sys.executable, __file__, "--runs", str(args.runs), "--worker", method, str(folder),
                                  "-"], check=True, capture_output=True, text=True).stdout
            res[method] = json.loads(out.strip().splitlines()[-1])
        o, b = res["ours"], res["baseline"]
        print(f"{name:6s}: {o['n']:3d} JPEGs  one decode {o['n'] / o['s']:5.1f} img/s (peak RSS {o['rss']:4.0f} MiB)  "
              f"baseline {b['n'] / b['s']:5.1f} img/s (peak RSS {b['rss']:4.0f} MiB)  speed-up {b['s'] / o['s']:4.1f}x  "
              f"thumbnails {o['thumb'] / o['n'] / 1024:5.1f} KiB/img")


if __name__ == "__main__":
    main()
