"""Scan throughput on the real corpus: first scan vs unchanged rescan, and batched ExifTool vs one
ExifTool process per file. Prints medians of several runs and the ratios (machines here are noisy).

    python benchmarks/bench_scan.py [CORPUS] [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lumina.catalog.db import open_catalog
from lumina.media.detect import by_extension
from lumina.media.exiftool import ExifToolSession
from lumina.pipeline.scan import scan

ROOT = Path(__file__).resolve().parent.parent


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def bench_scans(corpus: Path, runs: int) -> None:
    n_files = sum(1 for p in corpus.rglob("*") if p.is_file())
    first, rescan, cli_first, cli_rescan = [], [], [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            cat = open_catalog(Path(tmp) / "cat")
            first.append(timed(lambda: scan(cat, [corpus])))
            rescan.append(timed(lambda: scan(cat, [corpus])))
            cat.close()
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "lumina", "scan", str(corpus), "--catalog", str(Path(tmp) / "cat"), "-q"]
            cli_first.append(timed(lambda: subprocess.run(cmd, check=True, capture_output=True)))
            cli_rescan.append(timed(lambda: subprocess.run(cmd, check=True, capture_output=True)))
    f, r = statistics.median(first), statistics.median(rescan)
    cf, cr = statistics.median(cli_first), statistics.median(cli_rescan)
    print(f"corpus: {n_files} files, {runs} runs, {os.cpu_count()} cores")
    print(f"first scan (library)     : median {f:7.2f} s  {n_files / f:8.1f} files/s")
    print(f"unchanged rescan (library): median {r:7.2f} s  {n_files / r:8.1f} files/s   speed-up {f / r:5.1f}x")
    print(f"first scan (CLI)         : median {cf:7.2f} s  {n_files / cf:8.1f} files/s")
    print(f"unchanged rescan (CLI)   : median {cr:7.2f} s  {n_files / cr:8.1f} files/s   speed-up {cf / cr:5.1f}x")


def bench_exiftool(corpus: Path, runs: int, batch: int = 32) -> None:
    files = sorted(os.fsencode(p) for p in corpus.rglob("*") if p.is_file() and by_extension(p.name))
    files = files[:150]
    batched, single = [], []
    for _ in range(runs):
        def run_batched() -> None:
            with ExifToolSession() as et:
                for i in range(0, len(files), batch):
                    et.read(files[i:i + batch])

        def run_single() -> None:
            for f in files:
                subprocess.run(["exiftool", "-G", "-n", "-j", f], capture_output=True)

        batched.append(timed(run_batched))
        single.append(timed(run_single))
    b, s = statistics.median(batched), statistics.median(single)
    print(f"ExifTool on {len(files)} files: -stay_open batches of {batch}: median {b:6.2f} s "
          f"({len(files) / b:6.1f} files/s); one process per file: median {s:6.2f} s "
          f"({len(files) / s:6.1f} files/s); speed-up {s / b:5.1f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("corpus", nargs="?", default=str(ROOT.parent / "shared" / "corpus" / "real"))
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    os.environ.setdefault("LUMINA_SETTLE_S", "0")
    corpus = Path(args.corpus).resolve()
    bench_scans(corpus, args.runs)
    bench_exiftool(corpus, args.runs)


if __name__ == "__main__":
    main()
