"""The one trash, as a user drives it: duplicates resolve and bursts apply move files there (verified
copies), ``lumina trash list|restore|empty`` on real photos copied into a temporary library."""

import json
import os

from typer.testing import CliRunner

from lumina.catalog.db import open_catalog
from lumina.cli.main import app
from lumina.media.fileops import sha256_file
from lumina.pipeline.scan import scan
from tests.conftest import copy_files

runner = CliRunner()


def lumina(*args: str) -> dict | list:
    res = runner.invoke(app, [*args, "--format", "json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_resolve_and_burst_apply_trash_and_restore(eval_dev, tmp_path, settle_now):
    lib = tmp_path / "lib"
    orig, half = copy_files(eval_dev, lib, "originals/Blackberry Z10.jpg", "resize/Blackberry Z10_50.jpg")
    frames = copy_files(eval_dev, lib / "burst", "bursts/DSC_4119.JPG", "bursts/DSC_4120.JPG", "bursts/DSC_4121.JPG")
    sha = {p: sha256_file(p) for p in [orig, half, *frames]}
    (lib / "Blackberry Z10_50.jpg.xmp").write_text("<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")  # goes with its photo
    cat_dir = tmp_path / "cat"
    cat = open_catalog(cat_dir)
    scan(cat, [lib])
    cat.close()
    c = ["--catalog", str(cat_dir)]
    (group,) = [g for g in lumina("duplicates", *c)["groups"] if g["class"] == "same_image"]
    trash = tmp_path / "trash"
    out = lumina("duplicates", "resolve", str(group["id"]), "--keep", str(orig), "--trash", str(trash), *c)
    assert len(out["trashed"]) == 1 and not half.exists() and orig.exists()
    assert not (lib / "Blackberry Z10_50.jpg.xmp").exists()
    (burst,) = lumina("bursts", *c)["bursts"]
    out = lumina("bursts", "apply", "--all-recommended", "--trash", str(trash), *c)
    assert len(out["trashed"]) == 2 and sum(f.exists() for f in frames) == 1

    entries = lumina("trash", "list", *c)
    assert len(entries) == 4 and {e["reason"] for e in entries} == {
        f"duplicates resolve group {group['id']}", f"duplicates resolve group {group['id']} (sidecar)", "bursts apply"}
    for e in entries:  # each trash copy is byte-identical to what was removed
        assert os.path.getsize(e["trash_path"]) == e["size_bytes"] and sha256_file(e["trash_path"]) == e["sha256"]
    assert sorted(os.listdir(trash)) == sorted(os.path.basename(e["trash_path"]) for e in entries)

    half_entry = next(e for e in entries if e["original_path"] == str(half))
    restored = lumina("trash", "restore", str(half_entry["id"]), *c)
    assert [e["status"] for e in restored] == ["restored"] and sha256_file(half) == sha[half]
    assert str(half) in lumina("show", str(half), *c)["paths"]  # the catalog follows: present again
    res = runner.invoke(app, ["trash", "restore", str(half_entry["id"]), *c])
    assert res.exit_code == 1 and "no trashed entry" in res.output

    assert lumina("trash", "empty", "--older-than-days", "1", "--yes", *c) == []  # all trashed moments ago
    assert len(lumina("trash", "empty", *c)) == 3 and len(os.listdir(trash)) == 3  # without --yes: a list only
    gone = lumina("trash", "empty", "--yes", *c)
    assert len(gone) == 3 and os.listdir(trash) == [] and lumina("trash", "list", *c) == []
    assert len(lumina("trash", "list", "--all", *c)) == 4
    assert {p: sha256_file(p) for p in [orig, half] + [f for f in frames if f.exists()]} == \
        {p: sha[p] for p in [orig, half] + [f for f in frames if f.exists()]}
