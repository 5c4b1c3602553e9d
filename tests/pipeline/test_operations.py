"""Operations a user can trust (#13): a real ``lumina scan`` killed at random moments and run again,
Ctrl-C and SIGTERM, no orphans, a catalog disk that fills up.

Every test runs the installed command in a subprocess, as a user would, on a small copy of the real
corpus (camera JPEGs, PNG, TIFF, HEIC, RAW, video, broken and fuzzed files).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from lumina.catalog.db import open_catalog
from lumina.catalog.models import Job
from lumina.errors import ConflictError
from tests.conftest import command_env, copy_files, peek
from tests.pipeline.test_jobs import manifest_sample, table_rows

LUMINA = [sys.executable, "-m", "lumina"]
CHAOS = {"jpeg": 24, "png": 3, "tiff": 2, "heic": 1, "raw": 1, "video": 2, "broken": 3, "fuzzed": 3, "webp": 1}


def env(database_url: str | None = None, **extra: str) -> dict[str, str]:
    return command_env(database_url, LUMINA_WORKERS="2", **extra)


def lumina(*args: str, database_url: str | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([*LUMINA, *args], capture_output=True, text=True, env=env(database_url), timeout=300,
                          **kwargs)


def start(*args: str, output: int = subprocess.PIPE) -> subprocess.Popen:
    return subprocess.Popen([*LUMINA, *args], stdout=output, stderr=output, text=True, env=env(),
                            start_new_session=True)


def gaps(catalog: Path) -> dict:
    res = lumina("gaps", "--catalog", str(catalog), "--format", "json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    doc.pop("catalog")
    for key in ("duplicates", "bursts"):  # a generation id counts runs: a run killed while building one used an id
        doc[key].pop("generation")
    return doc


def state(catalog: Path) -> dict:
    """What a user can observe: the gap report, every stage record and output, the thumbnail files."""
    cat = open_catalog(catalog, create=False)
    rows = table_rows(cat)
    with cat.session() as s:
        active = [(j.id, j.status) for j in s.scalars(select(Job).where(Job.status.in_(("queued", "running", "interrupted"))))]
    cat.close()
    thumbs = sorted(str(p.relative_to(catalog)) for p in (catalog / "thumbnails").rglob("*") if p.is_file())
    return {"gaps": gaps(catalog), "rows": rows, "active_jobs": active, "thumbnail_files": thumbs}


@pytest.fixture(scope="module")
def chaos_library(corpus, tmp_path_factory):
    lib = tmp_path_factory.mktemp("chaos") / "lib"
    copy_files(corpus, lib, *manifest_sample(corpus, CHAOS))
    return lib


@pytest.fixture(scope="module")
def reference(chaos_library, tmp_path_factory, session_database):
    """The same library scanned once, uninterrupted, by the same command (a database of its own)."""
    catalog = tmp_path_factory.mktemp("reference") / "cat"
    t0 = time.monotonic()
    res = lumina("scan", str(chaos_library), "--catalog", str(catalog), "-q", database_url=session_database())
    assert res.returncode == 0, res.stderr
    doc = state(catalog)
    doc["units"] = settled_units(catalog)
    doc["catalog"] = catalog  # read-only for the tests
    return doc, time.monotonic() - t0


def settled_units(catalog: Path) -> int:
    """Committed asset-stage results of the newest job (read-only: the scan is writing)."""
    rows = peek(catalog, "SELECT done + failed FROM jobs ORDER BY id DESC LIMIT 1")
    return rows[0][0] if rows else 0  # none: not created or not migrated yet


def stop_when(proc: subprocess.Popen, catalog: Path, units: int, sig: int) -> float:
    """Send ``sig`` once ``units`` results are committed (or the scan ended); returns the time sent."""
    while proc.poll() is None and settled_units(catalog) < units:
        time.sleep(0.03)
    proc.send_signal(sig)
    return time.monotonic()


def test_scan_killed_at_random_moments_then_rerun_equals_an_uninterrupted_scan(chaos_library, reference, tmp_path):
    """7 kills at random moments, each time the same command again: one while Python starts or the
    folders are walked (a random time), six at random points of the stage work (a random number of
    committed results: per-asset stages, pixel stages in the process pool, the catalog-wide stages),
    by SIGKILL, Ctrl-C and SIGTERM in turn. The result equals an uninterrupted scan's."""
    expected, _ = reference
    total = expected["units"]
    catalog = tmp_path / "cat"
    seed = int(os.environ.get("LUMINA_CHAOS_SEED", time.time_ns() % 10_000))
    rng = random.Random(seed)
    targets = sorted(rng.sample(range(1, total), 6))
    plan = [(signal.SIGKILL, None)] + list(zip([signal.SIGINT, signal.SIGKILL, signal.SIGTERM, signal.SIGKILL,
                                                signal.SIGINT, signal.SIGKILL], targets))
    log = []
    for sig, units in plan:
        proc = start("scan", str(chaos_library), "--catalog", str(catalog), "-q")
        if units is None:
            time.sleep(rng.uniform(0.1, 1.5))
            proc.send_signal(sig)
            sent = time.monotonic()
        else:
            sent = stop_when(proc, catalog, units, sig)
        out, err = proc.communicate(timeout=60)
        log.append((sig.name, units, proc.returncode, settled_units(catalog)))
        assert "already" not in err, (seed, log, err)  # never "job 1 (scan) is already interrupted"
        if sig == signal.SIGKILL:
            assert proc.returncode in (-9, 0), (seed, log, err)
        else:
            assert time.monotonic() - sent < 2.0, (seed, log)  # stopped within 2 s
            # 0: the scan had ended; -sig, or 1 with Python's KeyboardInterrupt traceback (`python -m`
            # reports it so: 26 of 60 Ctrl-C within the first 30 ms, measured): the signal came while
            # Python was still starting, before Lumina handles signals at all (nothing written yet).
            # That happens when the kill before overshot this run's target (a SIGKILL lands a batch
            # later than its target), so it is sent at once
            early = proc.returncode == 1 and err.rstrip().endswith("KeyboardInterrupt") and sig == signal.SIGINT
            assert proc.returncode in (0, 128 + sig, -sig) or early, (seed, log, err)
            if proc.returncode == 128 + sig:
                assert "Run the same command again" in err or "before anything was written" in err, (seed, log)
    interrupted = sum(rc != 0 for *_, rc, _ in log)
    assert interrupted >= 5, (seed, log)
    res = lumina("scan", str(chaos_library), "--catalog", str(catalog), "-q")
    assert res.returncode == 0 and "already" not in res.stderr, (seed, log, res.stderr)
    got = state(catalog)
    assert got["active_jobs"] == [] and expected["active_jobs"] == []
    assert got["gaps"] == expected["gaps"], (seed, log)
    assert got["rows"] == expected["rows"], (seed, log)  # every stage record and every stage output
    assert got["thumbnail_files"] == expected["thumbnail_files"], (seed, log)  # no partial files either
    print(f"chaos seed {seed}, {interrupted} interruptions of {total} units: {log}")


