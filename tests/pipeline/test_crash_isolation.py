"""A file that crashes a decoder is that file's failure, not the run's (#13).

Real processes and real signals, nothing of Lumina patched: the test watches /proc/PID/fd of the
command's processes and, the moment one of them has a chosen photo open (the pool worker decoding
it), sends that process the signal a decoder bug or the OOM killer would: SIGSEGV (the file's
fault: a ``decoder_crash`` record, the run goes on) or SIGKILL (the run's error: nothing recorded
against the photo, the same command finishes later). The photo is a full-size camera JPEG saved
as PNG (a synthetic variant of a real file: PNG has no reduced-size decode, so a worker holds it
open for about 0.4 s, long enough to be seen).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import command_env, copy_files, peek
from tests.pipeline.test_jobs import manifest_sample

LUMINA = [sys.executable, "-m", "lumina"]
JPEGS = 20  # with the PNG, two batches of the pixel stages (16 per batch): two pool workers run them


def records(catalog: Path, stage: str) -> dict[str, tuple]:
    """``{asset_id: (status, error, finished_at, ahash, dhash, phash, whash)}`` of ``stage`` (read-only)."""
    return {r[0]: r[1:] for r in peek(
        catalog, "SELECT r.asset_id, r.status, r.error, r.finished_at, h.ahash, h.dhash, h.phash, h.whash "
        "FROM stage_records r LEFT JOIN hashes h ON h.asset_id = r.asset_id WHERE r.stage = :stage", stage=stage)}


def asset_of(catalog: Path, path: Path) -> str:
    return peek(catalog, "SELECT asset_id FROM files WHERE path_bytes = :path", path=os.fsencode(path))[0][0]


class OpenFileKiller:
    """While a command runs, send ``sig`` to each of its processes that has ``path`` open (seen in
    /proc/PID/fd); ``pids`` lists the processes signalled."""

    def __init__(self, path: Path, root_pid: int, sig: int):
        self.path, self.root_pid, self.sig = os.path.realpath(path), root_pid, sig
        self.pids: list[int] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self.done.is_set():
            for pid in _descendants(self.root_pid):
                try:
                    fds = os.listdir(f"/proc/{pid}/fd")
                    if pid not in self.pids and any(os.readlink(f"/proc/{pid}/fd/{fd}") == self.path for fd in fds):
                        os.kill(pid, self.sig)
                        self.pids.append(pid)
                except OSError:  # the process or the descriptor is gone
                    continue
            time.sleep(0.005)

    def stop(self) -> list[int]:
        self.done.set()
        self.thread.join(15)
        return self.pids


def _state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def run_with_killer(args: list[str], path: Path, sig: int) -> tuple[subprocess.CompletedProcess, list[int]]:
    """Run ``lumina ARGS``, signalling each of its processes that opens ``path``."""
    proc = subprocess.Popen([*LUMINA, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=command_env())
    killer = OpenFileKiller(path, proc.pid, sig)
    try:
        out, err = proc.communicate(timeout=300)
    finally:
        pids = killer.stop()
        if proc.poll() is None:
            proc.kill()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), pids


@pytest.fixture(scope="module")
def scanned(corpus, tmp_path_factory, session_database):
    """20 real JPEGs and a full-size camera JPEG saved as PNG, scanned once: (library, catalog, PNG);
    on PostgreSQL into a database of its own."""
    root = tmp_path_factory.mktemp("crash")
    lib, catalog = root / "lib", root / "cat"
    copy_files(corpus, lib, *manifest_sample(corpus, {"jpeg": JPEGS}))
    large = corpus.parent / "large" / "Apple iPhone 4S.jpg"
    if not large.is_file():
        pytest.skip(f"full-size camera JPEGs not found at {large.parent}")
    victim = lib / "zz-full-size.png"
    with Image.open(large) as img:
        img.save(victim, compress_level=1)
    res = subprocess.run([*LUMINA, "scan", str(lib), "--catalog", str(catalog), "--workers", "2", "-q"],
                         capture_output=True, text=True, env=command_env(session_database()), timeout=600)
    assert res.returncode == 0, res.stderr
    return lib, catalog, victim


@pytest.fixture
def catalog_copy(scanned, tmp_path, backend) -> tuple[Path, Path, str, list[str]]:
    """A copy of the scanned catalog (the library is shared: it is only read), the PNG, its asset
    id and the command that recomputes every photo's hashes in two pool workers. PostgreSQL: copied
    by `lumina catalog copy` into the test's own database."""
    catalog = tmp_path / "cat"
    if backend == "postgresql":
        res = subprocess.run([*LUMINA, "catalog", "copy", "--from", str(scanned[1]), "--to",
                              os.environ["LUMINA_DATABASE_URL"], "--to-catalog", str(catalog)],
                             capture_output=True, text=True, env=command_env(), timeout=300)
        assert res.returncode == 0, res.stderr
    else:
        shutil.copytree(scanned[1], catalog)
    victim = scanned[2]
    args = ["run", "--stage", "hashes", "--force", "--catalog", str(catalog), "--workers", "2", "-q"]
    return catalog, victim, asset_of(catalog, victim), args


