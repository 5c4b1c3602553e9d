"""Ingest at the decoder's speed: Lumina's first scan of camera JPEGs beside the tools a user could
reach for instead, on the same files in the same run.

Builds a library of ``--files`` camera-size JPEGs from ``../shared/corpus/large`` (6-22 MP): each
copy gets its own JPEG comment segment (COM), so pixels are the camera's and every file is a
distinct asset. Then prints, as medians of ``--runs`` runs:

* Lumina: ``lumina scan`` (CLI, all stages, ``--workers 2``): files/s, CPU % (user + system time of
  the whole process tree over wall time; 200 % = both cores busy), peak RSS per worker and of the main process,
  and per-stage milliseconds per file (median ``duration_ms`` of the stage records). With
  ``--before SRC`` the same for another source tree of Lumina (e.g. ``git archive main``),
  run with that tree first on ``PYTHONPATH``.
* Floors, each on two processes in parallel over half the files: libvips' thumbnail (the
  ``vipsthumbnail`` command when installed, else the same ``vips_thumbnail`` operation through
  pyvips) making one 256 px JPEG per file, Pillow ``draft()`` + ``thumbnail()`` to 256 px, ExifTool
  alone (one ``-stay_open``-free process reading every tag as JSON), ``sha256sum`` alone.
* Ratios: Lumina's time over each floor's. Targets (issue 17): >= 30 files/s, at most 2x the
  libvips thumbnail time, CPU > 180 %, peak RSS per worker <= 300 MB.
* A profile of the pixel group in one process: decode, each resize, encodes, ThumbHash, hashes,
  quality (ms per file), with the libvips and the Pillow resizer.

* With ``--rescan-files N``: unchanged rescans (files/s; the whole ``scan()``: walk, compare, plan
  of every stage, catalog-wide checks) and ``lumina gaps`` (s) on a catalog of N small JPEGs, every
  stage run once; with ``--before``, that tree's rescan of the same catalog, interleaved.
* Decode time by JPEG DCT scale (1/1 to 1/8, and the scale the preview needs).

    python benchmarks/bench_ingest.py [--files N] [--runs N] [--before SRC] [--library DIR] [--rescan-files N]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
LARGE = ROOT.parent / "shared" / "corpus" / "large"
TARGET_FILES_S = 30.0
TARGET_VIPS_RATIO = 2.0
TARGET_CPU_PCT = 180.0
TARGET_RSS_MB = 300.0


def build_library(dest: Path, n_files: int, sources: list[Path] | None = None) -> list[Path]:
    """``n_files`` distinct JPEGs: copies of ``sources`` (default: the camera files of
    ../shared/corpus/large), each with a numbered COM segment after SOI."""
    sources = sources or sorted(LARGE.glob("*.jpg"))
    if not sources:
        sys.exit(f"no JPEGs in {LARGE}")
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n_files):
        src = sources[i % len(sources)]
        data = src.read_bytes()
        comment = f"lumina bench copy {i}".encode()
        segment = b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment
        path = dest / f"{i // 100:03d}" / f"{src.stem.replace(' ', '_')}_{i:05d}.jpg"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data[:2] + segment + data[2:])
        out.append(path)
    return out


def run_tree(cmd: list[str], env: dict | None = None, cwd: str | None = None) -> dict:
    """Run ``cmd`` and sample its process tree every 50 ms: wall s, CPU s (user + system of every
    process seen, at its last sample, or the kernel's account of the reaped tree when that is larger),
    peak RSS MB of the top process and of the largest other process of the tree (a worker, or ExifTool).

    Each process counts its own time only. Adding a process's ``children_*`` times, as this did
    before, counted every worker twice once the main process had reaped it (itself and in its
    parent's children): 278 % "CPU" on 2 cores."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = psutil.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    cpu: dict[int, float] = {}
    rss_mb = worker_rss_mb = 0.0
    while proc.poll() is None:
        try:
            procs = [proc] + proc.children(recursive=True)
        except psutil.Error:
            procs = [proc]
        for p in procs:
            try:
                with p.oneshot():
                    t = p.cpu_times()
                    cpu[p.pid] = t.user + t.system  # its own time only: a reaped child's is its own entry
                    rss = p.memory_info().rss / 2**20
                    if p.pid == proc.pid:
                        rss_mb = max(rss_mb, rss)
                    else:
                        worker_rss_mb = max(worker_rss_mb, rss)
            except psutil.Error:
                pass
        time.sleep(0.05)
    wall = time.perf_counter() - start
    if proc.returncode:
        sys.exit(f"{' '.join(cmd[:4])}... failed: {proc.stderr.read().decode()[-2000:]}")
    # processes that ended between samples: the kernel's account of reaped children covers them
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    reaped = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    total = max(sum(cpu.values()), reaped)
    return {"wall_s": wall, "cpu_s": total, "rss_mb": rss_mb, "worker_rss_mb": worker_rss_mb}


def run_parallel(cmds: list[list[str]]) -> float:
    """Wall seconds for commands run side by side."""
    start = time.perf_counter()
    procs = [subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for c in cmds]
    for p in procs:
        if p.wait():
            sys.exit(f"{' '.join(p.args[:3])}... failed: {p.stderr.read().decode()[-2000:]}")
    return time.perf_counter() - start


def lumina_scan(library: Path, python_path: str | None) -> dict:
    env = dict(os.environ, LUMINA_SETTLE_S="0")
    if python_path:
        env["PYTHONPATH"] = python_path
    with tempfile.TemporaryDirectory() as tmp:
        catalog = Path(tmp) / "catalog"
        # run outside the repository: ``python -m`` puts the working directory first on sys.path, so
        # from the repository root every "before" tree ran this tree's code (the same figures twice)
        res = run_tree([sys.executable, "-m", "lumina", "scan", str(library), "--catalog", str(catalog),
                        "--workers", "2", "-q"], env, cwd=tmp)
        from lumina.catalog.db import DB_NAME

        with sqlite3.connect(catalog / DB_NAME) as db:
            rows = db.execute("SELECT stage, duration_ms FROM stage_records").fetchall()
            bad = db.execute("SELECT COUNT(*) FROM stage_records WHERE status != 'ok'").fetchone()[0]
    by_stage: dict[str, list[float]] = {}
    for stage, ms in rows:
        by_stage.setdefault(stage, []).append(ms or 0.0)
    res["stage_ms"] = {k: statistics.median(v) for k, v in by_stage.items()}
    res["not_ok"] = bad
    return res


_PEER_VIPS = "import sys, pyvips\nfor p in sys.argv[2:]:\n    pyvips.Image.thumbnail(p, 256).jpegsave(sys.argv[1] + '/' + p.replace('/', '_'))"
_PEER_PIL = """import sys
from PIL import Image
for p in sys.argv[2:]:
    with Image.open(p) as im:
        im.draft('RGB', (256, 256))
        im.thumbnail((256, 256))
        im.convert('RGB').save(sys.argv[1] + '/' + p.replace('/', '_') + '.jpg')
"""


def floors(files: list[Path]) -> dict[str, float]:
    names = [str(p) for p in files]
    halves = [names[0::2], names[1::2]]
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        if shutil.which("vipsthumbnail"):
            out["vipsthumbnail 256 px (2 proc)"] = run_parallel(
                [["vipsthumbnail", "-s", "256", "-o", f"{tmp}/%s.jpg", *h] for h in halves])
        else:
            out["libvips thumbnail 256 px (pyvips, 2 proc)"] = run_parallel(
                [[sys.executable, "-c", _PEER_VIPS, tmp, *h] for h in halves])
        out["Pillow draft+thumbnail 256 px (2 proc)"] = run_parallel(
            [[sys.executable, "-c", _PEER_PIL, tmp, *h] for h in halves])
    out["exiftool -j -G -n (1 proc)"] = run_parallel([["exiftool", "-q", "-j", "-G", "-n", *names]])
    out["sha256sum (1 proc)"] = run_parallel([["sha256sum", *names]])
    return out


def profile(files: list[Path], sample: int = 16) -> dict[str, dict[str, float]]:
    """ms per file of each step of the pixel group, for each resizer, in this process."""
    import thumbhash

    import numpy as np

    from lumina.media.decode import DEFAULT_RESIZER, decode
    from lumina.media.encoders import MobileNetV2Encoder
    from lumina.stages.embeddings import EmbeddingsStage, colour_fractions
    from lumina.stages.hashes import HASH_WORKING_PX, image_hashes
    from lumina.stages.quality import QUALITY_KERNEL, pixel_quality
    from lumina.stages.thumbnails import ENCODER_OPTIONS

    encoder = MobileNetV2Encoder()
    out = {}
    for resizer in dict.fromkeys((DEFAULT_RESIZER, "pillow")):
        steps: dict[str, list[float]] = {}
        crops: list = []

        def timed(step, fn):
            t = time.perf_counter()
            value = fn()
            steps.setdefault(step, []).append((time.perf_counter() - t) * 1000)
            return value

        for i, p in enumerate([files[0]] + files[:sample]):  # the first file warms imports and caches
            if i == 1:
                steps.clear()
                crops.clear()
            d = timed("decode (DCT-scaled) + fit 1440 px", lambda: decode(os.fsencode(p), "jpeg", "photo",
                                                                           resizer=resizer))
            timed("preview JPEG encode", lambda: d.image.save(io.BytesIO(), "JPEG", quality=85,
                                                               **ENCODER_OPTIONS["JPEG"]))
            work = timed("resize 512 px (working copy)", lambda: d.resized(HASH_WORKING_PX).convert("L"))
            grid = timed("resize 256 px", lambda: d.resized(256))
            timed("grid WebP encode", lambda: grid.save(io.BytesIO(), "WEBP", quality=80, **ENCODER_OPTIONS["WEBP"]))
            small = timed("resize 32 px + ThumbHash", lambda: d.resized(32, "linear").convert("RGBA"))
            timed("resize 32 px + ThumbHash", lambda: thumbhash.rgba_to_thumb_hash(small.width, small.height,
                                                                                    list(small.tobytes())))
            timed("4 hashes (imagehash)", lambda: image_hashes(work))
            q = timed("resize 512 px (quality, linear)", lambda: d.resized(512, QUALITY_KERNEL))
            timed("quality components", lambda: pixel_quality(q, d.width, d.height, d.jpeg_quantization, 512))
            crop = timed("embedding input (224 px crop)", lambda: encoder.prepare(d.source_for(encoder.resize_px)))
            crops.append(crop)
            timed("embedding colours", lambda: colour_fractions(crop))
            if len(crops) == EmbeddingsStage.model_batch:  # the stage's onnxruntime call, shared by its crops
                t = time.perf_counter()
                encoder.encode(np.stack(crops))
                steps.setdefault("MobileNetV2 (per image)", []).append((time.perf_counter() - t) * 1000)
                crops.clear()
        out[resizer] = {k: sum(v) / len(files[:sample]) for k, v in steps.items()}
    return out


def decode_scales(files: list[Path], sample: int = 16) -> dict[str, float]:
    """Median ms per file of Pillow's DCT-scaled JPEG decode (``draft``) at 1/1, 1/2, 1/4 and 1/8 and
    at the scale ``lumina.media.decode`` picks for the preview (the smallest 1/2^n scale whose long
    edge still covers ``decode_max_edge_px``), interleaved file by file in one process."""
    from PIL import Image

    from lumina.media.decode import draft_scale
    from lumina.settings import load_settings

    edge = int(load_settings()["decode_max_edge_px"])
    times: dict[str, list[float]] = {}
    for p in files[:sample]:
        with Image.open(p) as im:
            w, h = im.size
        for label, scale in (("1/1", 1), ("1/2", 2), ("1/4", 4), ("1/8", 8),
                             (f"preview ({edge} px)", draft_scale(w, h, edge))):
            t = time.perf_counter()
            with Image.open(p) as im:
                im.draft("RGB", (max(1, w // scale), max(1, h // scale)))
                im.load()
            times.setdefault(label, []).append((time.perf_counter() - t) * 1000)
    return {k: statistics.median(v) for k, v in times.items()}


_RESCAN = """import os, sys, time
from lumina.catalog.db import open_catalog
from lumina.pipeline.jobs import run_now
catalog = open_catalog(sys.argv[1], overrides={"workers": 2})
t = time.perf_counter()
job = run_now(catalog, "scan", {"roots": [os.path.abspath(sys.argv[2])], "force": False, "retry_failed": False})
took = time.perf_counter() - t
assert job["status"] == "succeeded", job
assert not any(v["ok"] + v["failed"] for v in job["result"]["stages"].values()), job["result"]["stages"]
print(took, job["result"]["unchanged"])
"""


def rescan_s(catalog: Path, library: Path, python_path: str | None) -> float:
    """Seconds of one unchanged scan as ``lumina scan`` runs it (a scan job: job bookkeeping, walk,
    compare, plan every stage, catalog-wide checks), timed inside a fresh process (start-up, imports
    and opening the catalog excluded) run with ``python_path`` first."""
    env = dict(os.environ, LUMINA_SETTLE_S="0")
    if python_path:
        env["PYTHONPATH"] = python_path
    out = subprocess.run([sys.executable, "-c", _RESCAN, str(catalog), str(library)], env=env, cwd=tempfile.gettempdir(),
                         capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"rescan failed: {out.stderr[-2000:]}")
    return float(out.stdout.split()[0])


def rescans(n_files: int, runs: int, before: str | None = None, keep: Path | None = None,
            database_url: str | None = None) -> None:
    """Unchanged rescans and the gap report on a catalog of ``n_files`` small distinct JPEGs (the
    thumbnails of the large corpus files, each with its own COM segment), all stages run once by this
    tree. With ``before``, that tree's rescan of the same catalog, interleaved run by run.

    ``keep``: a folder for the library and the catalog (``catalog``, on PostgreSQL ``catalog-postgresql``),
    built on the first call and taken as it is on later ones (a 20k catalog takes most of an hour to
    build on two cores); the ``before`` tree rescans ``<catalog>-before`` (a copy at its schema).
    ``database_url``: the catalog's database (a PostgreSQL URL; an empty database), else SQLite."""
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        _rescans_in(keep, n_files, runs, before, database_url)
        return
    with tempfile.TemporaryDirectory() as tmp:
        _rescans_in(Path(tmp), n_files, runs, before, database_url)


def _schema_copy(catalog, dest: Path, tree: str) -> None:
    """A copy of the SQLite ``catalog`` in ``dest`` at the schema revision of the Lumina in ``tree``
    (an older tree refuses a newer schema): the folder copied, then downgraded with Alembic. For a
    PostgreSQL catalog, make ``dest`` by hand with that tree's ``lumina catalog copy``."""
    import re

    from alembic import command

    from lumina.catalog.db import alembic_config

    if catalog.engine.url.get_backend_name() != "sqlite":
        sys.exit(f"--before on a PostgreSQL catalog: create {dest} with that tree's `lumina catalog copy` first")
    head = re.search(r'HEAD_REVISION = "(\w+)"', (Path(tree) / "lumina/catalog/db.py").read_text()).group(1)
    shutil.copytree(catalog.path, dest)
    cfg = alembic_config(f"sqlite:///{dest / 'catalog.db'}")
    command.downgrade(cfg, head)


def _rescans_in(folder: Path, n_files: int, runs: int, before: str | None, database_url: str | None) -> None:
    from PIL import Image

    from lumina.analysis.gaps import gap_report
    from lumina.catalog.db import open_catalog
    from lumina.pipeline.scan import scan

    os.environ["LUMINA_SETTLE_S"] = "0"
    library = folder / "library"
    catalog_dir = folder / ("catalog" if database_url is None else "catalog-postgresql")  # one library, both
    first = None
    if not (catalog_dir / "built").exists():
        small = folder / "small"
        small.mkdir(exist_ok=True)
        for src in sorted(LARGE.glob("*.jpg")):
            with Image.open(src) as im:
                im.draft("RGB", (160, 160))
                im.thumbnail((160, 160))
                im.save(small / src.name, quality=85, exif=im.getexif())
        if not library.exists():
            build_library(library, n_files, sorted(small.glob("*.jpg")))
        catalog = open_catalog(catalog_dir, create=True, database_url=database_url, overrides={"workers": 2})
        t = time.perf_counter()
        scan(catalog, [library])
        first = time.perf_counter() - t
        (catalog_dir / "built").write_text(f"{first:.1f}\n")
    else:
        catalog = open_catalog(catalog_dir, overrides={"workers": 2})
    n_files = sum(1 for p in library.rglob("*.jpg"))
    before_catalog = catalog_dir.with_name(catalog_dir.name + "-before")
    if before and not before_catalog.exists():
        _schema_copy(catalog, before_catalog, before)
    gaps_s = []
    for _ in range(runs):
        t = time.perf_counter()
        gap_report(catalog)
        gaps_s.append(time.perf_counter() - t)
    backend = catalog.engine.url.get_backend_name()
    catalog.close()
    times: dict[str, list[float]] = {}
    for _ in range(runs):
        for label, tree in (("this tree", None), *((f"before ({before})", before),) * bool(before)):
            times.setdefault(label, []).append(rescan_s(before_catalog if tree else catalog_dir, library, tree))
    g = statistics.median(gaps_s)
    built = f"first scan {first:.1f} s" if first is not None else f"catalog kept in {catalog_dir}"
    print(f"\nrescans: {n_files} small JPEGs on {backend}, {built}, load average {os.getloadavg()[0]:.1f}; "
          f"lumina gaps median {g:.2f} s")
    for label, ts in times.items():
        r = statistics.median(ts)
        print(f"  unchanged rescan ({label}): median {r:.2f} s = {n_files / r:,.0f} files/s "
              f"(runs {', '.join(f'{t:.2f}' for t in ts)} s; target 20,000 at 20k files)")
    if before:
        ratio = statistics.median(times[f"before ({before})"]) / statistics.median(times["this tree"])
        print(f"  rescan speed-up over before: {ratio:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=96)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--before", help="source tree of an earlier Lumina, timed beside this one")
    ap.add_argument("--library", help="use (and keep) this folder of JPEGs instead of building one")
    ap.add_argument("--rescan-files", type=int, default=0, help="also time unchanged rescans and the gap "
                    "report on a catalog of this many small JPEGs (e.g. 20000)")
    ap.add_argument("--rescan-dir", help="keep the rescans' library and catalog in this folder (built once, "
                    "reused by later runs)")
    ap.add_argument("--database-url", help="the rescans' catalog database (PostgreSQL URL); default SQLite")
    args = ap.parse_args()
    if args.rescan_files:
        rescans(args.rescan_files, args.runs, args.before, Path(args.rescan_dir) if args.rescan_dir else None,
                args.database_url)
    if args.files <= 0 and not args.library:
        return
    with tempfile.TemporaryDirectory() as tmp:
        if args.library:
            files = sorted(p for p in Path(args.library).rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))
            library = Path(args.library)
        else:
            library = Path(tmp) / "library"
            files = build_library(library, args.files)
        n = len(files)
        mp = statistics.median(megapixels(p) for p in files[:16])
        print(f"library: {n} camera JPEGs (median {mp:.1f} MP), {os.cpu_count()} cores, {args.runs} runs, "
              f"load average {os.getloadavg()[0]:.1f}")
        runs: dict[str, list[dict]] = {}
        peer: dict[str, list[float]] = {}
        for _ in range(args.runs):  # interleaved, so that load from other users hits every column alike
            runs.setdefault("lumina (this tree)", []).append(lumina_scan(library, None))
            if args.before:
                runs.setdefault(f"lumina ({args.before})", []).append(lumina_scan(library, args.before))
            for k, v in floors(files).items():
                peer.setdefault(k, []).append(v)
        floor_s = {k: statistics.median(v) for k, v in peer.items()}
        print("\nfloors on the same files (median wall s, files/s):")
        for k, s in floor_s.items():
            print(f"  {k:44s} {s:7.2f} s  {n / s:7.1f} files/s")
        vips_key = next(k for k in floor_s if "thumbnail 256" in k and "ips" in k)
        results = {}
        for name, rs in runs.items():
            wall = statistics.median(r["wall_s"] for r in rs)
            cpu_pct = statistics.median(100 * r["cpu_s"] / r["wall_s"] for r in rs)
            rss = max(r["rss_mb"] for r in rs)
            worker_rss = max(r["worker_rss_mb"] for r in rs)
            stage_ms = {k: statistics.median(r["stage_ms"].get(k, 0.0) for r in rs) for k in rs[0]["stage_ms"]}
            results[name] = {"files_s": n / wall, "wall_s": wall, "cpu_pct": cpu_pct, "rss_mb": worker_rss,
                             "main_rss_mb": rss,
                             "vips_ratio": wall / floor_s[vips_key], "stage_ms": stage_ms}
            print(f"\n{name}: first scan {wall:6.2f} s = {n / wall:5.1f} files/s, CPU {cpu_pct:4.0f} %, "
                  f"peak RSS {worker_rss:4.0f} MB per worker ({rss:4.0f} MB main process), "
                  f"{rs[-1]['not_ok']} records not ok")
            print("  ratio to floors: " + ", ".join(f"{k.split(' ')[0]} {wall / s:4.1f}x" for k, s in floor_s.items()))
            print("  stage ms/file (median of records): " + ", ".join(f"{k} {v:.1f}" for k, v in stage_ms.items()))
        me = results["lumina (this tree)"]
        print("\ntargets (issue 17):")
        for label, ok in ((f"files/s >= {TARGET_FILES_S:.0f}: {me['files_s']:.1f}", me["files_s"] >= TARGET_FILES_S),
                          (f"time <= {TARGET_VIPS_RATIO:.0f}x libvips thumbnail: {me['vips_ratio']:.2f}x",
                           me["vips_ratio"] <= TARGET_VIPS_RATIO),
                          (f"CPU > {TARGET_CPU_PCT:.0f} %: {me['cpu_pct']:.0f} %", me["cpu_pct"] > TARGET_CPU_PCT),
                          (f"peak RSS per worker <= {TARGET_RSS_MB:.0f} MB: {me['rss_mb']:.0f} MB", me["rss_mb"] <= TARGET_RSS_MB)):
            print(f"  {'met    ' if ok else 'NOT met'}  {label}")
        if args.before:
            before = results[f"lumina ({args.before})"]
            print(f"  speed-up over before: {me['files_s'] / before['files_s']:.2f}x (target 3x)")
        print("\npixel group profile, ms per file, one process (16 files):")
        prof = profile(files)
        names = list(prof)
        print(f"  {'step':36s} " + " ".join(f"{r:>9s}" for r in names))
        for step in prof[names[0]]:
            print(f"  {step:36s} " + " ".join(f"{prof[r][step]:9.1f}" for r in names))
        print(f"  {'total':36s} " + " ".join(f"{sum(prof[r].values()):9.1f}" for r in names))
        scales = decode_scales(files)
        print("\nJPEG decode by DCT scale (Pillow draft), median ms per file, one process: " + ", ".join(
            f"{k} {v:.0f}" for k, v in scales.items()) + f"; the preview's scale costs "
            f"{scales[next(k for k in scales if k.startswith('preview'))] / scales['1/8']:.2f}x the 1/8 floor's")
        print(json.dumps({"files": n, "floors_s": floor_s, "lumina": results}, default=float))


def megapixels(path: Path) -> float:
    from PIL import Image

    with Image.open(path) as im:
        return im.width * im.height / 1e6


if __name__ == "__main__":
    main()