def test_second_ctrl_c_stops_at_once(chaos_library, reference, tmp_path):
    """(The chaos test shows that the same command then finishes the work.)"""
    expected, _ = reference
    catalog = tmp_path / "cat"
    proc = start("scan", str(chaos_library), "--catalog", str(catalog))
    stop_when(proc, catalog, expected["units"] // 4, signal.SIGINT)
    time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    sent = time.monotonic()
    _, err = proc.communicate(timeout=30)
    assert time.monotonic() - sent < 2.0
    assert proc.returncode == 130, err  # at once, or the first stop had just ended (then its summary)
    assert "stopped at once" in err or "Run the same command again" in err, err
    statuses = peek(catalog, "SELECT status FROM jobs")  # as after a SIGKILL (or the first stop had just finished):
    assert statuses in ([("running",)], [("interrupted",)])  # either way the next run resumes it


def _session_processes(sid: int) -> list[str]:
    """Command lines of live processes in session ``sid`` (zombies excluded)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == sid and fields[0] != "Z":
                out.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except (OSError, IndexError, ValueError):
            continue
    return out


def test_no_orphans_when_the_parent_is_killed(chaos_library, tmp_path):
    """SIGKILL to the writer alone: its pool workers, forkserver, resource tracker and ExifTools exit
    within 2 s (they are in the writer's session, which ``start_new_session`` made its own)."""
    catalog = tmp_path / "cat"
    proc = start("scan", str(chaos_library), "--catalog", str(catalog), "-q", output=subprocess.DEVNULL)
    while proc.poll() is None and settled_units(catalog) < 3 * len(list(chaos_library.iterdir())) - 10:
        time.sleep(0.03)  # metadata, geo and dates done: the pixel stages run in the pool now
    time.sleep(0.5)
    children = _session_processes(proc.pid)
    assert len(children) >= 4, children  # writer, forkserver, workers, ExifTool
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    end = time.monotonic() + 2.0
    while (left := _session_processes(proc.pid)) and time.monotonic() < end:
        time.sleep(0.05)
    assert left == [], left


def as_json(doc):
    """``doc`` as it reads back from JSON (tuple keys joined with "|", other values by repr)."""
    if isinstance(doc, dict):
        doc = {"|".join(k) if isinstance(k, tuple) else k: as_json(v) for k, v in doc.items()}
        return doc
    return json.loads(json.dumps(doc, default=repr))


def dump_state(catalog: str, out: str) -> None:
    """``state`` as JSON (run inside the mount namespace of the disk-full test)."""
    Path(out).write_text(json.dumps(as_json(state(Path(catalog)))))


FULL_DISK = r"""
set -u
mount -t tmpfs -o size=2m lumina-test "$MNT" || exit 97
"$PY" -m lumina scan "$LIB" --catalog "$MNT/cat" -q > "$OUT/first.out" 2> "$OUT/first.err"; echo $? > "$OUT/first.rc"
mount -o remount,size=64m "$MNT"  # the user frees space
"$PY" -c 'import sys; from tests.pipeline.test_operations import dump_state; dump_state(*sys.argv[1:])' "$MNT/cat" "$OUT/first.json"
"$PY" -m lumina scan "$LIB" --catalog "$MNT/cat" -q > "$OUT/second.out" 2> "$OUT/second.err"; echo $? > "$OUT/second.rc"
"$PY" -c 'import sys; from tests.pipeline.test_operations import dump_state; dump_state(*sys.argv[1:])' "$MNT/cat" "$OUT/second.json"
"""


READ_ONLY_INSTALL = r"""
set -u
mount --bind "$PKG" "$PKG" && mount -o remount,bind,ro "$PKG" || exit 97
touch "$PKG/.lumina-write-probe" 2>/dev/null && exit 98  # the package must really be read-only now
export HOME="$PKG"  # read-only too: no ~/.cache (as root, a missing /nonexistent would just be created)
"$PY" -m lumina scan "$LIB" --catalog "$CAT" -q > "$OUT/scan.out" 2> "$OUT/scan.err"; echo $? > "$OUT/scan.rc"
"$PY" -m lumina duplicates --catalog "$CAT" --format json > "$OUT/dups.json" 2> "$OUT/dups.err"; echo $? > "$OUT/dups.rc"
"""


def test_a_read_only_installation_with_an_unwritable_home_works(eval_dev, tmp_path):
    """The package folder mounted read-only (a private mount namespace) and $HOME unwritable:
    numba cannot cache next to the code or under ~/.cache, yet the scan, whose duplicate detection
    runs the compiled kernels, and `lumina duplicates` work (compiled code is cached in the
    temporary folder instead, see lumina/__init__.py)."""
    if subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode != 0:
        pytest.skip("needs `unshare -rm` (user and mount namespaces) for a read-only bind mount")
    lib = same_image_pair(eval_dev, tmp_path / "lib")
    root = Path(__file__).resolve().parents[2]
    shell_env = env(PKG=str(root / "lumina"), LIB=str(lib), CAT=str(tmp_path / "cat"), OUT=str(tmp_path),
                    PY=sys.executable, PYTHONPATH=str(root))
    shell_env.pop("NUMBA_CACHE_DIR", None)
    res = subprocess.run(["unshare", "-rm", "bash", "-c", READ_ONLY_INSTALL], env=shell_env, capture_output=True,
                         text=True, timeout=600, cwd=tmp_path)
    assert res.returncode == 0, (res.returncode, res.stderr)
    for step in ("scan", "dups"):
        err = (tmp_path / f"{step}.err").read_text()
        assert (tmp_path / f"{step}.rc").read_text().strip() == "0", err
        assert "Traceback" not in err and "locator" not in err, err
    groups = json.loads((tmp_path / "dups.json").read_text())["groups"]
    assert len(groups) == 1 and groups[0]["class"] == "same_image"


def test_full_catalog_disk_stops_the_run_and_the_same_command_finishes_later(chaos_library, reference, tmp_path):
    """The catalog on a 2 MiB tmpfs (a real ENOSPC, in a private mount namespace): the scan stops
    with a clear message and records nothing against any photo; after the disk grows, the same
    command (no --retry-failed) completes the work exactly like an uninterrupted scan."""
    if subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode != 0:
        pytest.skip("needs `unshare -rm` (user and mount namespaces) to mount a small tmpfs")
    expected, _ = reference
    (tmp_path / "mnt").mkdir()
    shell_env = env(MNT=str(tmp_path / "mnt"), LIB=str(chaos_library), OUT=str(tmp_path),
                    PY=sys.executable, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    res = subprocess.run(["unshare", "-rm", "bash", "-c", FULL_DISK], env=shell_env, capture_output=True, text=True,
                         timeout=600, cwd=Path(__file__).resolve().parents[2])
    assert res.returncode == 0, res.stderr
    first_err = (tmp_path / "first.err").read_text()
    assert (tmp_path / "first.rc").read_text().strip() == "1", first_err
    assert "disk_full" in first_err and "run the same command again" in first_err, first_err
    first = json.loads((tmp_path / "first.json").read_text())
    reference_records = as_json(expected["rows"])["records"]
    for key, record in first["rows"]["records"].items():  # whatever was recorded is what a good run records
        assert record == reference_records[key], (key, record)
    assert len(first["rows"]["records"]) < len(reference_records)  # the disk did fill up before the end
    second_err = (tmp_path / "second.err").read_text()
    assert (tmp_path / "second.rc").read_text().strip() == "0", second_err
    second = json.loads((tmp_path / "second.json").read_text())
    assert second["rows"] == as_json(expected["rows"]) and second["gaps"] == as_json(expected["gaps"])
    assert second["thumbnail_files"] == expected["thumbnail_files"] and second["active_jobs"] == []
    print(f"disk full: {len(first['rows']['records'])} of {len(reference_records)} records before; {first_err.strip()}")


def test_empty_and_special_files_and_system_folders(corpus, tmp_path):
    """Zero-length photos are each an asset of their own with ``empty`` failures (never one asset
    shared by every empty file); a FIFO and a socket without a photo extension are recorded as
    skipped with the reason (a FIFO is never opened: a read would block); system folders are
    refused unless forced."""
    import socket

    lib = tmp_path / "lib"
    copy_files(corpus, lib, "exif-samples/jpg/Canon_40D.jpg")
    (lib / "empty1.jpg").write_bytes(b"")
    (lib / "empty2.jpg").write_bytes(b"")
    os.mkfifo(lib / "pipe")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(lib / "sock"))
    catalog = tmp_path / "cat"
    res = lumina("scan", str(lib), "--catalog", str(catalog), "-q", "--format", "json")
    sock.close()
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert (doc["new"], doc["failed"], doc["ignored"]) == (3, 0, 2)
    shown = [json.loads(line) for line in lumina("show", str(lib / "empty1.jpg"), str(lib / "empty2.jpg"),
                                                  str(lib / "pipe"), str(lib / "sock"), "--catalog", str(catalog),
                                                  "--format", "json").stdout.splitlines()]
    assert shown[0]["asset_id"] != shown[1]["asset_id"] and shown[0]["size_bytes"] == shown[1]["size_bytes"] == 0
    for empty in shown[:2]:
        assert empty["paths"] == [empty["files"][0]["path"]]  # one file each
        assert "empty: the file is empty (0 bytes)" in empty["files"][0]["warnings"]
        for stage in ("thumbnails", "hashes", "quality"):
            assert empty["stages"][stage]["error"] == "empty: the file is empty (0 bytes)"
    assert [d["asset_id"] for d in shown[2:]] == [None, None]
    assert [d["files"][0]["status"] for d in shown[2:]] == ["ignored", "ignored"]
    assert shown[2]["files"][0]["error"] == "special_file: a FIFO, not a regular file"
    assert shown[3]["files"][0]["error"] == "special_file: a socket, not a regular file"
    for folder in ("/", "/dev/shm"):  # the root itself, and a folder below one of the system folders
        res = lumina("scan", folder, "--catalog", str(tmp_path / "sys"))
        assert res.returncode == 1 and "is a system folder" in res.stderr and "--allow-system-folder" in res.stderr
    assert not (tmp_path / "sys").exists()


def test_two_scans_on_a_brand_new_catalog(corpus, tmp_path, backend):
    """Both start before the catalog exists: one scans, the other gets the writer-lock message
    (PostgreSQL, which takes several writers: the job is running on another worker, which
    `lumina worker` could help) or, if the first had already finished, scans nothing new; never a
    raw SQL error."""
    lib = tmp_path / "lib"
    copy_files(corpus, lib, *manifest_sample(corpus, {"jpeg": 3}))
    catalog = tmp_path / "cat"
    procs = [start("scan", str(lib), "--catalog", str(catalog), "-q") for _ in range(2)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    assert sorted(rc for rc, _ in results)[0] == 0, results
    for rc, err in results:
        assert "sqlite" not in err.lower() and "Traceback" not in err, err
        if rc != 0:
            busy = "is running on another worker" if backend == "postgresql" else "another scan or run is writing to"
            assert rc == 1 and busy in err, err


def test_show_several_paths_and_version(chaos_library, reference):
    res = lumina("--version")
    assert res.returncode == 0 and res.stdout.startswith("lumina ")
    catalog = reference[0]["catalog"]
    photos = sorted(p for p in chaos_library.iterdir() if p.suffix.lower() == ".jpg")[:5]
    res = lumina("show", *map(str, photos), "/not/catalogued.jpg", "--catalog", str(catalog), "--format", "json")
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    assert res.returncode == 1 and len(lines) == 6  # one line per argument, the unknown one included
    assert [d["paths"][0] for d in lines[:5]] == [str(p) for p in photos] and "error" in lines[5]
    one = json.loads(lumina("show", str(photos[0]), "--catalog", str(catalog), "--format", "json").stdout)
    assert one == lines[0]


def test_capture_time_override_while_a_job_runs_is_kept_and_applied(corpus, tmp_path, settle_now):
    """A user sets a date while `lumina run --force` writes: accepted (no 409), stored at once, and
    applied by the queued job (or the running one), never lost."""
    from lumina.pipeline import jobs
    from lumina.pipeline.overrides import parse_capture_time, set_override

    lib = tmp_path / "lib"
    photos = copy_files(corpus, lib, *manifest_sample(corpus, {"jpeg": 4}))
    catalog = tmp_path / "cat"
    cat = open_catalog(catalog)
    jobs.run_now(cat, "scan", {"roots": [str(lib)]})
    proc = start("run", "--force", "--catalog", str(catalog), "-q")
    while proc.poll() is None and settled_units(catalog) < 1:
        time.sleep(0.03)
    assert proc.poll() is None, "the forced run ended before the override could be sent"
    doc = set_override(cat, str(photos[0]), "capture_time", parse_capture_time("2001-02-03T04:05:06+01:00"))
    assert doc["overrides"]  # stored while the job writes
    proc.communicate(timeout=120)
    assert proc.returncode == 0
    queued = doc["pending_job"]
    if queued is not None:  # the readers were queued for a worker
        assert jobs.get(cat, queued)["status"] == "queued"
    res = lumina("worker", "--once", "--catalog", str(catalog))
    assert res.returncode == 0, res.stderr
    shown = json.loads(lumina("show", str(photos[0]), "--catalog", str(catalog), "--format", "json").stdout)
    assert (shown["capture_time"], shown["capture_time_source"], shown["utc_offset_minutes"]) == \
        ("2001-02-03T04:05:06", "user", 60)
    cat.close()


def same_image_pair(eval_dev: Path, lib: Path) -> Path:
    """``lib`` holding a real photo of the eval set and its re-encoded copy: one same_image group."""
    for folder in ("originals", "reencode"):
        (lib / folder).mkdir(parents=True)
        shutil.copy2(eval_dev / folder / "Nikon E990.jpg", lib / folder / "Nikon E990.jpg")
    return lib


def test_not_duplicates_while_another_process_writes_is_kept_and_applied(eval_dev, tmp_path, settle_now, backend):
    """"Not duplicates" sent while a scan in another process holds the catalog's writer lock:
    accepted (no 409) and stored at once. On SQLite (one writer) the duplicates job it queues applies
    it; on PostgreSQL (several writers) it is applied at once, beside the scan."""
    from lumina.pipeline import jobs
    from lumina.pipeline.duplicates_run import duplicates_report, not_duplicates
    from tests.pipeline.test_writers import Holder

    lib = same_image_pair(eval_dev, tmp_path / "lib")
    cat = open_catalog(tmp_path / "cat")
    jobs.run_now(cat, "scan", {"roots": [str(lib)]})
    with cat.session() as s:
        group, = duplicates_report(s)["groups"]
    pair = [m["asset_id"] for m in group["members"]]
    scanning = Holder(tmp_path / "cat", "shared")  # as a running scan in another process holds it
    try:
        queued = not_duplicates(cat, *pair)
    finally:
        scanning.release()
    if backend == "postgresql":
        assert queued is None
    else:
        assert queued is not None and jobs.get(cat, queued)["status"] == "queued"
        with cat.session() as s:
            assert len(duplicates_report(s)["groups"]) == 1  # not applied yet: the writer was busy
        res = lumina("worker", "--once", "--catalog", str(tmp_path / "cat"))
        assert res.returncode == 0, res.stderr
        assert jobs.get(cat, queued)["status"] == "succeeded"
    with cat.session() as s:
        assert duplicates_report(s)["groups"] == []  # the feedback was kept and applied
    cat.close()


def test_a_folder_link_out_of_the_sources_is_recorded_not_followed(corpus, tmp_path, settle_now):
    lib, outside = tmp_path / "lib", tmp_path / "elsewhere"
    copy_files(corpus, lib, "exif-samples/jpg/Canon_40D.jpg")
    copy_files(corpus, outside, "exif-samples/jpg/Nikon_D70.jpg")
    os.symlink(outside, lib / "linked")
    os.symlink(lib, lib / "back")  # a link inside the library: a loop, cut as before, never "outside"
    cat = open_catalog(tmp_path / "cat")
    from lumina.pipeline.scan import scan as scan_library

    counts = scan_library(cat, [lib], run_stages=False)
    assert (counts.new, counts.ignored) == (1, 1)
    from lumina.catalog.queries import describe

    with cat.session() as s:
        doc = describe(s, str(lib / "linked"))
    assert doc["files"][0]["status"] == "ignored" and doc["files"][0]["error"].startswith("link_outside: ")
    counts = scan_library(cat, [lib], run_stages=False, follow_links_outside=True)
    assert counts.new == 1  # Nikon_D70.jpg through the link, when asked for
    cat.close()


def test_decoder_messages_are_recorded_not_printed(corpus, tmp_path):
    """libtiff prints its complaints on file descriptor 2; they belong to the asset's record."""
    lib = tmp_path / "lib"
    files = copy_files(corpus, lib, "metadata-extractor/tif/ImageTestSuite/m4-336db1cd76254717eb50a8602b651fbf.tif",
                       "metadata-extractor/tif/ImageTestSuite/m7-f0d7bcb90496c323c880a9773dfe93ff.tif")
    res = lumina("scan", str(lib), "--catalog", str(tmp_path / "cat"), "-q", "--workers", "1")
    assert res.returncode == 0 and res.stderr == "", res.stderr  # nothing from libtiff reaches the terminal
    shown = [json.loads(line) for line in lumina("show", *map(str, files), "--catalog", str(tmp_path / "cat"),
                                                  "--format", "json").stdout.splitlines()]
    errors = [d["stages"]["thumbnails"]["error"] for d in shown]
    assert 'decoder: TIFFFetchNormalTag: Incorrect value for "RowsPerStrip".' in errors[0]
    assert "decoder: JPEGLib: Bogus Huffman table definition." in errors[1]


def test_run_errors_are_told_apart_from_a_photos_errors(tmp_path):
    """Real errors of the machine (a full device, SQLite's own "disk full", memory, a vanished
    catalog) are run errors; the same errno on a library file is the file's (None)."""
    from lumina.errors import run_error

    with pytest.raises(OSError) as full, open("/dev/full", "w") as dev:  # the kernel's always-full device
        dev.write("x")
        dev.flush()
    assert run_error(full.value).kind == "disk_full"
    db = sqlite3.connect(":memory:")
    db.execute("PRAGMA max_page_count = 2")
    db.execute("CREATE TABLE t (x BLOB)")
    with pytest.raises(sqlite3.OperationalError) as sql_full:
        db.execute("INSERT INTO t VALUES (zeroblob(100000))")
    assert run_error(sql_full.value).kind == "disk_full" and "database or disk is full" in str(run_error(sql_full.value))
    assert run_error(MemoryError()).kind == "out_of_memory"
    catalog = tmp_path / "cat"
    catalog.mkdir()
    with pytest.raises(OSError) as gone:
        open(catalog / "thumbnails" / "ab" / "x.webp", "wb")
    assert run_error(gone.value, catalog).kind == "catalog_unavailable"
    with pytest.raises(OSError) as missing_photo:
        open(tmp_path / "library" / "x.jpg", "rb")
    assert run_error(missing_photo.value, catalog) is None  # a photo's problem: recorded on the photo


def test_a_scan_with_other_parameters_supersedes_an_interrupted_one(corpus, tmp_path, settle_now, backend):
    from lumina.pipeline import jobs

    lib = tmp_path / "lib"
    copy_files(corpus, lib, *manifest_sample(corpus, {"jpeg": 2}))
    cat = open_catalog(tmp_path / "cat", overrides={"workers": 1})
    ended = subprocess.Popen(["true"])
    ended.wait()
    dead = f"{socket.gethostname()}:{ended.pid}:dead"  # a worker on this machine whose process has ended
    old = jobs.submit(cat, "scan", {"roots": [str(lib)]})
    jobs._claim(cat, dead, old["id"])  # a worker that then died: left "running"
    new = jobs.run_now(cat, "scan", {"roots": [str(lib)], "retry_failed": True})
    assert new["id"] != old["id"] and new["status"] == "succeeded" and new["done"] > 0
    old = jobs.get(cat, old["id"])
    assert old["status"] == "cancelled" and old["error"].startswith("superseded by a scan with other parameters")
    again = jobs.submit(cat, "scan", {"roots": [str(lib)]})
    jobs._claim(cat, dead, again["id"])
    resumed = jobs.run_now(cat, "scan", {"roots": [str(lib)], "force": False})  # the same parameters: the same job
    assert resumed["id"] == again["id"] and resumed["status"] == "succeeded" and resumed["attempts"] == 2
    if backend == "postgresql":  # several workers: a live worker's job is neither taken over nor superseded
        alive = jobs.submit(cat, "scan", {"roots": [str(lib)]})
        jobs._claim(cat, "another-machine:1:live", alive["id"])  # its lease still running
        with pytest.raises(ConflictError, match="is running on worker another-machine:1:live with other parameters"):
            jobs.run_now(cat, "scan", {"roots": [str(lib)], "retry_failed": True})
        assert jobs.get(cat, alive["id"])["status"] == "running"
    cat.close()


def test_catalog_folder_removed_mid_run_stops_the_run_and_the_same_command_finishes_later(chaos_library, reference,
                                                                                          tmp_path):
    """The catalog folder deleted while the scan writes (SQLite would go on writing into the
    unlinked database and report a success nothing kept): the run stops with a clear message
    instead, and the same command, run again, builds the catalog exactly like an uninterrupted scan."""
    expected, _ = reference
    catalog = tmp_path / "cat"
    proc = start("scan", str(chaos_library), "--catalog", str(catalog), "-q")
    stop_when(proc, catalog, 10, 0)  # signal 0: nothing sent, only waits for 10 committed results
    shutil.rmtree(catalog)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err
    assert f"catalog_unavailable: {catalog} was removed while this run wrote to it" in err, err
    assert "run the same command again" in err and "Traceback" not in err, err
    res = lumina("scan", str(chaos_library), "--catalog", str(catalog), "-q")
    assert res.returncode == 0, res.stderr
    again = state(catalog)
    assert again["rows"] == expected["rows"] and again["gaps"] == expected["gaps"]
    assert again["thumbnail_files"] == expected["thumbnail_files"] and again["active_jobs"] == []


def _decompression_bomb(path: Path, width_px: int, height_px: int) -> None:
    """A PNG whose header declares ``width_px`` x ``height_px`` RGB pixels and whose data holds one
    row (synthetic: the shape of a decompression bomb or a corrupt header, which real libraries
    contain; the decoder allocates the whole image before reading the rows)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = zlib.compress(b"\x00" + b"\x80" * (width_px * 3))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width_px, height_px, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", rows) + chunk(b"IEND", b""))


ADDRESS_SPACE_BYTES = 1_500_000_000  # a scan's processes peak near 0.85 GB of address space; the bomb asks 3 GB more


def test_out_of_memory_in_a_real_decode_stops_the_run_and_the_same_command_finishes_later(corpus, tmp_path):
    """A real MemoryError: the scan runs under RLIMIT_AS (every process: writer, pool workers) and
    one PNG declares 30000 x 25000 pixels (3 GB as Pillow's RGB; the pixel limit raised to let it
    through), so its decode in a pool worker cannot allocate. The run stops with ``out_of_memory``,
    no stage record blames any photo, and the same command without the limit completes every photo
    with no --retry-failed."""
    import resource

    lib = tmp_path / "lib"
    copy_files(corpus, lib, *manifest_sample(corpus, {"jpeg": 20}))  # with the PNG: two batches, two pool workers
    _decompression_bomb(lib / "zz-bomb.png", 30_000, 25_000)
    catalog = tmp_path / "cat"
    bomb_env = env(LUMINA_MAX_IMAGE_PIXELS="2000000000")

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_BYTES, ADDRESS_SPACE_BYTES))

    args = [*LUMINA, "scan", str(lib), "--catalog", str(catalog), "-q"]
    first = subprocess.run(args, capture_output=True, text=True, env=bomb_env, timeout=300, preexec_fn=limited)
    assert first.returncode == 1, first.stderr
    assert "out_of_memory: out of memory" in first.stderr and "run the same command again" in first.stderr
    assert "Traceback" not in first.stderr, first.stderr
    cat = open_catalog(catalog, create=False)
    rows = table_rows(cat)
    cat.close()
    assert rows["records"] and all(status == "ok" for status, *_ in rows["records"].values())  # nothing blamed
    second = subprocess.run(args, capture_output=True, text=True, env=bomb_env, timeout=300)
    assert second.returncode == 0, second.stderr
    cat = open_catalog(catalog, create=False)
    rows = table_rows(cat)
    cat.close()
    assets = {asset for asset, _ in rows["records"]}
    assert len(assets) == 21 and len(rows["hashes"]) == 21 and len(rows["thumbnails"]) == 21
    print(f"out of memory: {first.stderr.strip()}")
