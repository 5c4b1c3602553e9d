"""imagededup's Hamming search against lumina's ``pairs_within``, on the seeded hashes of bench_duplicates.py.

imagededup imports torch, which is never a product dependency, so this script runs with the
interpreter of a separate environment (git-ignored):

    python3 -m venv benchmarks/.venv-peer
    benchmarks/.venv-peer/bin/pip install torch==2.14.1 torchvision==0.29.1 imagededup
    benchmarks/.venv-peer/bin/python benchmarks/bench_duplicates_peer.py [--lumina-python python3]

Printed: imagededup's ``HashEval`` (what ``PHash().find_duplicates`` runs, with all cores as
workers) with the BK-tree at 2k and 5k hashes and the Cython brute force at 5k and 20k, each in its
own process capped at 5 minutes; the scaling exponent between the two sizes of each
(time ~ n^k); then ``pairs_within`` on the same hashes, run by ``--lumina-python`` (an
interpreter with lumina's dependencies), with the ratio and whether both found the same pairs.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from multiprocessing import cpu_count
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_duplicates import ROOT, generate  # noqa: E402  (numpy only: importable in both environments)

RUNS = (("bktree", 2_000), ("bktree", 5_000), ("brute_force_cython", 5_000), ("brute_force_cython", 20_000))


def peer(method: str, n: int, radius: int) -> dict:
    """imagededup's search over n hashes: seconds and the unordered pairs found (as a digest)."""
    from imagededup.handlers.search.retrieval import HashEval
    from imagededup.methods.hashing import Hashing

    codes, _ = generate(n)
    encoding_map = {str(k): f"{int(c):016x}" for k, c in enumerate(codes)}
    start = time.perf_counter()
    result = HashEval(test=encoding_map, queries=encoding_map, distance_function=Hashing.hamming_distance,
                      verbose=False, threshold=radius, search_method=method, num_dist_workers=cpu_count())
    elapsed = time.perf_counter() - start
    pairs = {(min(int(q), int(f)), max(int(q), int(f))) for q, found in result.retrieve_results().items() for f in found}
    return {"s": round(elapsed, 2), "pairs": len(pairs), "digest": hash(tuple(sorted(pairs)))}


def ours(n: int, radius: int) -> dict:
    """lumina's pairs_within over the same n hashes (compiled code loaded before the timing)."""
    sys.path.insert(0, str(ROOT))
    from lumina.analysis.hamming import pairs_within

    codes, _ = generate(n)
    pairs_within(codes[:100], radius)
    start = time.perf_counter()
    i, j, _ = pairs_within(codes, radius)
    elapsed = time.perf_counter() - start
    return {"s": round(elapsed, 4), "pairs": len(i), "digest": hash(tuple(zip(i.tolist(), j.tolist())))}


def child(python: str, args: list[str], cap_s: int) -> dict | None:
    """Run this script as ``python --child ...``; None when it runs past cap_s."""
    try:
        out = subprocess.run([python, __file__, "--child", *args], capture_output=True, text=True, timeout=cap_s,
                             check=True).stdout
    except subprocess.TimeoutExpired:
        return None
    return json.loads(out.splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--radius", type=int, default=10)
    ap.add_argument("--cap-s", type=int, default=300)
    ap.add_argument("--lumina-python", default="python3", help="interpreter with lumina's dependencies (numba)")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, *rest = args.child
        out = ours(int(rest[0]), args.radius) if kind == "lumina" else peer(kind, int(rest[0]), args.radius)
        print(json.dumps(out))
        return
    print(f"radius {args.radius} bits, {cpu_count()} cores, cap {args.cap_s} s per run")
    times: dict[tuple[str, int], float | None] = {}
    for method, n in RUNS:
        r = child(sys.executable, [method, str(n), "--radius", str(args.radius)], args.cap_s)
        times[method, n] = r and r["s"]
        mine = child(args.lumina_python, ["lumina", str(n), "--radius", str(args.radius)], args.cap_s)
        if r is None:
            print(f"imagededup {method:18} n={n:>6,}: did not finish within the {args.cap_s} s cap; lumina "
                  f"pairs_within {mine['s']:.4f} s ({mine['pairs']:,} pairs): more than {args.cap_s / mine['s']:,.0f}x faster")
            continue
        same = "same pairs" if mine["digest"] == r["digest"] else "DIFFERENT pairs"
        print(f"imagededup {method:18} n={n:>6,}: {r['s']:8.2f} s, {r['pairs']:,} pairs; lumina pairs_within "
              f"{mine['s']:.4f} s ({same}): {r['s'] / mine['s']:,.0f}x faster")
    for method in dict.fromkeys(m for m, _ in RUNS):
        (n1, t1), (n2, t2) = [(n, times[m, n]) for m, n in RUNS if m == method]
        if t1 and t2:
            k = math.log(t2 / t1) / math.log(n2 / n1)
            print(f"imagededup {method}: {n1:,} -> {n2:,} hashes takes {t2 / t1:.1f}x the time, time ~ n^{k:.2f}; "
                  f"extrapolated to 1M hashes: {t2 * (1_000_000 / n2) ** k / 3600:,.1f} h")
        elif t1:
            k = math.log(args.cap_s / t1) / math.log(n2 / n1)
            print(f"imagededup {method}: {n1:,} -> {n2:,} hashes takes more than {args.cap_s / t1:.1f}x the time, "
                  f"time ~ n^k with k > {k:.2f}")
        else:
            print(f"imagededup {method}: no scaling figure (both runs hit the cap)")


if __name__ == "__main__":
    main()