def test_a_file_that_crashes_the_decoder_gets_a_failure_and_the_run_goes_on(scanned, catalog_copy):
    """SIGSEGV to the worker decoding the file: the batch is re-run one file per process, the file
    (which crashes its own process again) gets a ``decoder_crash`` record, every other photo's
    hashes are computed again (equal to the first scan's), and the command exits 0. A re-run does
    not read the file again; ``--retry-failed`` does (and, with no crash this time, succeeds)."""
    catalog, victim, crashed, args = catalog_copy
    before = records(scanned[1], "hashes")
    res, pids = run_with_killer(args, victim, signal.SIGSEGV)
    assert res.returncode == 0, res.stderr
    assert len(pids) == 2, pids  # once in the pool, once alone in a process of its own
    after = records(catalog, "hashes")
    status, error, *_ = after[crashed]
    assert status == "failed" and error.startswith("decoder_crash: ") and "SIGSEGV" in error, \
        (after[crashed], res.stderr)
    others = {a: r for a, r in after.items() if a != crashed}
    assert len(others) == len(before) - 1 == JPEGS
    for asset, (status, error, finished, *hashes) in others.items():
        assert (status, error) == ("ok", None) and hashes == list(before[asset][3:]), asset
        assert finished > before[asset][2]  # computed again by this run, not left from the scan

    res, pids = run_with_killer(["run", "--stage", "hashes", "--catalog", str(catalog), "-q"], victim, signal.SIGSEGV)
    assert res.returncode == 0 and pids == [], res.stderr  # the failed record is not retried: never opened
    assert records(catalog, "hashes") == after

    res = subprocess.run([*LUMINA, "run", "--stage", "hashes", "--retry-failed", "--catalog", str(catalog), "-q"],
                         capture_output=True, text=True, env=command_env(), timeout=300)
    assert res.returncode == 0, res.stderr
    assert records(catalog, "hashes")[crashed][:2] == ("ok", None) and records(catalog, "hashes")[crashed][3:] == \
        before[crashed][3:]


def test_a_worker_killed_by_sigkill_stops_the_run_and_the_same_command_finishes_later(scanned, catalog_copy):
    """SIGKILL (the OOM killer's signal) to the worker decoding the file: a run error with a clear
    message, nothing recorded against the photo; the same command run again completes every photo
    exactly as the first scan did."""
    catalog, victim, crashed, args = catalog_copy
    before = records(catalog, "hashes")
    res, pids = run_with_killer(args, victim, signal.SIGKILL)
    assert res.returncode == 1 and len(pids) == 1, (res.returncode, pids, res.stderr)
    told = res.stdout + res.stderr  # `lumina run` prints the failed job's summary with its error
    assert "out_of_memory" in told and "SIGKILL" in told and "run the same command again" in told, told
    assert "Traceback" not in told, told
    print(told)
    assert records(catalog, "hashes")[crashed] == before[crashed]  # nothing recorded against the photo
    res = subprocess.run([*LUMINA, *args], capture_output=True, text=True, env=command_env(), timeout=300)
    assert res.returncode == 0, res.stderr
    after, expected = records(catalog, "hashes"), records(scanned[1], "hashes")
    assert {a: (r[0], r[1], *r[3:]) for a, r in after.items()} == {a: (r[0], r[1], *r[3:]) for a, r in expected.items()}


def test_a_crash_in_the_writers_own_process_is_isolated_on_the_next_run(scanned, catalog_copy):
    """With ``--workers 1`` batches run in the writer's process (no pool): a crash there kills the
    command itself (nothing can be recorded). The same command run again finds the batch marker the
    dead run left and runs that stage group in a worker process instead, so the file gets its
    ``decoder_crash`` record and the other photos their hashes; the marker is then gone."""
    catalog, victim, crashed, args = catalog_copy
    args = [*args[:-3], "--workers", "1", "-q"]
    before = records(scanned[1], "hashes")
    res, pids = run_with_killer(args, victim, signal.SIGSEGV)
    assert res.returncode == -signal.SIGSEGV and len(pids) == 1, (res.returncode, pids, res.stderr)
    assert list(catalog.glob(".inline-batch-*")), "the dead run's batch marker"
    res, pids = run_with_killer(args, victim, signal.SIGSEGV)
    assert res.returncode == 0 and len(pids) == 2, (res.returncode, pids, res.stdout, res.stderr)
    after = records(catalog, "hashes")
    assert after[crashed][0] == "failed" and after[crashed][1].startswith("decoder_crash: "), after[crashed]
    assert all(r[:2] == ("ok", None) and r[3:] == before[a][3:] for a, r in after.items() if a != crashed)
    assert not list(catalog.glob(".inline-batch-*"))


def test_a_worker_ended_by_another_program_is_the_runs_error(catalog_copy):
    """SIGTERM to the worker decoding the file (another program, not a crash): ``worker_lost``,
    exit 1, nothing recorded against the photo."""
    catalog, victim, crashed, args = catalog_copy
    before = records(catalog, "hashes")
    res, pids = run_with_killer(args, victim, signal.SIGTERM)
    told = res.stdout + res.stderr
    assert res.returncode == 1 and len(pids) == 1, (res.returncode, pids, told)
    assert "worker_lost: a worker process ended (SIGTERM) outside any file" in told, told
    assert records(catalog, "hashes")[crashed] == before[crashed]


def test_a_lost_exit_status_is_not_named_as_a_cause():
    """A survivor the pool ended, whose status the forkserver could not report (255), adds nothing
    to the message; with no known cause at all the message says so."""
    from lumina.pipeline.executors import UNKNOWN_STATUS, _worker_lost

    assert _worker_lost([signal.SIGTERM, UNKNOWN_STATUS]).message == \
        "a worker process ended (SIGTERM) outside any file; run the same command again"
    assert "ended (an unknown cause)" in _worker_lost([UNKNOWN_STATUS]).message
    assert "ended (SIGHUP, exit status 3)" in _worker_lost([signal.SIGHUP, -3]).message
