"""Several writers on one catalog, as users meet them: organise and trash while a scan writes, two
organise runs at once, a scan during an organise run, and a holder killed with SIGKILL.

Each holder is a real second process holding ``Catalog.writer`` (a scan, a worker or ``lumina run``
holds the shared mode; organise, trash, sidecar writing and duplicate resolution the exclusive one).
On SQLite both modes are the one ``flock`` on ``writer.lock``; on PostgreSQL they are the two modes
of one advisory lock, so several scans and workers share a catalog there while these operations
still run alone. The refusal is the same one line on both backends.
"""

import os
import signal
import subprocess
import sys

import pytest

from lumina.catalog.db import WriterBusy, open_catalog
from lumina.media.fileops import sha256_file
from lumina.pipeline import trash
from lumina.pipeline.scan import scan
from tests.conftest import ROOT, copy_files

HOLD = """
import sys
from lumina.catalog.db import open_catalog
cat = open_catalog(sys.argv[1], create=False)
with cat.writer(exclusive=sys.argv[2] == "exclusive"):
    print("held", flush=True)
    sys.stdin.read()
cat.close()
"""


class Holder:
    """A second process holding the catalog's writer lock until ``release()`` (or a signal)."""

    def __init__(self, catalog, mode: str):
        self.proc = subprocess.Popen([sys.executable, "-c", HOLD, str(catalog), mode], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        line = self.proc.stdout.readline()
        assert line == "held\n", line + self.proc.stderr.read()

    def release(self, sig: int | None = None) -> None:
        if sig is not None:
            self.proc.send_signal(sig)
        self.proc.stdin.close()
        assert self.proc.wait(timeout=60) == (-sig if sig else 0), self.proc.stderr.read()
        self.proc.stdout.close()
        self.proc.stderr.close()


def lumina(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lumina", *args], capture_output=True, text=True, timeout=300,
                          cwd=ROOT)


def refused(res: subprocess.CompletedProcess, catalog, holder: Holder) -> bool:
    """The one-line refusal naming the holder's pid, exit code 1, nothing else said."""
    line = f"error: another scan or run is writing to {catalog} (pid {holder.proc.pid}); wait for it to finish"
    return res.returncode == 1 and res.stderr.strip() == line and "Traceback" not in res.stderr


@pytest.fixture
def scanned(corpus, tmp_path, settle_now):
    """A library of three real camera photos, catalogued; returns (catalog folder, library, sha256 by path)."""
    lib = tmp_path / "lib"
    photos = copy_files(corpus, lib, "exif-samples/jpg/Canon_40D.jpg", "exif-samples/jpg/Nikon_D70.jpg",
                        "exif-samples/jpg/Canon_DIGITAL_IXUS_400.jpg")
    cat = open_catalog(tmp_path / "cat")
    try:
        scan(cat, [lib])
    finally:
        cat.close()
    return tmp_path / "cat", lib, {p: sha256_file(p) for p in photos}


def test_organise_and_trash_wait_for_a_scan_and_run_alone(scanned, tmp_path, backend):
    catalog, lib, sha = scanned
    target = tmp_path / "organised"
    organise = ("organise", "--to", str(target), "--apply", "--move", "--catalog", str(catalog))

    scanning = Holder(catalog, "shared")  # a scan or worker writing in another process
    try:
        assert refused(lumina(*organise), catalog, scanning)
        assert {p: sha256_file(p) for p in sha} == sha and not target.exists()  # nothing moved
        cat = open_catalog(catalog, create=False)
        try:
            if backend == "postgresql":  # several scans and workers share a PostgreSQL catalog
                with cat.writer():
                    pass
            else:  # SQLite takes one writer
                with pytest.raises(WriterBusy), cat.writer():
                    pass
        finally:
            cat.close()
    finally:
        scanning.release()

    organising = Holder(catalog, "exclusive")  # an `organise --apply` in another process
    try:
        assert refused(lumina(*organise), catalog, organising)  # two organise runs at once
        assert refused(lumina("scan", str(lib), "--catalog", str(catalog), "-q"), catalog, organising)
        assert refused(lumina("trash", "empty", "--yes", "--catalog", str(catalog)), catalog, organising)
    finally:
        organising.release()

    res = lumina(*organise)  # the holder has finished: it runs
    assert res.returncode == 0, res.stderr
    moved = {p for p in target.rglob("*") if p.is_file()}
    assert sorted(sha256_file(p) for p in moved) == sorted(sha.values()) and not any(p.exists() for p in sha)

    cat = open_catalog(catalog, create=False)
    try:
        victim = sorted(moved)[0]
        entry, = trash.trash_paths(cat, [str(victim)], "test")
    finally:
        cat.close()
    killed = Holder(catalog, "shared")
    try:
        assert refused(lumina("trash", "restore", str(entry["id"]), "--catalog", str(catalog)), catalog, killed)
        assert refused(lumina("trash", "empty", "--yes", "--catalog", str(catalog)), catalog, killed)
        assert not victim.exists()  # still in the trash, not restored
    finally:
        killed.release(signal.SIGKILL)  # a writer killed mid-run: its lock goes with it
    res = lumina("trash", "empty", "--yes", "--catalog", str(catalog), "--format", "json")
    assert res.returncode == 0, res.stderr
    assert not os.path.exists(entry["trash_path"])
    res = lumina("organise", "--undo", "--catalog", str(catalog))
    assert res.returncode == 0, res.stderr
    assert sum(p.exists() for p in sha) == 2  # the two not trashed are back
