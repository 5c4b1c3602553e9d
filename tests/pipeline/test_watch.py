"""``lumina watch`` with real writers: a photo copied in small pieces over seconds is catalogued once,
complete, within settle_s + a few seconds; deletions mark files missing; a watched folder that goes
away is watched again when it comes back; a burst arriving frame by frame becomes one burst."""

import os
import shutil
import threading
import time

import pytest
from sqlalchemy import func, select

from lumina.catalog.db import open_catalog
from lumina.catalog.models import Asset, FileInstance
from lumina.media.fileops import sha256_file
from lumina.pipeline.bursts_run import bursts_report
from lumina.pipeline.watch import Watcher

SETTLE_S = 1.0


def wait_for(predicate, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout_s} s waiting for {what}")


@pytest.fixture
def watching(tmp_path):
    """A watcher on an empty library folder, running in a thread."""
    lib = tmp_path / "lib"
    lib.mkdir()
    cat = open_catalog(tmp_path / "cat", overrides={"settle_s": SETTLE_S, "watch_poll_s": 0.1})
    lines: list[str] = []
    watcher = Watcher(cat, [lib], echo=lines.append)
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run, args=(stop,), daemon=True)
    thread.start()
    wait_for(lambda: watcher.stats.scans >= 1, 30, "the catch-up scan")
    yield cat, lib, watcher, lines
    stop.set()
    thread.join(30)
    cat.close()


def file_row(cat, path):
    with cat.session() as s:
        return s.scalar(select(FileInstance).where(FileInstance.path_bytes == os.fsencode(path)))


def test_a_photo_written_in_pieces_is_catalogued_once_complete(corpus, watching):
    cat, lib, watcher, lines = watching
    source = corpus / "exif-samples" / "jpg" / "Nikon_D70.jpg"
    data = source.read_bytes()
    target = lib / "arriving.jpg"
    pieces = 12
    step = len(data) // pieces + 1
    with open(target, "wb") as f:  # a slow copy: 12 pieces, 0.35 s apart (about 4 s), open all along
        for i in range(pieces):
            f.write(data[i * step:(i + 1) * step])
            f.flush()
            time.sleep(0.35)
            row = file_row(cat, target)
            assert row is None or row.status != "present", f"catalogued half-written after piece {i + 1}"
    complete = time.time()
    done = wait_for(lambda: watcher.stats.catalogued_at.get(os.fsencode(target)), SETTLE_S + 10,
                    "the photo to be catalogued (scan and stages)")
    row = file_row(cat, target)
    latency_s = done - complete
    print(f"watch latency: {latency_s:.2f} s after the last byte (settle_s {SETTLE_S})")
    assert latency_s < SETTLE_S + 5
    assert row.asset_id == sha256_file(source) and row.size_bytes == len(data)
    with cat.session() as s:
        assert s.scalar(select(func.count()).select_from(Asset)) == 1  # never a half-written asset

    target.unlink()
    wait_for(lambda: file_row(cat, target).status == "missing", SETTLE_S + 10, "the deletion")

    gone = lib.with_name("lib-unmounted")
    lib.rename(gone)  # the watched folder disappears (an unplugged disk, an unmounted share)
    wait_for(lambda: any("disappeared" in line for line in lines), 10, "the report of the vanished folder")
    gone.rename(lib)
    wait_for(lambda: any("is back" in line for line in lines), 10, "the folder to be watched again")
    shutil.copy2(source, lib / "after.jpg")
    wait_for(lambda: (r := file_row(cat, lib / "after.jpg")) is not None and r.status == "present",
             SETTLE_S + 10, "a photo added after the folder came back")


def test_a_burst_arriving_frame_by_frame_becomes_one_burst(eval_dev, watching):
    cat, lib, watcher, lines = watching
    frames = ["DSC_4119.JPG", "DSC_4120.JPG", "DSC_4121.JPG"]
    ids = []
    for name in frames:  # a camera or phone sync dropping one frame at a time
        shutil.copyfile(eval_dev / "bursts" / name, lib / name)
        ids.append(sha256_file(lib / name))
        time.sleep(0.6)

    def one_burst():
        with cat.session() as s:
            bursts = bursts_report(s)["bursts"]
        return bursts if bursts and sorted(f["asset_id"] for f in bursts[0]["frames"]) == sorted(ids) else None

    (burst,) = wait_for(one_burst, SETTLE_S + 20, "the three frames to form one burst")
    assert [f["paths"] for f in burst["frames"]] == [[str(lib / n)] for n in frames]
    with cat.session() as s:
        assert s.scalar(select(func.count()).select_from(FileInstance).where(FileInstance.status == "present")) == 3


def test_polling_where_there_are_no_events(corpus, tmp_path):
    """The fallback for network mounts (forced here: this machine's folders do send events)."""
    lib = tmp_path / "lib"
    lib.mkdir()
    cat = open_catalog(tmp_path / "cat", overrides={"settle_s": 0.5, "watch_poll_s": 0.1, "watch_rescan_s": 1.0})
    lines: list[str] = []
    watcher = Watcher(cat, [lib], echo=lines.append, force_polling=True)
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_for(lambda: watcher.stats.scans >= 1, 30, "the catch-up scan")
        assert any("no change events; rescanning every 1 s" in line for line in lines)
        shutil.copy2(corpus / "exif-samples" / "jpg" / "Canon_40D.jpg", lib / "polled.jpg")
        wait_for(lambda: watcher.stats.catalogued_at.get(os.fsencode(lib / "polled.jpg")), 15, "the polled photo")
        assert file_row(cat, lib / "polled.jpg").status == "present"
    finally:
        stop.set()
        thread.join(30)
        cat.close()
