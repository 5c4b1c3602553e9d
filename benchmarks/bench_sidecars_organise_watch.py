"""Decisions leaving the catalog: sidecar write rate, organise rate, watch latency.

A library of real corpus JPEGs (``exif-samples/jpg``, repeated into ``--files`` files with distinct
names) is scanned once (every stage), then:

* sidecars: ``write_sidecars --all`` (create), a second run (nothing changed: read and compare only), a
  third after a keyword was added to every asset (merge into the existing sidecars),
  against a peer in the same run: one ``exiftool`` process per file writing the same tags (what a
  shell loop does), without merge checks or read-back;
* organise: plan + apply (copy, verified) and undo, against ``shutil.copy2`` of the same files without
  verification or journal; files/s and MiB/s;
* watch: files copied one at a time into a watched folder (settle_s 1.0): seconds from the last byte to
  the file catalogued with all its stages; median and max over ``--watch-files`` files.

    python benchmarks/bench_sidecars_organise_watch.py [--files 60] [--watch-files 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CORPUS = ROOT.parent / "shared" / "corpus" / "real" / "exif-samples" / "jpg"


def library(folder: Path, n: int) -> list[Path]:
    sources = sorted(p for p in CORPUS.glob("*.jpg") if p.stat().st_size < 4 << 20)
    out = []
    for i in range(n):
        src = sources[i % len(sources)]
        dst = folder / f"{i // len(sources):02d}" / src.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
        out.append(dst)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=60)
    ap.add_argument("--watch-files", type=int, default=5)
    args = ap.parse_args()
    os.environ["LUMINA_SETTLE_S"] = "0"
    from sqlalchemy import select

    from lumina.catalog.db import open_catalog
    from lumina.pipeline import organise
    from lumina.pipeline.scan import scan
    from lumina.pipeline.sidecars import write_sidecars
    from lumina.pipeline.watch import Watcher

    with tempfile.TemporaryDirectory(prefix="lumina-bench20-") as tmp:
        tmp = Path(tmp)
        files = library(tmp / "lib", args.files)
        total_mib = sum(p.stat().st_size for p in files) / 2**20
        cat = open_catalog(tmp / "cat")
        t = time.perf_counter()
        scan(cat, [tmp / "lib"])
        print(f"library: {len(files)} files, {total_mib:.1f} MiB; scanned in {time.perf_counter() - t:.1f} s")

        t = time.perf_counter()
        out = write_sidecars(cat, all_files=True)
        first = time.perf_counter() - t
        t = time.perf_counter()
        again = write_sidecars(cat, all_files=True)
        second = time.perf_counter() - t
        assert len(out["written"]) == len(files) and len(again["unchanged"]) == len(files), (out["failed"][:3])
        with cat.session() as s:  # a new keyword on every asset (as a bulk keyword edit would do)
            from lumina.catalog.models import Metadata, UserOverride
            from lumina.pipeline.scan import now

            for asset_id, keywords in s.execute(select(Metadata.asset_id, Metadata.keywords)):
                s.merge(UserOverride(asset_id=asset_id, field="keywords", value=[*(keywords or []), "bench"],
                                     set_at=now()))
            s.commit()
        t = time.perf_counter()
        merged = write_sidecars(cat, all_files=True)
        third = time.perf_counter() - t
        assert len(merged["written"]) == len(files), merged["failed"][:3]
        peer_dir = tmp / "peer"
        peer_dir.mkdir()
        t = time.perf_counter()
        for i, p in enumerate(files):  # peer: one ExifTool process per file, same kind of tags
            subprocess.run(["exiftool", "-q", "-overwrite_original", "-XMP-xmp:Rating=3", "-XMP-dc:Subject=a",
                            "-XMP-exif:DateTimeOriginal=2019:07:14 10:00:00+02:00", str(peer_dir / f"{i}.xmp")],
                           check=True)
        peer = time.perf_counter() - t
        n = len(files)
        print(f"sidecars: write {n / first:.1f} files/s (create, merge checks, read back, atomic install); "
              f"unchanged re-run {n / second:.1f} files/s; merge into existing sidecars (byte-preserving splice, "
              f"checked) {n / third:.1f} files/s; peer exiftool-per-file {n / peer:.1f} files/s "
              f"(ratio ours/peer {peer / first:.2f})")

        target = tmp / "organised"
        t = time.perf_counter()
        plan = organise.plan(cat, target, "{year}/{year}-{month}/{name}")
        planned = time.perf_counter() - t
        t = time.perf_counter()
        organise.apply(cat, target, "{year}/{year}-{month}/{name}")
        applied = time.perf_counter() - t
        t = time.perf_counter()
        organise.undo(cat)
        undone = time.perf_counter() - t
        ops = len(plan["ops"])
        peer_target = tmp / "peer-copy"
        t = time.perf_counter()
        for i, o in enumerate(plan["ops"]):
            dst = peer_target / str(i)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(o["src_bytes"], dst)
        copy_peer = time.perf_counter() - t
        print(f"organise: {ops} steps (photos + sidecars); plan {ops / planned:.0f} files/s; apply (copy + verify + "
              f"journal + catalog) {ops / applied:.1f} files/s, {total_mib / applied:.1f} MiB/s; undo "
              f"{ops / undone:.1f} files/s; peer shutil.copy2 {ops / copy_peer:.1f} files/s (ratio peer/ours "
              f"{applied / copy_peer:.1f})")
        cat.close()

        wcat = open_catalog(tmp / "wcat", overrides={"settle_s": 1.0, "watch_poll_s": 0.1})
        wlib = tmp / "wlib"
        wlib.mkdir()
        watcher = Watcher(wcat, [wlib])
        stop = threading.Event()
        thread = threading.Thread(target=watcher.run, args=(stop,), daemon=True)
        thread.start()
        while watcher.stats.scans < 1:
            time.sleep(0.05)
        latencies = []
        for p in files[:args.watch_files]:
            dst = wlib / p.name
            shutil.copyfile(p, dst)
            done_at = time.time()
            key = os.fsencode(dst)
            while key not in watcher.stats.catalogued_at:
                time.sleep(0.02)
            latencies.append(watcher.stats.catalogued_at[key] - done_at)
        stop.set()
        thread.join(30)
        wcat.close()
        print(f"watch: latency from the last byte to catalogued (all stages), settle_s 1.0: median "
              f"{statistics.median(latencies):.2f} s, max {max(latencies):.2f} s over {len(latencies)} files "
              f"(so {statistics.median(latencies) - 1.0:.2f} s beyond settle_s)")


if __name__ == "__main__":
    main()
