"""Burst detection on the labelled eval set (asserted minimums), best frames, cameras, untrusted
times, user choices and the CLI."""

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime

import pytest
from PIL import Image, ImageFilter

from lumina.analysis.bursts import best_frame, haversine_m, Frame
from lumina.analysis.evaluate import score_bursts
from lumina.analysis.gaps import gap_report
from lumina.catalog.db import open_catalog
from lumina.pipeline import generations
from lumina.pipeline.bursts_run import STATE_KEY, apply, bursts_report, run_bursts
from lumina.catalog.models import BurstGeneration
from lumina.pipeline.scan import scan


def report(cat):
    with cat.session() as s:
        return bursts_report(s)


def burst_of(doc, name):
    return next((b for b in doc["bursts"] for f in b["frames"] if any(p.endswith(name) for p in f["paths"])), None)


def test_eval_set_bursts_meet_the_minimums(eval_catalog, eval_dev):
    truth = json.loads((eval_dev / "truth.json").read_text())
    doc = report(eval_catalog)
    result = score_bursts(truth, eval_dev, doc["bursts"])
    assert result["precision"] >= 0.95 and result["recall"] >= 0.95, result
    assert len(doc["bursts"]) == len(truth["bursts"])
    for b in doc["bursts"]:
        times = [f["capture_time"] for f in b["frames"]]
        assert times == sorted(times) and len(set(times)) == len(times)  # sub-second order
        assert b["camera"] != "several cameras"
        assert b["best"]["asset_id"] in {f["asset_id"] for f in b["frames"]} and b["best"]["reason"]
    uuid = [b for b in doc["bursts"] if "burst_id" in b["signals"]]
    assert len(uuid) == sum(1 for i in truth["burst_info"] if i.get("burst_uuid") or i.get("BurstUUID"))


def test_frames_of_a_burst_are_never_duplicates(eval_catalog):
    from lumina.pipeline.duplicates_run import duplicates_report

    with eval_catalog.session() as s:
        groups = duplicates_report(s)["groups"]
    frames = {f["asset_id"]: b["id"] for b in report(eval_catalog)["bursts"] for f in b["frames"]}
    for g in groups:
        in_bursts = [frames[m["asset_id"]] for m in g["members"] if m["asset_id"] in frames]
        assert len(in_bursts) == len(set(in_bursts)), g


def _frame_exif_time(path, subsec: str):
    """Pillow: rewrite SubSecTimeOriginal (0x9291) in the Exif IFD, keep everything else."""
    img = Image.open(path)
    exif = img.getexif()
    exif.get_ifd(0x8769)[0x9291] = subsec
    return img, exif


def test_a_blurred_frame_is_never_best(eval_dev, tmp_path, settle_now):
    lib = tmp_path / "lib"
    lib.mkdir()
    names = [f"IMG_41{n}.JPG" for n in range(44, 52)]
    for n in names:
        shutil.copy2(eval_dev / "bursts" / n, lib / n)
    cat = open_catalog(tmp_path / "cat")
    scan(cat, [lib])
    before = burst_of(report(cat), names[0])
    assert before is not None and len(before["frames"]) == len(names)
    best = before["best"]["paths"][0]
    best_time = next(f["capture_time"] for f in before["frames"] if f["asset_id"] == before["best"]["asset_id"])
    # a blurred frame 40 ms after the best one: same camera, in the burst, less sharp
    img, exif = _frame_exif_time(best, f"{int(best_time.split('.')[1]) + 40:03d}")
    img.filter(ImageFilter.GaussianBlur(3)).save(lib / "IMG_blurred.JPG", exif=exif, quality=95)
    scan(cat, [lib])
    doc = report(cat)
    after = burst_of(doc, names[0])
    assert burst_of(doc, "IMG_blurred.JPG") is after, "the blurred frame did not join the burst"
    blurred = next(f for f in after["frames"] if f["paths"][0].endswith("IMG_blurred.JPG"))
    assert after["best"]["asset_id"] != blurred["asset_id"]
    assert after["best"]["asset_id"] == before["best"]["asset_id"]
    cat.close()


@pytest.fixture
def b18_catalog(cases, tmp_path, settle_now):
    lib = tmp_path / "lib"
    shutil.copytree(cases / "B18" / "input", lib)
    return lib, tmp_path / "cat"


def test_whole_second_times_alone_never_stack_different_scenes(b18_catalog):
    lib, where = b18_catalog
    cat = open_catalog(where)
    scan(cat, [lib])
    doc = report(cat)
    assert [sorted(os.path.basename(f["paths"][0]) for f in b["frames"]) for b in doc["bursts"]] == \
        [["ctrl_0.jpg", "ctrl_1.jpg", "ctrl_2.jpg"]]
    assert doc["bursts"][0]["signals"]["time_precision"] == "subsecond"
    gaps = gap_report(cat)
    assert gaps["bursts"]["whole_second_times"] == 6 and gaps["bursts"]["bursts"] == 1
    cat.close()


