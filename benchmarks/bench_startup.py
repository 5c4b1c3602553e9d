"""Start-up time of the ``lumina`` executable against the floor of ``python3 -c "import typer"``.

Measures, interleaved so that the machine's load hits every command alike: ``import typer`` (the
floor: Python plus the CLI library), ``lumina --help``, ``lumina --version``, ``lumina show PATH
--format json`` and ``lumina show PATH`` (table) on a one-photo catalog, and ``lumina show`` with 20
paths in one call, and the floor of any catalog command (``import typer`` plus SQLAlchemy and
the catalog's ORM models). Prints the median wall time of each and its excess over the floor (issue #13's
goal: every command under 0.5 s on the 2-core development machine).

    python benchmarks/bench_startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus" / "real"
LUMINA = str(Path(sys.executable).with_name("lumina"))


def wall_and_cpu_s(cmd: list[str]) -> tuple[float, float]:
    """Wall time, and CPU time (user + system) of the child: the CPU time does not grow with the
    machine's load the way the wall time does (this machine is shared)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        lib = Path(tmp) / "lib"
        lib.mkdir()
        photos = sorted(p for p in (CORPUS / "exif-samples" / "jpg").glob("*.jpg"))[:20]
        for p in photos:
            shutil.copy2(p, lib / p.name)
        cat = str(Path(tmp) / "cat")
        subprocess.run([LUMINA, "scan", str(lib), "--catalog", cat, "-q"], check=True, stdout=subprocess.DEVNULL,
                       env={**os.environ, "LUMINA_SETTLE_S": "0"})
        one = str(lib / photos[0].name)
        commands = {
            "python3 -c 'import typer' (floor)": [sys.executable, "-c", "import typer"],
            # what every catalog command needs on top: SQLAlchemy and the ORM models (one code path
            # for SQLite and PostgreSQL), ended with os._exit as `show` ends
            "import typer + catalog models (os._exit)": [sys.executable, "-c", "import os, typer, lumina.catalog.models; "
                                                         "os._exit(0)"],
            "lumina --help": [LUMINA, "--help"],
            "lumina --version": [LUMINA, "--version"],
            "lumina show PATH --format json": [LUMINA, "show", one, "--catalog", cat, "--format", "json"],
            "lumina show PATH (table)": [LUMINA, "show", one, "--catalog", cat],
            f"lumina show {len(photos)} PATHS --format json": [LUMINA, "show", *(str(lib / p.name) for p in photos),
                                                               "--catalog", cat, "--format", "json"],
        }
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        for name, cmd in commands.items():  # warm the page cache once
            wall_and_cpu_s(cmd)
        for _ in range(args.runs):
            for name, cmd in commands.items():
                times[name].append(wall_and_cpu_s(cmd))
    floor_wall = statistics.median(w for w, _ in next(iter(times.values())))
    floor_cpu = statistics.median(c for _, c in next(iter(times.values())))
    print(f"start-up, median of {args.runs} interleaved runs (load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores)")
    print(f"  {'command':<40} {'wall':>8} {'over floor':>11} {'CPU':>8} {'over floor':>11}")
    for name, values in times.items():
        wall = statistics.median(w for w, _ in values)
        cpu = statistics.median(c for _, c in values)
        print(f"  {name:<40} {wall * 1000:6.0f}ms {(wall - floor_wall) * 1000:+9.0f}ms {cpu * 1000:6.0f}ms "
              f"{(cpu - floor_cpu) * 1000:+9.0f}ms")


if __name__ == "__main__":
    main()
