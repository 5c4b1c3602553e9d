"""Cost of reading capture times from every group (issue #15): the metadata stage as it is now
(family-0 reading, plus a family-1 reading of the files whose tags hold a capture time or camera
outside EXIF/XMP/IPTC) against its baseline, the family-0 reading alone (what the stage did before).
Prints medians of several runs and the ratio.

    python benchmarks/bench_metadata_groups.py [CORPUS] [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from lumina.media.detect import by_extension
from lumina.settings import load_settings
from lumina.stages.base import AssetView
from lumina.stages.metadata import MetadataStage, needs_grouped_read

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus", nargs="?", default=str(ROOT.parent / "shared" / "corpus" / "real"))
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    paths = sorted(os.fsencode(p) for p in Path(args.corpus).rglob("*") if p.is_file() and by_extension(p.name))
    views = [AssetView(str(i), p, "photo", by_extension(os.fsdecode(p)).file_type, 0, 0) for i, p in enumerate(paths)]
    stage = MetadataStage(load_settings())
    batch = stage.batch_size
    stage.run_batch(views[:4])  # start both ExifTool processes outside the timings
    baseline, full, docs = [], [], {}

    def read_family0() -> None:
        for i in range(0, len(paths), batch):
            docs.update(stage.session().read(paths[i:i + batch]))

    def run_stage() -> None:
        for i in range(0, len(views), batch):
            stage.run_batch(views[i:i + batch])

    for run in range(args.runs):  # alternate the order: the second of a pair finds warmer caches
        for fn, out in ((read_family0, baseline), (run_stage, full))[::1 if run % 2 else -1]:
            t = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t)
    stage.close()
    grouped = sum(1 for d in docs.values() if isinstance(d, dict) and needs_grouped_read(d))
    b, f = statistics.median(baseline), statistics.median(full)
    print(f"corpus: {len(paths)} photo/video files, {args.runs} runs, batches of {batch}")
    print(f"files read a second time by group: {grouped} ({grouped / len(paths):.1%})")
    print(f"family-0 reading only (before)  : median {b:6.2f} s  {len(paths) / b:7.1f} files/s")
    print(f"metadata stage with groups (now): median {f:6.2f} s  {len(paths) / f:7.1f} files/s  ratio {f / b:4.2f}x")


if __name__ == "__main__":
    main()
