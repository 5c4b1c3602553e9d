"""``lumina organise`` on real photos copied into a temporary library: plan, apply (move), undo, with
name collisions, sidecars, a rejected copy and a name that is not UTF-8; then killed with SIGKILL in
the middle of applying and re-run."""

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from sqlalchemy import select

from lumina.catalog.db import open_catalog
from lumina.catalog.models import FileInstance, SidecarWrite
from lumina.errors import ConfigError
from lumina.media.fileops import sha256_file
from lumina.pipeline import organise
from lumina.pipeline.duplicates_run import duplicates_report, resolve
from lumina.pipeline.scan import scan
from lumina.pipeline.sidecars import write_sidecars
from lumina.pipeline.trash import list_trash
from tests.conftest import ROOT, copy_files, peek

LATIN1 = b"caf\xe9"  # "café" in Latin-1: not valid UTF-8


def files_under(folder: bytes) -> dict[bytes, str]:
    """Every non-hidden file below ``folder`` -> SHA-256."""
    out = {}
    for d, _, names in os.walk(folder):
        for n in names:
            if not n.startswith(b"."):
                out[os.path.join(d, n)] = sha256_file(os.path.join(d, n))
    return out


def test_plan_apply_undo_with_collisions_sidecars_and_odd_names(corpus, eval_dev, tmp_path, settle_now):
    lib, target = tmp_path / "lib", tmp_path / "organised"
    a, = copy_files(corpus, lib / "a", "exif-samples/jpg/Canon_40D.jpg")
    b, = copy_files(corpus, lib / "b", "exif-samples/jpg/Canon_DIGITAL_IXUS_400.jpg")
    a = a.rename(a.with_name("IMG.jpg"))
    b = b.rename(b.with_name("IMG.jpg"))  # same name, other content: a collision
    odd = os.path.join(os.fsencode(lib / "b"), LATIN1 + b".jpg")
    os.rename(copy_files(corpus, lib / "b", "exif-samples/jpg/Nikon_D70.jpg")[0], odd)
    (lib / "a" / "IMG.jpg.xmp").write_text("<x:xmpmeta xmlns:x='adobe:ns:meta/'/>\n")
    with open(os.path.join(os.fsencode(lib / "b"), LATIN1 + b".xmp"), "wb") as f:  # the NAME.xmp form
        f.write(b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>\n")
    orig, half = copy_files(eval_dev, lib / "dup", "originals/Blackberry Z10.jpg", "resize/Blackberry Z10_50.jpg")
    (target / "Canon").mkdir(parents=True)
    (target / "Canon" / "IMG.jpg").write_bytes(b"someone else's file")  # taken: never overwritten
    before = files_under(os.fsencode(lib))
    cat = open_catalog(tmp_path / "cat")
    scan(cat, [lib])
    with cat.session() as s:
        (group,) = [g for g in duplicates_report(s)["groups"] if g["class"] == "same_image"]
    resolve(cat, group["id"], str(orig))  # the half-size copy is rejected: organise trashes it
    assert len(write_sidecars(cat, [os.fsdecode(odd)])["written"]) == 1  # into the NAME.xmp it has
    before = files_under(os.fsencode(lib))

    with pytest.raises(ConfigError, match="inside the library"):
        organise.plan(cat, lib / "sorted", "{year}/{name}")
    with pytest.raises(ConfigError, match="unknown placeholder"):
        organise.plan(cat, target, "{yaer}/{name}")
    doc = organise.plan(cat, target, "{make}/{name}", move=True)
    dst = {os.path.relpath(o["src_bytes"], os.fsencode(lib)): o["dst_bytes"] and os.path.relpath(o["dst_bytes"], os.fsencode(target))
           for o in doc["ops"] if o["action"] != "remove"}
    assert dst == {b"a/IMG.jpg": b"Canon/IMG-1.jpg", b"a/IMG.jpg.xmp": b"Canon/IMG-1.jpg.xmp",
                   b"b/IMG.jpg": b"Canon/IMG-2.jpg", b"b/" + LATIN1 + b".jpg": b"Nikon/" + LATIN1 + b".jpg",
                   b"b/" + LATIN1 + b".xmp": b"Nikon/" + LATIN1 + b".xmp",
                   b"dup/Blackberry Z10.jpg": b"BlackBerry/Blackberry Z10.jpg", b"dup/Blackberry Z10_50.jpg": None}
    assert doc["totals"]["trash"]["files"] == 1 and doc["totals"]["renamed"] == 2
    assert files_under(os.fsencode(lib)) == before  # a plan changes nothing

    out = organise.apply(cat, target, "{make}/{name}", move=True)
    assert out["skipped"] == [] and not out["resumed"]
    assert not files_under(os.fsencode(lib))  # everything moved or trashed
    moved = files_under(os.fsencode(target))
    assert moved[os.path.join(os.fsencode(target), b"Canon/IMG.jpg")] == sha256_file(target / "Canon" / "IMG.jpg")
    assert Counter(moved.values()) - Counter([sha256_file(target / "Canon" / "IMG.jpg")]) == \
        Counter(v for k, v in before.items() if not k.endswith(b"_50.jpg"))
    (entry,) = list_trash(cat)
    assert entry["original_path"] == str(half) and entry["sha256"] == before[os.fsencode(half)]
    with cat.session() as s:  # the catalog followed each file: no new or changed file on a rescan
        rows = s.scalars(select(FileInstance).where(FileInstance.status == "present")).all()
        assert all(r.path_bytes.startswith(os.fsencode(target)) for r in rows) and len(rows) == 4
        assert {r.sidecar_path_bytes for r in rows} >= {os.path.join(os.fsencode(target), b"Nikon/" + LATIN1 + b".xmp")}
        assert s.scalars(select(SidecarWrite.path_bytes)).all() == [os.path.join(os.fsencode(target),
                                                                                  b"Nikon/" + LATIN1 + b".xmp")]
    counts = scan(cat, [lib, target])
    assert (counts.new, counts.changed, counts.unchanged) == (1, 0, 4)  # the new one: the other program's file

    undone = organise.undo(cat)
    assert undone["problems"] == []
    with cat.session() as s:  # the record of what Lumina wrote into the sidecar followed it there and back
        assert s.scalars(select(SidecarWrite.path_bytes)).all() == [os.path.join(os.fsencode(lib / "b"), LATIN1 + b".xmp")]
    assert files_under(os.fsencode(lib)) == before
    assert sorted(os.listdir(target)) == ["Canon"] and os.listdir(target / "Canon") == ["IMG.jpg"]
    assert list_trash(cat) == []
    cat.close()


def test_killed_mid_apply_then_rerun_loses_and_doubles_nothing(tmp_path, settle_now):
    large = ROOT.parent / "shared" / "corpus" / "large"
    photos = sorted(large.glob("*.jpg"))
    if not photos:
        pytest.fail("corpus/large missing") if os.environ.get("CI") else pytest.skip("corpus/large missing")
    lib, target, cat_dir = tmp_path / "lib", tmp_path / "organised", tmp_path / "cat"
    for sub in ("x", "y", "z"):  # 3 x 8 full-size JPEGs: equal names collide, equal bytes are separate files
        copy_files(large, lib / sub, *[p.name for p in photos])
    before = Counter(files_under(os.fsencode(lib)).values())
    cat = open_catalog(cat_dir)
    scan(cat, [lib], run_stages=False)
    cat.close()
    cmd = [sys.executable, "-m", "lumina", "organise", "--to", str(target), "--layout", "{short_id}/{name}",
           "--apply", "--move", "--catalog", str(cat_dir)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    done = 0
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        done = (peek(cat_dir, "SELECT count(*) FROM organise_ops WHERE status = 'done'") or [(0,)])[0][0]
        if done >= 5:
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.002)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL and 5 <= done < 3 * len(photos), (proc.returncode, done)
    half = Counter(files_under(os.fsencode(lib)).values()) + Counter(files_under(os.fsencode(target)).values())
    assert set(half) == set(before) and all(half[k] >= before[k] for k in before)  # nothing lost

    touched = bytes(peek(cat_dir, "SELECT src_bytes FROM organise_ops WHERE status = 'planned' ORDER BY seq DESC")[0][0])
    os.utime(touched, ns=(0, os.stat(touched).st_mtime_ns + 10**9))  # edited between plan and apply

    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "resumed and applied" in res.stdout and f"skipped {os.fsdecode(touched)}: changed since the plan" in res.stdout
    assert list(files_under(os.fsencode(lib))) == [touched]  # left where it was
    after = files_under(os.fsencode(target))
    assert Counter(after.values()) + Counter([sha256_file(touched)]) == before  # every file once, SHA-256 unchanged
    assert not [n for d, _, ns in os.walk(target) for n in ns if n.startswith(".")]  # no part file left
    cat = open_catalog(cat_dir)
    counts = scan(cat, [lib, target], run_stages=False)
    assert (counts.new, counts.changed, counts.unchanged, counts.missing) == (0, 1, 3 * len(photos) - 1, 0)
    assert organise.undo(cat)["problems"] == []
    assert Counter(files_under(os.fsencode(lib)).values()) == before and not files_under(os.fsencode(target))
    cat.close()


def test_refused_before_anything_moves(corpus, tmp_path, settle_now):
    lib = tmp_path / "lib"
    copy_files(corpus, lib, "exif-samples/jpg/Canon_40D.jpg")
    cat = open_catalog(tmp_path / "cat")
    scan(cat, [lib], run_stages=False)
    blocker = tmp_path / "file"
    blocker.write_text("a file where the target folder should be")
    with pytest.raises(ConfigError, match="cannot write to target"):
        organise.apply(cat, blocker / "sub", "{name}")
    with pytest.raises(ConfigError, match="holds the library"):
        organise.apply(cat, tmp_path, "{name}")
    small = tmp_path / "small"  # a nearly full disk: a 1 MiB tmpfs (needs root to mount)
    small.mkdir()
    if os.geteuid() == 0 and subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small)],
                                            capture_output=True).returncode == 0:
        try:
            with pytest.raises(ConfigError, match="not enough space"):
                organise.apply(cat, small / "out", "{name}")
            assert [files for _, _, files in os.walk(small)] == [[], []]  # nothing copied
        finally:
            subprocess.run(["umount", str(small)], check=True)
    assert os.listdir(lib) == ["Canon_40D.jpg"]
    photo = lib / "Canon_40D.jpg"
    doc = organise.plan(cat, tmp_path / "out", "{name}")
    assert [o["action"] for o in doc["ops"]] == ["copy"]
    organise.apply(cat, tmp_path / "out", "{name}")  # a copy: organising again copies nothing more
    doc = organise.plan(cat, tmp_path / "out", "{name}")
    assert sorted((o["action"], o["reason"]) for o in doc["ops"]) == [
        ("skip", "already in place"), ("skip", "already organised (same content there)")]
    os.utime(photo, ns=(0, os.stat(photo).st_mtime_ns + 10**9))  # changed after the scan
    doc = organise.plan(cat, tmp_path / "out", "{name}")
    assert ("skip", "changed since the last scan; run `lumina scan` first") in [(o["action"], o["reason"]) for o in doc["ops"]]
    cat.close()
