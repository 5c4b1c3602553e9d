"""Duplicate candidate search and end-to-end detection at scale, on seeded synthetic hashes.

Hashes come from a clustered generator with planted near-copies: "scenes" of look-alike photos
(12-20 bits apart, as similar shots are) plus, for 10 % of the photos, a copy 0-8 bits away.
Printed: candidate search time and recall of the planted pairs at radius 10 for 100k and 1M hashes
(each size in its own process with a time cap), FAISS brute force (IndexBinaryFlat range search)
on the same data when faiss is importable, and end-to-end ``lumina.analysis.duplicates.detect``
over a synthetic 100k-asset catalog with its peak RSS, the pixel-verification time shown apart.
Every signature differs from every other (even a planted copy's), so every candidate pair goes
through the whole crop search: the worst case for verification.
``--alternatives`` also times the other exact searches tried for ``pairs_within``: other chunk
plans of the same compiled pigeonhole search, and FAISS IndexBinaryMultiHash (4 x 16 bits, 2 flips).
imagededup's search is timed by bench_duplicates_peer.py, in its own environment.

    python benchmarks/bench_duplicates.py [--sizes 100000 1000000] [--cap-s 300] [--e2e 100000] [--alternatives]
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


ALTERNATIVES = {  # chunk plans (shift, bits, max flips) for lumina.analysis.hamming.pairs_within
    "4 x 16 bits, flips 2+2+2+1 (multi-index hashing)": [(0, 16, 2), (16, 16, 2), (32, 16, 2), (48, 16, 1)],
    "3 x 22/21/21 bits, flips 3+3+2 (generalized pigeonhole)": [(0, 22, 3), (22, 21, 3), (43, 21, 2)],
    "5 x 13 bits, flips 2+1+1+1+1": [(0, 13, 2), (13, 13, 1), (26, 13, 1), (39, 13, 1), (52, 12, 1)],
}


def alternative(kind: str, n: int, radius: int) -> dict:
    """Time one alternative exact search: a chunk plan of ``ALTERNATIVES`` or "faiss-multihash"."""
    import lumina.analysis.hamming as hamming

    codes, _ = generate(n)
    if kind == "faiss-multihash":
        import faiss

        index = faiss.IndexBinaryMultiHash(64, 4, 16)
        index.nflip = (radius + 1) // 4  # exact: within the radius, one 16-bit chunk is within nflip
        start = time.perf_counter()
        index.add(codes.view(np.uint8).reshape(n, 8))
        lims, _, _ = index.range_search(codes.view(np.uint8).reshape(n, 8), radius + 1)
        return {"s": round(time.perf_counter() - start, 2), "pairs": (int(lims[-1]) - n) // 2}
    hamming.pairs_within(codes[:100], radius)  # compile outside the timing
    hamming.plan = lambda n, r: ALTERNATIVES[kind]
    start = time.perf_counter()
    i, _, _ = hamming.pairs_within(codes, radius)
    return {"s": round(time.perf_counter() - start, 2), "pairs": len(i)}


def search(n: int, radius: int) -> dict:
    from lumina.analysis.hamming import pairs_within

    codes, planted = generate(n)
    pairs_within(codes[:100], radius)  # numba: load the compiled code outside the timing
    start = time.perf_counter()
    i, j, d = pairs_within(codes, radius)
    elapsed = time.perf_counter() - start
    found = set(zip(i.tolist(), j.tolist()))
    truly = {p for p in planted if bin(int(codes[p[0]] ^ codes[p[1]])).count("1") <= radius}
    return {"n": n, "search_s": round(elapsed, 2), "pairs": len(found), "recall": len(truly & found) / len(truly),
            "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}


def faiss_flat(n: int, radius: int) -> dict:
    """FAISS brute force (IndexBinaryFlat range search) on the same hashes."""
    import faiss

    codes, _ = generate(n)
    index = faiss.IndexBinaryFlat(64)
    index.add(codes.view(np.uint8).reshape(n, 8))
    start = time.perf_counter()
    lims, _, _ = index.range_search(codes.view(np.uint8).reshape(n, 8), radius + 1)  # faiss: strictly below
    return {"s": round(time.perf_counter() - start, 2), "pairs": (int(lims[-1]) - n) // 2}


def child(kind: str, n: int, args, timeout: int, *extra: str) -> dict | None:
    """This script run as ``--child kind n`` in its own process; None when it runs past timeout."""
    try:
        out = subprocess.run([sys.executable, __file__, "--radius", str(args.radius), *extra, "--child", kind, str(n)],
                             capture_output=True, text=True, timeout=timeout, check=True).stdout
    except subprocess.TimeoutExpired:
        return None
    return json.loads(out.splitlines()[-1])


def e2e(n: int) -> dict:
    """detect() over a synthetic catalog of n assets (hashes, 64x64 signatures, no dates)."""
    from bench_clusters import write_rows
    from lumina.stages.hashes import to_signed

    codes, _ = generate(n)
    rng = np.random.default_rng(1)
    base = rng.integers(0, 256, size=(64, 64), dtype=np.uint8)

    def rows_of(start: int, stop: int) -> list[dict]:
        rows = []
        for k in range(start, stop):
            c = to_signed(int(codes[k]))
            sig = (base + (int(codes[k]) % 251)).astype(np.uint8)  # distinct per hash, equal for equal hashes
            rows.append({"asset_id": f"{k:064x}", "ahash": c, "dhash": c, "phash": c, "whash": c, "degenerate": False,
                         "signature": sig.tobytes()})
        return rows

    with tempfile.TemporaryDirectory() as tmp:
        write_rows(Path(tmp) / "cat", n, rows_of)
        # detection in a fresh process, so that its peak RSS is its own, not the catalog building's
        out = subprocess.run([sys.executable, __file__, "--catalog", str(Path(tmp) / "cat"), "--child", "detect",
                              str(n)], capture_output=True, text=True, check=True).stdout
        return json.loads(out.splitlines()[-1])


def detect_run(n: int, catalog: Path) -> dict:
    """detect() over the catalog that ``e2e`` built: time, stats and the process's peak RSS."""
    from lumina.analysis.duplicates import detect
    from lumina.catalog.db import open_catalog

    cat = open_catalog(catalog)
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
    ap.add_argument("--alternatives", action="store_true", help="also time the other exact searches tried")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--alternative", help=argparse.SUPPRESS)
    ap.add_argument("--catalog", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, n = args.child
        runs = {"alternative": lambda n: alternative(args.alternative, n, args.radius),
                "search": lambda n: search(n, args.radius), "faiss": lambda n: faiss_flat(n, args.radius),
                "e2e": e2e, "detect": lambda n: detect_run(n, Path(args.catalog))}
        print(json.dumps(runs[kind](int(n))))
        return
    for n in args.sizes:
        r = child("search", n, args, args.cap_s)
        if r is None:
            print(f"search n={n:>9,}: did not finish within the {args.cap_s} s cap")
            continue
        try:
            import faiss  # noqa: F401  (only to know whether the peer can run)
            f = child("faiss", n, args, args.cap_s)
            peer = f"FAISS IndexBinaryFlat {f['s']} s, {f['pairs']:,} pairs (ratio {f['s'] / r['search_s']:.1f}x)" if f \
                else f"FAISS IndexBinaryFlat did not finish within {args.cap_s} s (ratio > {args.cap_s / r['search_s']:.0f}x)"
        except ImportError:
            peer = "(faiss not installed: no peer figure)"
        print(f"search n={n:>9,}: {r['search_s']:7.2f} s, {r['pairs']:,} pairs within {args.radius} bits, "
              f"planted recall {r['recall']:.3f}, peak RSS {r['rss_mib']} MiB; {peer}")
        for kind in [*ALTERNATIVES, "faiss-multihash"] if args.alternatives else []:
            a = child("alternative", n, args, args.cap_s, "--alternative", kind)
            print(f"    alternative {kind}: " + (f"{a['s']:7.2f} s, {a['pairs']:,} pairs" if a else
                                                 f"did not finish within the {args.cap_s} s cap"))
    if args.e2e:
        r = child("e2e", args.e2e, args, args.cap_s * 2)
        if r is None:
            print(f"end-to-end n={args.e2e:,}: did not finish within {args.cap_s * 2} s")
        else:
            print(f"end-to-end n={r['n']:,}: {r['e2e_s']} s (load {r['load_s']} s, search {r['search_s']} s, "
                  f"pixel verification {r['verify_s']} s for {r['candidates']:,} candidates), {r['groups']:,} groups, "
                  f"peak RSS of the detection process {r['rss_mib']} MiB")

if __name__ == "__main__":
    main()
