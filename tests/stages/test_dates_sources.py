"""Capture times from every group ExifTool reports, firmware default dates and file-name patterns
(issue #15), checked against ExifTool's own output on the real corpus."""

import re
import shutil
import subprocess
from datetime import datetime

import pytest

from lumina.catalog.db import open_catalog
from lumina.catalog.queries import describe
from lumina.pipeline.scan import scan
from lumina.settings import load_settings
from lumina.stages.base import AssetView
from lumina.stages.dates import FIRMWARE_DEFAULTS, DatesStage

MTIME_2022 = int(datetime(2022, 3, 4, 5, 6, 7).timestamp() * 1e9)
_EXIF_DT = re.compile(r"^(\d{4}):(\d\d):(\d\d) (\d\d):(\d\d):(\d\d)")


def run(tags, path=b"/lib/x.jpg", tz=None, sidecar=None):
    view = AssetView("0" * 64, path, "photo", "jpeg", 1, MTIME_2022,
                     inputs={"metadata": {"tags": tags, "sidecar_tags": sidecar}, "geo": {"timezone": tz}})
    return DatesStage(load_settings()).run(view).values


def show(cat, path):
    with cat.session() as s:
        return describe(s, str(path))


def test_every_date_time_original_in_any_group_is_used(corpus_catalog, exiftool_groups):
    """Every file with a DateTimeOriginal that is a date (not zero, blank or garbage) in any group
    of ExifTool's output gets its capture time from that tag (the same wall-clock second)."""
    checked, sources = 0, {}
    with corpus_catalog.session() as s:
        for path, tags in exiftool_groups.items():
            valid = {k: v for k, v in tags.items() if k.endswith(":DateTimeOriginal")
                     and isinstance(v, str) and _EXIF_DT.match(v) and not v.startswith("0000")}
            if not valid:
                continue
            doc = describe(s, path)
            wall = {_EXIF_DT.match(v).expand(r"\1-\2-\3T\4:\5:\6") for v in valid.values()}
            assert doc["capture_time"] and doc["capture_time"][:19] in wall, (path, valid, doc["capture_time_source"])
            checked += 1
            sources[path.split("/real/", 1)[1]] = doc["capture_time_source"]
    assert checked >= 130
    # the files whose only DateTimeOriginal lies outside EXIF/XMP: exact family-1 sources
    assert sources["exif-samples/jpg/exif-org/olympus-d320l.jpg"] == "PictureInfo:DateTimeOriginal"
    assert sources["exif-samples/jpg/exif-org/sony-powershota5.jpg"] == "CIFF:DateTimeOriginal"
    assert sources["exif-samples/jpg/Reconyx_HC500_Hyperfire.jpg"] == "Reconyx:DateTimeOriginal"
    assert sources["metadata-extractor/jpg/FLIR Vue Pro 640.jpg"] == "FLIR:DateTimeOriginal"
    assert sources["metadata-extractor/mp4/Issue 515 (java).mp4"] == "UserData:DateTimeOriginal"


def test_avchd_clip_camera_and_date(corpus_catalog, corpus):
    """A Sony AVCHD .mts clip: Make, Model and DateTimeOriginal live in its H.264 stream."""
    doc = show(corpus_catalog, corpus / "metadata-extractor/mts/Sony ILCE-7M3 (A7M3).mts")
    assert (doc["camera_make"], doc["camera_model"]) == ("Sony", "ILCE-7M3")
    assert (doc["capture_time"], doc["utc_offset_minutes"]) == ("2019-04-24T22:24:00", 120)
    assert doc["capture_time_source"] == "H264:DateTimeOriginal"
    flir = show(corpus_catalog, corpus / "metadata-extractor/jpg/FLIR Vue Pro 640.jpg")
    assert (flir["capture_time"], flir["utc_offset_minutes"]) == ("2016-06-27T15:29:42.041", -240)
    canon = show(corpus_catalog, corpus / "exif-samples/jpg/exif-org/sony-powershota5.jpg")
    assert (canon["camera_make"], canon["camera_model"]) == ("Canon", "PowerShot A5")  # from CIFF


