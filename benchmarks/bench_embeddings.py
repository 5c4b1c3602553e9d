"""The added cost of the semantic layer, and search latency.

1. Pixel stages alone (thumbnails + hashes + quality from one decode) against the same plus
   ``embeddings`` (batched MobileNetV2 through onnxruntime, one intra-op thread) and the auto-tag
   folding, on ../shared/corpus/large (8 camera JPEGs, 6-22 MP) and the corpus JPEGs. Each method
   runs in a fresh process (so the peak RSS printed is that worker's own); images/s are medians.
2. Similar-image search at 10k and 100k synthetic vectors (1280-d, non-negative like MobileNetV2's
   pooled ReLU6 features, L2-normalised, float16 as stored): Lumina's ``VectorIndex`` (FAISS fp16
   flat below 50k vectors, 8-bit candidates re-ranked exactly from 50k on) against an exact numpy
   float32 scan (argpartition of one matrix-vector product); p50/p95 over
   200 warm queries, FAISS on one thread (what ``VectorIndex`` sets) and on every core, build time
   and resident bytes of the vectors.

    python benchmarks/bench_embeddings.py [--runs N] [--sizes 10000 100000]
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

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "corpus"
sys.path.insert(0, str(ROOT))
PIXEL = ("thumbnails", "hashes", "quality")


def jpegs(folder: Path) -> list[Path]:
    with open(folder / "MANIFEST.csv", newline="") as f:  # the corpus's own list of good JPEGs
        rows = list(csv.DictReader(f))
    return sorted(folder / r["relpath"] for r in rows
                  if r["relpath"].lower().endswith((".jpg", ".jpeg")) and r.get("kind", "jpeg") == "jpeg")


def stages_run(paths: list[Path], names: tuple[str, ...], catalog_dir: str) -> float:
    from lumina.analysis.vocabulary import auto_tags
    from lumina.pipeline.runner import StageGroup
    from lumina.settings import load_settings
    from lumina.stages.base import AssetView

    settings = load_settings()
    settings["catalog_dir"] = catalog_dir
    group = StageGroup(list(names), settings)
    items = [(AssetView(f"{i:064x}", os.fsencode(p), "photo", "jpeg", p.stat().st_size, 0, inputs={"metadata": None}),
              names) for i, p in enumerate(paths)]
    start = time.perf_counter()
    results = []
    for i in range(0, len(items), 8):  # the embeddings stage's batch size, as the runner sends them
        results += group.run(items[i:i + 8])
    for name, d in results:
        if name == "embeddings" and d.result.status == "ok":
            auto_tags(d.result.values["class_scores"], d.result.values["colours"])
    elapsed = time.perf_counter() - start
    bad = [d.result.reason for _, d in results if d.result.status != "ok"]
    assert len(bad) <= len(paths) // 10, bad[:5]
    return elapsed


def worker(names: tuple[str, ...], folder: str, runs: int) -> None:
    paths = jpegs(Path(folder))
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            times.append(stages_run(paths, names, tmp))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"n": len(paths), "s": statistics.median(times), "rss": rss}))


def vectors(n: int, d: int = 1280, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.maximum(rng.standard_normal((n, d), dtype=np.float32), 0)  # ReLU-like: non-negative
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float16)


def search_bench(n: int, threads: int, queries: int = 200, k: int = 10) -> None:
    import faiss

    from lumina.analysis.similar import VectorIndex

    x16 = vectors(n)
    ids = [f"{i:064x}" for i in range(n)]
    t = time.perf_counter()
    index = VectorIndex(ids, x16, "bench")
    build_s = time.perf_counter() - t
    faiss.omp_set_num_threads(threads)  # after VectorIndex, which sets one thread for Lumina
    x32 = x16.astype(np.float32)
    qs = x32[np.random.default_rng(1).integers(0, n, queries)]

    def timed(fn) -> tuple[float, float]:
        ms = []
        for q in qs:
            t0 = time.perf_counter()
            fn(q)
            ms.append((time.perf_counter() - t0) * 1000)
        return float(np.percentile(ms, 50)), float(np.percentile(ms, 95))

    ours = timed(lambda q: index.search(q, k))
    kind = "SQ8 + exact re-rank" if index.exact is not None else "fp16 flat"
    exact = timed(lambda q: np.argpartition(-(x32 @ q), k)[:k])
    agree = np.mean([set(a for a, _ in index.search(q, k)) ==
                     set(ids[i] for i in np.argpartition(-(x32 @ q), k)[:k]) for q in qs[:50]])
    held = n * 1280 * (3 if index.exact is not None else 2) / 2**20  # fp16 rows, plus 8-bit codes for SQ8
    print(f"search {n:>7,} x 1280, {threads} thread(s): FAISS {kind} p50 {ours[0]:6.1f} ms p95 {ours[1]:6.1f} ms "
          f"(build {build_s:5.2f} s, {held:5.0f} MiB)   numpy float32 scan p50 {exact[0]:6.1f} ms p95 {exact[1]:6.1f} ms "
          f"({n * 1280 * 4 / 2**20:5.0f} MiB)   ratio {exact[0] / ours[0]:4.2f}x   same top-{k}: {agree:.0%}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--skip-stages", action="store_true")
    ap.add_argument("--worker", nargs=2, metavar=("STAGES", "FOLDER"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(tuple(args.worker[0].split(",")), args.worker[1], args.runs)
        return
    if not args.skip_stages:
        for name, folder in (("large", SHARED / "large"), ("corpus", SHARED / "real")):
            res = {}
            for label, names in (("pixel", PIXEL), ("semantic", PIXEL + ("embeddings",))):
                out = subprocess.run([sys.executable, __file__, "--runs", str(args.runs), "--worker", ",".join(names),
                                      str(folder)], check=True, capture_output=True, text=True).stdout
                res[label] = json.loads(out.strip().splitlines()[-1])
            p, s = res["pixel"], res["semantic"]
            added_ms = (s["s"] - p["s"]) / s["n"] * 1000
            print(f"{name:6s}: {p['n']:3d} JPEGs  pixel stages {p['n'] / p['s']:5.1f} img/s (peak RSS {p['rss']:4.0f} MiB)"
                  f"  + embeddings and tags {s['n'] / s['s']:5.1f} img/s (peak RSS {s['rss']:4.0f} MiB)  "
                  f"added {added_ms:5.1f} ms/img ({s['s'] / p['s']:4.2f}x)")
    for n in args.sizes:
        for threads in sorted({1, os.cpu_count() or 1}):  # numpy's BLAS uses every core in both rows
            search_bench(n, threads)


if __name__ == "__main__":
    main()
