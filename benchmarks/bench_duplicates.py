"""Duplicate candidate search and end-to-end detection at scale, on seeded synthetic hashes.

Hashes come from a clustered generator with planted near-copies: "scenes" of look-alike photos
(12-20 bits apart, as similar shots are) plus, for 10 % of the photos, a copy 0-8 bits away.
Printed: candidate search time and recall of the planted pairs at radius 10 for 100k and 1M hashes
(each size in its own process with a time cap), FAISS brute force (IndexBinaryFlat range search)
on the same data when faiss is importable, and end-to-end ``lumina.analysis.duplicates.detect``
over a synthetic 100k-asset catalog with its peak RSS, the pixel-verification time shown apart.

    python benchmarks/bench_duplicates.py [--sizes 100000 1000000] [--cap-s 300] [--e2e 100000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def generate(n: int, seed: int = 7) -> tuple[np.ndarray, set[tuple[int, int]]]:
    """n uint64 hashes and the planted (i, j) near-copy pairs (i < j)."""
    rng = np.random.default_rng(seed)
    n_copies = n // 11
    n_photos = n - n_copies
    scenes = rng.integers(0, 2 ** 63, size=max(1, n_photos // 20), dtype=np.int64).view(np.uint64)
    photos = scenes[rng.integers(0, len(scenes), size=n_photos)].copy()
    for _ in range(16):  # ~12-20 effective flips: look-alikes, not copies
        photos ^= np.uint64(1) << rng.integers(0, 64, size=n_photos).astype(np.uint64)
    src = rng.choice(n_photos, size=n_copies, replace=False)
    copies = photos[src].copy()
    flips = rng.integers(0, 9, size=n_copies)
    for k in range(8):
        on = flips > k
        copies[on] ^= np.uint64(1) << rng.integers(0, 64, size=int(on.sum())).astype(np.uint64)
    codes = np.concatenate([photos, copies])
    planted = {(int(s), n_photos + i) for i, s in enumerate(src)}
    return codes, planted


def search(n: int, radius: int) -> dict:
    from lumina.analysis.hamming import pairs_within

    codes, planted = generate(n)
    start = time.perf_counter()
    i, j, d = pairs_within(codes, radius)
    elapsed = time.perf_counter() - start
    found = set(zip(i.tolist(), j.tolist()))
    truly = {p for p in planted if bin(int(codes[p[0]] ^ codes[p[1]])).count("1") <= radius}
    out = {"n": n, "search_s": round(elapsed, 2), "pairs": len(found), "recall": len(truly & found) / len(truly),
           "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}
    try:
        import faiss
    except ImportError:
        return out
    index = faiss.IndexBinaryFlat(64)
    index.add(codes.view(np.uint8).reshape(n, 8))
    start = time.perf_counter()
    index.range_search(codes.view(np.uint8).reshape(n, 8), radius + 1)  # faiss: strictly below the radius
    out["faiss_flat_s"] = round(time.perf_counter() - start, 2)
    return out


def e2e(n: int) -> dict:
    """detect() over a synthetic catalog of n assets (hashes, 64x64 signatures, no dates)."""
    from sqlalchemy import insert

    from lumina.analysis.duplicates import detect
    from lumina.catalog.db import open_catalog
    from lumina.catalog.models import Asset, FileInstance, PerceptualHash, Source
    from lumina.pipeline.scan import now
    from lumina.stages.hashes import to_signed

    codes, _ = generate(n)
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as tmp:
        cat = open_catalog(Path(tmp) / "cat")
        with cat.engine.begin() as conn:
            conn.execute(insert(Source), [{"id": 1, "path_bytes": b"/lib", "path": "/lib", "added_at": now()}])
            ids = [f"{k:064x}" for k in range(n)]
            conn.execute(insert(Asset), [{"asset_id": a, "size_bytes": 1000, "media_kind": "photo", "file_type": "jpeg",
                                          "detected_by": "extension", "status": "active", "first_seen_at": now()}
                                         for a in ids])
            conn.execute(insert(FileInstance), [{"source_id": 1, "path_bytes": f"/lib/{k}.jpg".encode(),
                                                 "path": f"/lib/{k}.jpg", "asset_id": a, "status": "present",
                                                 "first_seen_at": now(), "warnings": []} for k, a in enumerate(ids)])
            base = rng.integers(0, 256, size=(64, 64), dtype=np.uint8)
            rows = []
            for k, a in enumerate(ids):
                c = to_signed(int(codes[k]))
                sig = (base + (int(codes[k]) % 251)).astype(np.uint8)  # distinct per hash, equal for equal hashes
                rows.append({"asset_id": a, "ahash": c, "dhash": c, "phash": c, "whash": c, "degenerate": False,
                             "signature": sig.tobytes()})
            conn.execute(insert(PerceptualHash), rows)
        start = time.perf_counter()
        with cat.session() as s:
            groups, stats = detect(s, cat.settings)
        total = time.perf_counter() - start
        cat.close()
    return {"n": n, "e2e_s": round(total, 2), "groups": len(groups), "candidates": stats["candidates"],
            "load_s": stats["time_load_s"], "search_s": stats["time_search_s"], "verify_s": stats["time_verify_s"],
            "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    ap.add_argument("--radius", type=int, default=10)
    ap.add_argument("--cap-s", type=int, default=300)
    ap.add_argument("--e2e", type=int, default=100_000)
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, n = args.child
        print(json.dumps(search(int(n), args.radius) if kind == "search" else e2e(int(n))))
        return
    for n in args.sizes:
        try:
            out = subprocess.run([sys.executable, __file__, "--radius", str(args.radius), "--child", "search", str(n)],
                                 capture_output=True, text=True, timeout=args.cap_s, check=True).stdout
            r = json.loads(out.splitlines()[-1])
            faiss = f"  FAISS IndexBinaryFlat {r['faiss_flat_s']} s (ratio {r['faiss_flat_s'] / r['search_s']:.1f}x)" \
                if "faiss_flat_s" in r else "  (faiss not installed: no peer figure)"
            print(f"search n={n:>9,}: {r['search_s']:7.2f} s, {r['pairs']:,} pairs within {args.radius} bits, "
                  f"planted recall {r['recall']:.3f}, peak RSS {r['rss_mib']} MiB{faiss}")
        except subprocess.TimeoutExpired:
            print(f"search n={n:>9,}: did not finish within the {args.cap_s} s cap")
    if args.e2e:
        try:
            out = subprocess.run([sys.executable, __file__, "--child", "e2e", str(args.e2e)], capture_output=True,
                                 text=True, timeout=args.cap_s * 2, check=True).stdout
            r = json.loads(out.splitlines()[-1])
            print(f"end-to-end n={r['n']:,}: {r['e2e_s']} s (load {r['load_s']} s, search {r['search_s']} s, "
                  f"pixel verification {r['verify_s']} s for {r['candidates']:,} candidates), {r['groups']:,} groups, "
                  f"peak RSS {r['rss_mib']} MiB")
        except subprocess.TimeoutExpired:
            print(f"end-to-end n={args.e2e:,}: did not finish within {args.cap_s * 2} s")


if __name__ == "__main__":
    main()