def test_identical_times_from_different_cameras_never_form_a_burst(b18_catalog):
    lib, where = b18_catalog
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-Make=OtherMaker", "-Model=Other 1",
                    str(lib / "ctrl_1.jpg")], check=True)
    cat = open_catalog(where)
    scan(cat, [lib])
    doc = report(cat)
    assert burst_of(doc, "ctrl_1.jpg") is None
    assert [sorted(os.path.basename(f["paths"][0]) for f in b["frames"]) for b in doc["bursts"]] == \
        [["ctrl_0.jpg", "ctrl_2.jpg"]]
    cat.close()


def test_untrusted_times_never_make_a_burst(b18_catalog):
    lib, where = b18_catalog
    for n in range(3):
        p = lib / f"ctrl_{n}.jpg"
        subprocess.run(["exiftool", "-q", "-overwrite_original", "-AllDates=", "-SubSecTimeOriginal=",
                        "-SubSecTimeDigitized=", "-SubSecTime=", str(p)], check=True)
        t = datetime(2023, 5, 1, 15, 0, 0).timestamp() + n * 0.25
        os.utime(p, (t, t))
    cat = open_catalog(where)
    scan(cat, [lib])
    assert burst_of(report(cat), "ctrl_0.jpg") is None
    row = next(m for m in gap_report(cat)["metadata"] if m["type"] == "bursts")
    assert row["reasons"].get("not checked: no trustworthy capture time (mtime)") == 3
    cat.close()


def test_user_choice_and_apply_survive_reruns(b18_catalog):
    lib, where = b18_catalog
    before = {p.name: p.read_bytes() for p in lib.iterdir()}
    cat = open_catalog(where)
    scan(cat, [lib])
    b = report(cat)["bursts"][0]
    other = next(f for f in b["frames"] if f["asset_id"] != b["best"]["asset_id"])
    apply(cat, b["id"], other["asset_id"][:12])
    run_bursts(cat, force=True)
    after = report(cat)["bursts"][0]
    assert after["best"]["asset_id"] == other["asset_id"] and after["best"]["reason"].startswith("user")
    assert after["applied"] and {f["status"] for f in after["frames"] if f["asset_id"] != other["asset_id"]} == {"rejected"}
    apply(cat, all_recommended=True)
    assert report(cat)["bursts"][0]["best"]["asset_id"] == other["asset_id"]
    assert {p.name: p.read_bytes() for p in lib.iterdir()} == before  # files untouched
    cat.close()


def test_a_building_generation_is_invisible(b18_catalog):
    lib, where = b18_catalog
    cat = open_catalog(where)
    scan(cat, [lib])
    with cat.session() as s:
        visible = generations.current(s, BurstGeneration, STATE_KEY).id
        generations.begin(s, BurstGeneration, 1, {})  # an interrupted run: never published
    assert report(cat)["generation"] == visible
    cat.close()


def test_best_frame_rules():
    def frame(i, sharp, exposure):
        return Frame(str(i), [f"/f{i}"], "active", quality={"sharpness": sharp, "exposure": exposure})

    f = [frame(0, 100, 0.5), frame(1, 300, 0.5), frame(2, 120, 0.9)]
    assert best_frame(f)[0] is f[1] and best_frame(f)[1].startswith("sharpness")
    f = [frame(0, 300, 0.5), frame(1, 298, 0.8), frame(2, 120, 0.9)]
    assert best_frame(f)[0] is f[1] and best_frame(f)[1].startswith("exposure")
    f = [frame(i, 300, 0.5) for i in range(5)]
    assert best_frame(f)[0] is f[2] and best_frame(f)[1].startswith("middle")


def test_haversine_matches_a_known_distance():
    # Paris (48.8566, 2.3522) to London (51.5074, -0.1278): 343.5 km great-circle
    assert abs(haversine_m((48.8566, 2.3522), (51.5074, -0.1278)) - 343_560) < 500


def test_cli_lists_covers_and_json(b18_catalog):
    lib, where = b18_catalog
    cat = open_catalog(where)
    scan(cat, [lib])
    cat.close()
    run = lambda *a: subprocess.run([sys.executable, "-m", "lumina", "bursts", "--catalog", str(where), *a],  # noqa: E731
                                    capture_output=True, text=True)
    doc = json.loads(run("--format", "json").stdout)
    assert set(doc) >= {"generation", "bursts"}
    b = doc["bursts"][0]
    assert set(b) >= {"id", "camera", "start", "end", "signals", "best", "frames"}
    assert set(b["best"]) >= {"asset_id", "paths", "reason"}
    assert all(set(f) >= {"asset_id", "paths", "capture_time", "quality"} for f in b["frames"])
    table = run().stdout
    assert table.count("  best ") == 1 and "ctrl_" in table
    bad = run("apply", "99999", "--keep", "abc")
    assert bad.returncode == 1 and "no burst 99999" in bad.stderr