def test_maker_note_time_ranks_with_exif_and_duplicates_are_read_once():
    both = run({"EXIF:DateTimeOriginal": "2019:07:14 10:00:00", "MakerNotes:DateTimeOriginal": "2019:07:14 10:00:00",
                "Sony:DateTimeOriginal": "2019:07:14 10:00:00"})
    assert both["capture_time_source"] == "EXIF:DateTimeOriginal"
    assert [c["source"] for c in both["candidates"] if "DateTimeOriginal" in c["source"]] == ["EXIF:DateTimeOriginal"]
    alone = run({"MakerNotes:DateTimeOriginal": "2019:07:14 10:00:00", "PictureInfo:DateTimeOriginal": "2019:07:14 10:00:00",
                 "EXIF:CreateDate": "2019:07:14 10:00:00"})
    assert alone["capture_time_source"] == "PictureInfo:DateTimeOriginal"  # family-1 name preferred
    dto = run({"EXIF:DateTimeOriginal": "2019:07:14 10:00:00"})
    assert alone["capture_time_confidence"] == dto["capture_time_confidence"]
    items = run({"ItemList:ContentCreateDate": "2021:05:01 12:00:00+02:00", "QuickTime:CreateDate": "2021:05:01 10:00:00"})
    assert (items["capture_time_source"], items["utc_offset_minutes"]) == ("ItemList:ContentCreateDate", 120)
    sony = run({"Sony:SonyDateTime": "2010:05:15 17:12:05", "XMP:CreateDate": "2010:05:15 17:12:05"})
    assert sony["capture_time_source"] == "Sony:SonyDateTime"
    assert run({"Sony:SonyDateTime": ""})["capture_time_source"] == "mtime"  # blank: rejected, not used


def test_firmware_default_create_date_costs_nothing_beside_a_sound_original():
    sound = run({"EXIF:DateTimeOriginal": "2020:03:16 12:50:49", "EXIF:CreateDate": "2020:03:16 12:50:49"})
    default = run({"EXIF:DateTimeOriginal": "2020:03:16 12:50:49", "EXIF:CreateDate": "2002:12:08 12:00:00"})
    assert default["capture_time_source"] == "EXIF:DateTimeOriginal"
    assert default["capture_time_confidence"] == sound["capture_time_confidence"]
    assert "conflicting" not in default["flags"] and "suspicious" not in default["flags"]
    assert "default_date_ignored" in default["flags"]
    rejected = next(c for c in default["candidates"] if c["source"] == "EXIF:CreateDate")
    assert "suspicious" in rejected["flags"] and "mapillary_issues#2438" in rejected["reason"]
    # only a default: a file-name date wins over it
    only = run({"EXIF:CreateDate": "2002:12:08 12:00:00"}, path=b"/lib/IMG_20200316_125049.jpg")
    assert (only["capture_time_source"], only["capture_time"]) == ("filename", "2020-03-16T12:50:49")
    assert "suspicious" in only["flags"]
    # a real photo taken at 12:00 on another day is not a default
    assert "suspicious" not in run({"EXIF:CreateDate": "2002:12:09 12:00:00"})["flags"]
    assert all(why for why in FIRMWARE_DEFAULTS.values())  # every entry cites its source


def test_firmware_default_on_a_real_photo(corpus, tmp_path, settle_now):
    """Our own variant of a real camera JPEG: its CreateDate set to the phone default with ExifTool."""
    lib = tmp_path / "lib"
    lib.mkdir()
    photo = lib / "DSCN0010.jpg"
    shutil.copy2(corpus / "exif-samples/jpg/gps/DSCN0010.jpg", photo)
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-CreateDate=2002:12:08 12:00:00", str(photo)], check=True)
    cat = open_catalog(tmp_path / "cat")
    scan(cat, [lib])
    doc = show(cat, photo)
    assert (doc["capture_time"], doc["capture_time_source"]) == ("2008-10-22T16:28:39", "EXIF:DateTimeOriginal")
    assert "conflicting" not in doc["date_flags"] and "suspicious" not in doc["date_flags"]
    assert doc["capture_time_confidence"] == 92  # DateTimeOriginal, offset from the GPS zone (-3): no penalty
    cat.close()


