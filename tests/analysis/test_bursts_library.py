"""Bursts on what real libraries contain (issue 14): frames without camera tags, and every vendor's
burst identifiers and sequence numbers. The frames are real photos of ../shared/eval/dev, their
tags rewritten by the test with ExifTool (the cases are about tags, the pixels stay real)."""

import shutil
import subprocess

import pytest
from PIL import Image

from lumina.catalog.db import open_catalog
from lumina.pipeline.bursts_run import bursts_report
from lumina.pipeline.scan import scan
from tests.conftest import copy_files


def exiftool(*args):
    subprocess.run(["exiftool", "-q", "-overwrite_original", *map(str, args)], check=True)


def bursts(cat):
    with cat.session() as s:
        return bursts_report(s)["bursts"]


def names(burst):
    return [f["paths"][0].rsplit("/", 1)[1] for f in burst["frames"]]


def test_frames_without_camera_tags_form_a_burst_by_folder_and_name_pattern(tmp_path, eval_dev, settle_now):
    """An app stripped Make/Model (and the MakerNotes) but kept DateTimeOriginal + SubSecTimeOriginal."""
    lib = tmp_path / "lib"
    frames = copy_files(eval_dev, lib / "export", "bursts/DSC_4119.JPG", "bursts/DSC_4120.JPG", "bursts/DSC_4121.JPG")
    for f in frames:
        exiftool("-Make=", "-Model=", "-SerialNumber=", "-MakerNotes:all=", f)
    # another source (other folder, other naming), same instant as a frame and 0.2 s from the next:
    # identical or close times from different sources never make a burst
    other = copy_files(eval_dev, lib / "chat", "bursts/DSC_4120.JPG")[0]
    other = other.rename(other.with_name("received_image.jpg"))
    exiftool("-Make=", "-Model=", "-MakerNotes:all=", "-XMP-dc:Description=received", other)  # its own bytes
    cat = open_catalog(tmp_path / "cat")
    scan(cat, [lib])
    (burst,) = bursts(cat)
    assert names(burst) == ["DSC_4119.JPG", "DSC_4120.JPG", "DSC_4121.JPG"]
    assert burst["camera"].startswith("unknown camera") and "DSC_#.JPG" in burst["camera"]
    assert burst["signals"]["same_device"] and burst["signals"]["time_precision"] == "subsecond"
    cat.close()


def test_camera_less_frames_need_sub_second_times(tmp_path, eval_dev, settle_now):
    lib = tmp_path / "lib"
    frames = copy_files(eval_dev, lib, "bursts/DSC_4119.JPG", "bursts/DSC_4120.JPG", "bursts/DSC_4121.JPG")
    for k, f in enumerate(frames):  # whole seconds only, 1 s apart: nothing but time and name to go on
        exiftool("-Make=", "-Model=", "-MakerNotes:all=", "-SubSecTimeOriginal=", "-SubSecTime=",
                 "-SubSecTimeDigitized=", f"-DateTimeOriginal=2021:05:01 10:00:0{k}", f)
    cat = open_catalog(tmp_path / "cat")
    scan(cat, [lib])
    assert bursts(cat) == []
    cat.close()


def pan(eval_dev, folder, exif_from=None):
    """Three frames of a camera that pans: three different real photos, 0.4 s apart, one camera."""
    folder.mkdir(parents=True)
    src = None
    if exif_from:
        with Image.open(exif_from) as im:
            src = (im.size, im.info["exif"])
    out = []
    for k, name in enumerate(["DSCN0012.jpg", "Kodak DC3400.jpg", "Nikon E990.jpg"]):
        path = folder / f"PXL_20210501_10000{k}.jpg"
        with Image.open(eval_dev / "originals" / name) as original:
            im = original.convert("RGB")
        if src is not None:  # keep that camera's EXIF and MakerNotes as they are
            im.resize(src[0]).save(path, exif=src[1], quality=90)
        else:
            im.resize((800, 600)).save(path, quality=90)
            exiftool("-Make=Google", "-Model=Pixel 7", path)
        exiftool(f"-DateTimeOriginal=2021:05:01 10:00:0{k // 2}", f"-SubSecTimeOriginal={(k % 2) * 4 + 1}00", path)
        out.append(path)
    return out


def test_a_shared_google_burst_id_is_one_burst_even_when_the_camera_pans(tmp_path, eval_dev, settle_now):
    lib = tmp_path / "lib"
    frames = pan(eval_dev, lib / "pixel")
    cat = open_catalog(tmp_path / "cat")
    scan(cat, [lib])
    assert bursts(cat) == []  # no visual continuity, no id: three separate shots
    for f in frames:
        exiftool("-XMP-GCamera:BurstID=6ee9e8ba-4d3c-43a5-86d5-1a1f3b3a2c10", f)
    scan(cat, [lib])
    (burst,) = bursts(cat)
    assert len(burst["frames"]) == 3 and burst["signals"]["burst_id"]["tag"] == "XMP:BurstID"
    cat.close()


def test_canon_sequence_numbers_link_a_panning_burst(tmp_path, corpus, eval_dev, settle_now):
    """Canon's MakerNotes SequenceNumber (shot number in a continuous-drive burst), from a real
    Canon file, numbered 1, 2, 3 on three different pictures 0.4 s apart; then 1, 1, 1 (single shots)."""
    lib = tmp_path / "lib"
    frames = pan(eval_dev, lib / "canon", corpus / "exif-samples/jpg/exif-org/canon-ixus.jpg")
    for k, f in enumerate(frames):
        exiftool(f"-MakerNotes:SequenceNumber={k + 1}", f)
    cat = open_catalog(tmp_path / "cat")
    scan(cat, [lib])
    (burst,) = bursts(cat)
    assert len(burst["frames"]) == 3 and burst["signals"]["sequence_numbers"]
    assert all(f["link"].get("sequence") for f in burst["frames"][1:])
    for f in frames:
        exiftool("-MakerNotes:SequenceNumber=0", f)  # single-frame drive
    scan(cat, [lib])
    assert bursts(cat) == []
    cat.close()
