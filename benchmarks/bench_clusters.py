"""Duplicate detection on libraries that are one big cluster: time and peak RSS against cluster size.

Two kinds of library:

* **Files** (``--files``): a library of real-pixel JPEGs built in a temporary folder outside the
  repository: a few real photos of ../shared/eval/dev/originals, each scaled to ``--width-px``
  (default 640: a VGA webcam or a timelapse/preview export; such dumps are small images) and saved
  thousands of times, every copy cropped by a different 0-6 px from its left and top edges (a
  timelapse, product shots on white, a webcam dump); 735 distinct images per scene, the rest exact
  copies, unless ``--noise`` gives every copy its own sensor noise (every file an asset of its
  own). ``lumina scan`` runs on it (all stages); then duplicate detection runs again in a fresh
  process, whose time and peak RSS are its own, with this implementation and with the previous
  one (``git show PREVIOUS:lumina/analysis/duplicates.py``, loaded as a module), the latter under
  a memory cap (``--cap-gib``) and a time cap (``--cap-s``).
* **Signatures** (``--signatures``): the same real-pixel copies, hashed in this process by the
  hashes stage's own code (``image_hashes``, the 64x64 signature) and written as catalog rows
  without JPEG files or a scan: detection at sizes whose full scan takes too long here.
* **Synthetic** (``--synthetic``): catalog rows as bench_duplicates.py writes them, every asset in
  one cluster: hashes 0-4 bits from one centre, signatures 0-2 grey levels from one base.

Printed per size: files/assets, candidate pairs, capped hashes, similar-sets and groups, detection
time and peak RSS (each implementation), and the growth exponents of time and memory against
cluster size (least-squares slope of log(value) on log(size)).

    python benchmarks/bench_clusters.py [--files 2000 5000 20000] [--width-px 640] [--noise] [--synthetic 100000]
                                        [--signatures 5000] [--previous 5a7f6ff | --no-previous]

The scan line gives the whole scan's time and the peak resident memory of its process tree (the
scan process and its workers, sampled every 0.5 s), and the load average; the ``user`` line what
``lumina duplicates`` and ``lumina bursts`` then show.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PREVIOUS = "5a7f6ff"  # the last commit before issue 14's bounded detection
PHOTOS = ("DSCN0010.jpg", "Canon EOS 7D.jpg", "Nikon E990.jpg", "Kodak DC3400.jpg")


def build_library(folder: Path, n: int, width_px: int = 640, noise: bool = False) -> None:
    """n JPEGs: len(PHOTOS) real photos at ``width_px``, each copy cropped by 0-6 px left and top
    (and with its own sensor noise with ``noise``)."""
    for k, im in copies(n, width_px, noise):
        step = k // len(PHOTOS)
        sub = folder / f"scene{k % len(PHOTOS)}" / f"{step // 1000:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        path = sub / f"frame_{step:06d}.jpg"
        # the same crop twice would be the same bytes (an exact copy): vary quality too
        im.save(path, quality=80 + (step // 49) % 15)
        os.utime(path, (time.time() - 3600,) * 2)  # settled: the scan defers files modified seconds ago


def copies(n: int, width_px: int = 640, noise: bool = False):
    """The n cropped real-pixel copies of ``build_library``, as (k, PIL image); with ``noise``, each
    with its own sensor noise."""
    from PIL import Image

    bases = []
    for name in PHOTOS:
        with Image.open(ROOT.parent / "shared/eval/dev/originals" / name) as im:
            im = im.convert("RGB")
            bases.append(im.resize((width_px, round(width_px * im.height / im.width)), Image.Resampling.LANCZOS))
    for k in range(n):
        base, step = bases[k % len(bases)], k // len(bases)
        dx, dy = step % 7, (step // 7) % 7
        frame = base.crop((dx, dy, base.width - 6 + dx, base.height - 6 + dy))
        if noise:
            # sensor noise (sigma 2 grey levels): no two frames of a timelapse or a webcam have the same
            # pixels, so every file is an asset of its own (without it, the 49 crops x 15 qualities
            # repeat every 735 frames of a scene: the rest are exact copies)
            pixels = np.asarray(frame, dtype=np.float32) + np.random.default_rng(k).normal(0.0, 2.0, (frame.height, frame.width, 3))
            frame = Image.fromarray(np.clip(pixels + 0.5, 0, 255).astype(np.uint8))
        yield k, frame


def write_rows(catalog: Path, n: int, rows_of) -> None:
    """A catalog of n photo assets with one file each; ``rows_of(start, stop)`` gives their
    perceptual_hashes rows (asset ids ``f"{k:064x}"``)."""
    from sqlalchemy import insert

    from lumina.catalog.db import open_catalog
    from lumina.catalog.models import Asset, FileInstance, PerceptualHash, Source
    from lumina.pipeline.scan import now

    cat = open_catalog(catalog)
    with cat.engine.begin() as conn:
        conn.execute(insert(Source), [{"id": 1, "path_bytes": b"/lib", "path": "/lib", "added_at": now()}])
        ids = [f"{k:064x}" for k in range(n)]
        conn.execute(insert(Asset), [{"asset_id": a, "size_bytes": 1000, "media_kind": "photo", "file_type": "jpeg",
                                      "detected_by": "extension", "status": "active", "first_seen_at": now()}
                                     for a in ids])
        conn.execute(insert(FileInstance), [{"source_id": 1, "path_bytes": f"/lib/{k}.jpg".encode(),
                                             "path": f"/lib/{k}.jpg", "asset_id": a, "status": "present",
                                             "first_seen_at": now(), "warnings": []} for k, a in enumerate(ids)])
        for start in range(0, n, 10_000):
            conn.execute(insert(PerceptualHash), rows_of(start, min(n, start + 10_000)))
    cat.close()


def write_signatures(catalog: Path, n: int) -> None:
    """Rows for ``copies(n)``, hashed as the hashes stage does."""
    from PIL import Image

    from lumina.stages.hashes import HASH_WORKING_PX, SIGNATURE_PX, image_hashes, to_signed

    made = {}
    for k, im in copies(n):
        im.thumbnail((HASH_WORKING_PX, HASH_WORKING_PX), Image.Resampling.LANCZOS)
        sig = np.asarray(im.convert("L").resize((SIGNATURE_PX, SIGNATURE_PX), Image.Resampling.BOX), dtype=np.uint8)
        made[k] = {"asset_id": f"{k:064x}", **{h: to_signed(v) for h, v in image_hashes(im).items()},
                   "degenerate": False, "signature": sig.tobytes()}
    write_rows(catalog, n, lambda start, stop: [made[k] for k in range(start, stop)])


def write_synthetic(catalog: Path, n: int, seed: int = 5) -> None:
    """A catalog of n photo rows in one cluster (hashes, signatures; no files)."""
    from lumina.stages.hashes import to_signed

    rng = np.random.default_rng(seed)
    centre = int(rng.integers(0, 2 ** 63))
    base = rng.integers(40, 200, size=(64, 64), dtype=np.uint8)

    def rows_of(start: int, stop: int) -> list[dict]:
        rows = []
        for k in range(start, stop):
            code = centre
            for bit in rng.choice(64, size=int(rng.integers(0, 5)), replace=False):
                code ^= 1 << int(bit)
            c = to_signed(code)
            sig = np.clip(base.astype(np.int16) + rng.integers(-2, 3, size=(64, 64)), 0, 255).astype(np.uint8)
            rows.append({"asset_id": f"{k:064x}", "ahash": c, "dhash": c, "phash": c, "whash": c,
                         "degenerate": False, "signature": sig.tobytes()})
        return rows

    write_rows(catalog, n, rows_of)


def detect_child(catalog: Path, implementation: str, previous: str = PREVIOUS) -> dict:
    """Duplicate detection over ``catalog`` in this process: time, counts and peak RSS;
    ``implementation`` "current" or "previous" (duplicates.py of commit ``previous``)."""
    from lumina.catalog.db import open_catalog
    from lumina.pipeline.bursts_run import burst_members

    if implementation == "previous":
        import importlib.util

        source = subprocess.run(["git", "-C", str(ROOT), "show", f"{previous}:lumina/analysis/duplicates.py"],
                                capture_output=True, text=True, check=True).stdout
        path = Path(tempfile.mkdtemp()) / "previous_duplicates.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location("previous_duplicates", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["previous_duplicates"] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
        detect = module.detect
    else:
        from lumina.analysis.duplicates import detect
    cat = open_catalog(catalog, create=False)
    start = time.perf_counter()
    with cat.session() as s:
        groups, stats = detect(s, cat.settings, None, burst_members(s))
    elapsed = time.perf_counter() - start
    cat.close()
    classes: dict[str, int] = {}
    for g in groups:
        classes[g.group_class] = classes.get(g.group_class, 0) + 1
    return {"s": round(elapsed, 2), "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
            "candidates": stats["candidates"], "capped": stats.get("capped_hashes"), "classes": classes,
            "largest": max((len(g.members) for g in groups), default=0)}


def child(catalog: Path, implementation: str, cap_s: int, cap_gib: float, previous: str = PREVIOUS) -> dict | str:
    """``detect_child`` in a fresh process under the caps; a string saying why it did not finish."""
    limit = int(cap_gib * 2 ** 30)
    try:
        out = subprocess.run([sys.executable, __file__, "--child", str(catalog), implementation, previous],
                             capture_output=True, text=True, timeout=cap_s,
                             preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit)))
    except subprocess.TimeoutExpired:
        return f"did not finish within {cap_s} s"
    if out.returncode != 0:
        tail = (out.stderr.strip().splitlines() or ["?"])[-1]
        return f"failed under the {cap_gib} GiB cap ({tail[:80]})"
    return json.loads(out.stdout.splitlines()[-1])


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of process ``pid`` and all its descendants (bytes, from /proc; 0 when gone)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            pass
    return total


def scan_library(folder: Path, catalog: Path) -> dict:
    """``lumina scan`` of the library (all stages) in a subprocess: seconds, the peak resident memory
    of its whole process tree (sampled every 0.5 s, MiB) and the scan's JSON summary."""
    start = time.perf_counter()
    proc = subprocess.Popen([str(Path(sys.executable).parent / "lumina"), "scan", str(folder), "--catalog", str(catalog),
                             "-q", "--format", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss_bytes(proc.pid))
        time.sleep(0.5)
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"lumina scan failed ({proc.returncode}): {err.strip()[-500:]}")
    return {"s": time.perf_counter() - start, "tree_rss_mib": peak // 2 ** 20, "summary": json.loads(out)}


def cli_results(catalog: Path) -> str:
    """What a user sees after the scan: counts of ``lumina duplicates`` and ``lumina bursts`` (JSON)."""
    lumina = str(Path(sys.executable).parent / "lumina")
    dup = json.loads(subprocess.run([lumina, "duplicates", "--catalog", str(catalog), "--format", "json"],
                                    check=True, capture_output=True, text=True).stdout)
    bursts = json.loads(subprocess.run([lumina, "bursts", "--catalog", str(catalog), "--format", "json"],
                                       check=True, capture_output=True, text=True).stdout)
    sets = dup.get("similar_sets", [])
    return (f"duplicates: {len(dup.get('groups', []))} groups, {len(sets)} similar-sets of "
            f"{sorted((len(s['members']) for s in sets), reverse=True)} members, "
            f"{len(dup.get('derivatives', []))} derivative sets; bursts: {len(bursts.get('bursts', []))}"
            + (f"; first similar-set reason: {sets[0]['reason']}" if sets else ""))


def exponent(sizes: list[int], values: list[float]) -> float | None:
    """Least-squares slope of log(value) on log(size): value ~ size^slope."""
    if len(sizes) < 2:
        return None
    return float(np.polyfit(np.log(sizes), np.log(values), 1)[0])


def show(label: str, n: int, r: dict | str) -> None:
    if isinstance(r, str):
        print(f"  {label:9} n={n:>7,}: {r}")
        return
    print(f"  {label:9} n={n:>7,}: {r['s']:8.2f} s, peak RSS {r['rss_mib']:6,} MiB, {r['candidates']:,} candidates, "
          f"{r['capped'] if r['capped'] is not None else '-'} capped hashes, results {r['classes']}, "
          f"largest {r['largest']:,}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, nargs="*", default=[2000, 5000])
    ap.add_argument("--signatures", type=int, nargs="*", default=[])
    ap.add_argument("--synthetic", type=int, nargs="*", default=[100_000])
    ap.add_argument("--cap-s", type=int, default=600)
    ap.add_argument("--cap-gib", type=float, default=6.0)
    ap.add_argument("--width-px", type=int, default=640, help="width of the library's JPEGs (--files)")
    ap.add_argument("--no-previous", action="store_true", help="skip the previous implementation")
    ap.add_argument("--noise", action="store_true", help="every copy with its own sensor noise (--files)")
    ap.add_argument("--previous", default=PREVIOUS, help=f"commit of the implementation to compare (default {PREVIOUS})")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(detect_child(Path(args.child[0]), args.child[1], args.child[2])))
        return
    for kind, sizes in (("files", args.files), ("signatures", args.signatures), ("synthetic", args.synthetic)):
        if not sizes:
            continue
        print(f"{kind}: one cluster" if kind == "synthetic" else f"{kind}: one cluster per scene ({len(PHOTOS)} scenes)")
        mine: list[tuple[int, dict]] = []
        for n in sizes:
            with tempfile.TemporaryDirectory() as tmp:
                catalog = Path(tmp) / "cat"
                if kind == "files":
                    build_library(Path(tmp) / "lib", n, args.width_px, args.noise)
                    built = sum(f.stat().st_size for f in (Path(tmp) / "lib").rglob("*.jpg"))
                    load = os.getloadavg()[0]
                    scan = scan_library(Path(tmp) / "lib", catalog)
                    print(f"  scan     n={n:>7,}: {args.width_px} px JPEGs, {built / n / 1024:.0f} KiB each; lumina scan "
                          f"{scan['s']:.1f} s (all stages), peak RSS of the whole scan {scan['tree_rss_mib']:,} MiB, "
                          f"load {load:.1f} before / {os.getloadavg()[0]:.1f} after; "
                          f"files new {scan['summary'].get('new')}, failed {scan['summary'].get('failed')}")
                    print(f"  user     n={n:>7,}: {cli_results(catalog)}")
                elif kind == "signatures":
                    write_signatures(catalog, n)
                else:
                    write_synthetic(catalog, n)
                r = child(catalog, "current", args.cap_s, args.cap_gib)
                show("current", n, r)
                if not isinstance(r, str):
                    mine.append((n, r))
                if not args.no_previous:
                    show("previous", n, child(catalog, "previous", args.cap_s, args.cap_gib, args.previous))
        if len(mine) > 1:
            ns = [n for n, _ in mine]
            print(f"  growth exponents (current): time ~ n^{exponent(ns, [r['s'] for _, r in mine]):.2f}, "
                  f"peak RSS ~ n^{exponent(ns, [r['rss_mib'] for _, r in mine]):.2f}")


if __name__ == "__main__":
    main()