# One real-looking example per file-name pattern: (path, capture_time, utc_offset_minutes, flags).
NAMES = [
    ("IMG_20241102_081542.jpg", "2024-11-02T08:15:42", None, set()),
    ("VID_20241102_081542.mp4", "2024-11-02T08:15:42", None, set()),
    ("20241102_081542.jpg", "2024-11-02T08:15:42", None, set()),
    ("Screenshot_20241102-081542.png", "2024-11-02T08:15:42", None, set()),
    ("Screenshot_2024-11-02-08-15-42-123_com.whatsapp.jpg", "2024-11-02T08:15:42.123", None, set()),
    ("PXL_20241102_071542123.jpg", "2024-11-02T07:15:42.123", 0, {"utc_only"}),
    ("PXL_20241102_071542123.MP.jpg", "2024-11-02T07:15:42.123", 0, {"utc_only"}),
    ("Screenshot 2024-11-02 at 08.15.42.png", "2024-11-02T08:15:42", None, set()),
    ("Screen Shot 2019-05-21 at 9.07.13 PM.png", "2019-05-21T21:07:13", None, set()),
    ("Screen Shot 2019-05-21 at 12.07.13 AM.png", "2019-05-21T00:07:13", None, set()),
    ("Screenshot 2024-11-02 at 9.07.13\u202fAM.png", "2024-11-02T09:07:13", None, set()),
    ("Screenshot 2024-11-02 081542.png", "2024-11-02T08:15:42", None, set()),
    ("WhatsApp Image 2024-11-02 at 08.15.42.jpeg", "2024-11-02T08:15:42", None, set()),
    ("WhatsApp Image 2024-11-02 at 08.15.42 (1).jpeg", "2024-11-02T08:15:42", None, set()),
    ("WhatsApp Video 2024-11-02 at 20.15.42.mp4", "2024-11-02T20:15:42", None, set()),
    ("IMG-20241102-WA0001.jpg", "2024-11-02T00:00:00", None, {"date_only"}),
    ("signal-2024-11-02-081542.jpg", "2024-11-02T08:15:42", None, set()),
    ("signal-2024-11-02-08-15-42-123.jpg", "2024-11-02T08:15:42.123", None, set()),
    ("photo_2024-11-02_08-15-42.jpg", "2024-11-02T08:15:42", None, set()),
    ("2024-11-02 08.15.42.jpg", "2024-11-02T08:15:42", None, set()),
]
FOLDERS = [
    ("DCIM/Camera/2024/11/02/DSC_0001.JPG", "2024-11-02T00:00:00", {"date_only"}),
    ("DCIM/20241102/DSC_0001.JPG", "2024-11-02T00:00:00", {"date_only"}),
    ("Pictures/20241102 Birthday/DSC_0001.JPG", "2024-11-02T00:00:00", {"date_only"}),
    ("Pictures/2024-11/DSC_0001.JPG", "2024-11-01T00:00:00", {"month_only"}),
]


@pytest.mark.parametrize("name, expected, offset, flags", NAMES)
def test_file_name_patterns(name, expected, offset, flags):
    v = run({}, path=b"/lib/" + name.encode())
    assert (v["capture_time_source"], v["capture_time"], v["utc_offset_minutes"]) == ("filename", expected, offset)
    assert flags <= set(v["flags"]) and "estimated" in v["flags"]


@pytest.mark.parametrize("path, expected, flags", FOLDERS)
def test_folder_dates(path, expected, flags):
    v = run({}, path=b"/lib/" + path.encode())
    assert (v["capture_time_source"], v["capture_time"]) == ("folder", expected)
    assert flags <= set(v["flags"])


def test_names_that_are_not_dates():
    for name in ("IMG_0001.jpg", "DSC_20241340_081542.jpg", "Screenshot 1024-11-02 at 08.07.13.png"):
        assert run({}, path=b"/lib/" + name.encode())["capture_time_source"] == "mtime", name
    for name in ("Screen Shot 2019-05-21 at 13.07.13 PM.png", "Screenshot 2019-05-21 at 25.07.13.png"):
        v = run({}, path=b"/lib/" + name.encode())  # an impossible time keeps only the date
        assert (v["capture_time"], "date_only" in v["flags"]) == ("2019-05-21T00:00:00", True), name


def test_malformed_values_are_rejected_with_a_reason():
    v = run({"H264:DateTimeOriginal": "2019:04:24 22:24:00+02:00 DST"}, tz="Not/AZone")
    assert v["capture_time"] == "2019-04-24T22:24:00" and "invalid_timezone" in v["flags"]
    zero = run({}, sidecar={"Takeout:PhotoTakenTimeTimestamp": "0"})
    bad = run({}, sidecar={"Takeout:PhotoTakenTimeTimestamp": "yesterday"})
    for doc, reason in ((zero, "epoch 0"), (bad, "malformed epoch")):
        c = next(c for c in doc["candidates"] if c["source"] == "Takeout:PhotoTakenTime")
        assert c["status"] == "rejected" and reason in c["reason"]
        assert doc["capture_time_source"] == "mtime"
    good = run({}, sidecar={"Takeout:PhotoTakenTimeTimestamp": "1570966380"}, tz="Europe/Paris")
    assert (good["capture_time"], good["utc_offset_minutes"]) == ("2019-10-13T13:33:00", 120)
