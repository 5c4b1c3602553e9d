"""Ranking and flags of the dates stage, built from the field cases B05, B07, B08 and B09 (their
ExifTool tags as unit inputs), and checked on real photos of the corpus."""

from datetime import datetime

import pytest

from lumina.catalog.queries import describe
from lumina.stages.base import AssetView
from lumina.stages.dates import DatesStage, Rejected, parse_datetime, parse_offset
from lumina.settings import load_settings

MTIME_2022 = int(datetime(2022, 3, 4, 5, 6, 7).timestamp() * 1e9)


def run(tags, tz=None, path=b"/lib/x.jpg", mtime_ns=MTIME_2022, sidecar=None, overrides=None):
    view = AssetView("0" * 64, path, "photo", "jpeg", 1, mtime_ns,
                     inputs={"metadata": {"tags": tags, "sidecar_tags": sidecar}, "geo": {"timezone": tz},
                             "overrides": overrides or {}})
    return DatesStage(load_settings()).run(view).values


@pytest.mark.parametrize("raw, minutes, problem", [
    ("-05:30", -330, None), ("+05:45", 345, None), ("+13:00", 780, None), ("+14:00", 840, None),
    ("+12:45", 765, None), ("-0300", -180, "nonstandard_offset"), ("   :  ", None, None), ("", None, None),
    ("+15:00", None, "offset +15:00 outside UTC-12:00..UTC+14:00"), ("abc", None, "malformed offset 'abc'"),
])
def test_offsets(raw, minutes, problem):
    assert parse_offset(raw) == (minutes, problem)


def test_zero_malformed_and_implausible_dates_are_rejected():
    for value, reason in (("0000:00:00 00:00:00", "zero date"), ("    :  :     :  :  ", "zero date"),
                          ("2005:13:40 10:00:00", "malformed"), ("1700:01:01 00:00:00", "implausible year")):
        with pytest.raises(Rejected, match=reason):
            parse_datetime(value, 1826)
    assert parse_datetime("2021:04:11 15:47:53.054-05:00", 1826) == (datetime(2021, 4, 11, 15, 47, 53), "054", -300)


@pytest.mark.parametrize("offset, minutes", [("-05:30", -330), ("+05:45", 345), ("+13:00", 780), ("+14:00", 840)])
def test_b05_unusual_offsets_are_kept(offset, minutes):
    v = run({"EXIF:DateTimeOriginal": "2024:02:21 10:14:22", "EXIF:OffsetTimeOriginal": offset})
    assert (v["capture_time"], v["capture_time_source"], v["utc_offset_minutes"]) == \
        ("2024-02-21T10:14:22", "EXIF:DateTimeOriginal", minutes)


def test_b05_lenient_and_blank_offsets():
    lenient = run({"EXIF:DateTimeOriginal": "2024:02:21 10:14:22", "EXIF:OffsetTimeOriginal": "-0300"})
    blank = run({"EXIF:DateTimeOriginal": "2024:02:21 10:14:22", "EXIF:OffsetTimeOriginal": "   :  "})
    good = run({"EXIF:DateTimeOriginal": "2024:02:21 10:14:22", "EXIF:OffsetTimeOriginal": "-05:30"})
    assert lenient["utc_offset_minutes"] == -180 and "nonstandard_offset" in lenient["flags"]
    assert blank["utc_offset_minutes"] is None and blank["capture_time"] == "2024-02-21T10:14:22"
    assert blank["capture_time_confidence"] < good["capture_time_confidence"]
    assert good["capture_time_utc"] == "2024-02-21T15:44:22Z"


def test_offset_precedence_and_borrowed_offset():
    base = {"EXIF:DateTimeOriginal": "2024:02:21 10:14:22"}
    assert run({**base, "EXIF:OffsetTimeDigitized": "+02:00", "EXIF:OffsetTime": "+03:00"})["utc_offset_minutes"] == 120
    borrowed = run({**base, "EXIF:OffsetTime": "+03:00"})
    assert borrowed["utc_offset_minutes"] == 180 and "offset_borrowed" in borrowed["flags"]
    from_gps = run(base, tz="Asia/Kathmandu")
    assert from_gps["utc_offset_minutes"] == 345 and "offset_from_gps_timezone" in from_gps["flags"]


def test_b07_zero_date_falls_back_cleanly():
    zero = run({"EXIF:DateTimeOriginal": "0000:00:00 00:00:00", "EXIF:CreateDate": "2021:06:01 10:00:00"})
    assert (zero["capture_time"], zero["capture_time_source"]) == ("2021-06-01T10:00:00", "EXIF:CreateDate")
    rejected = [c for c in zero["candidates"] if c["status"] == "rejected"]
    assert rejected[0]["source"] == "EXIF:DateTimeOriginal" and rejected[0]["reason"] == "zero date"
    only = run({"EXIF:DateTimeOriginal": "0000:00:00 00:00:00"})
    assert only["capture_time_source"] == "mtime"
    assert only["capture_time"] == datetime.fromtimestamp(MTIME_2022 / 1e9).strftime("%Y-%m-%dT%H:%M:%S")
    assert {"zero_date", "estimated"} <= set(only["flags"])
    assert only["capture_time_confidence"] < zero["capture_time_confidence"]


def test_b08_createdate_and_gps_only():
    dto = run({"EXIF:DateTimeOriginal": "2003:05:17 09:12:00"})
    create = run({"EXIF:CreateDate": "2003:05:17 09:12:00"})
    gps = run({"EXIF:GPSDateStamp": "2016:08:01", "EXIF:GPSTimeStamp": "07:30:00",
               "Composite:GPSDateTime": "2016:08:01 07:30:00Z"})
    assert create["capture_time_source"] == "EXIF:CreateDate" and create["capture_time"] == "2003-05-17T09:12:00"
    assert create["capture_time_confidence"] < dto["capture_time_confidence"]
    assert (gps["capture_time"], gps["utc_offset_minutes"]) == ("2016-08-01T07:30:00", 0)
    assert "utc_only" in gps["flags"]
    local = run({"Composite:GPSDateTime": "2016:08:01 07:30:00Z"}, tz="Europe/Rome")
    assert (local["capture_time"], local["utc_offset_minutes"]) == ("2016-08-01T09:30:00", 120)


def test_b09_modify_date_never_outranks_a_capture_time():
    cropped = run({"EXIF:ModifyDate": "2024:02:01 18:00:00", "EXIF:DateTimeOriginal": "2019:07:14 10:00:00"})
    modify = run({"EXIF:ModifyDate": "2024:02:01 18:00:00"})
    assert cropped["capture_time_source"] == "EXIF:DateTimeOriginal"
    assert modify["capture_time_source"] == "EXIF:ModifyDate" and "edit_time" in modify["flags"]
    assert modify["capture_time_confidence"] < cropped["capture_time_confidence"]


def test_suspicious_conflicting_and_file_name_dates():
    default = run({"EXIF:DateTimeOriginal": "2000:01:01 00:00:00"}, path=b"/lib/IMG_20190714_101500.jpg")
    assert default["capture_time_source"] == "filename" and default["capture_time"] == "2019-07-14T10:15:00"
    assert {"suspicious", "estimated"} <= set(default["flags"])
    future = run({"EXIF:DateTimeOriginal": f"{datetime.now().year + 1}:12:31 00:00:00"})
    assert "suspicious" in future["flags"]
    conflict = run({"EXIF:DateTimeOriginal": "2019:07:14 10:00:00", "EXIF:CreateDate": "2015:01:01 10:00:00"})
    assert "conflicting" in conflict["flags"] and conflict["capture_time_source"] == "EXIF:DateTimeOriginal"
    folder = run({}, path=b"/lib/2011/2011-05-06 Trip/scan.jpg")
    assert folder["capture_time_source"] == "folder" and folder["capture_time"] == "2011-05-06T00:00:00"
    name_only = run({}, path=b"/lib/IMG-20190714-WA0001.jpg")
    assert name_only["capture_time"] == "2019-07-14T00:00:00" and "date_only" in name_only["flags"]
    assert run({}, path=b"/lib/scan_17000101.jpg")["capture_time_source"] == "mtime"  # implausible year


def test_sub_seconds_and_sidecar_conflict():
    v = run({"EXIF:DateTimeOriginal": "2024:02:21 10:14:22", "EXIF:SubSecTimeOriginal": "0500",
             "EXIF:OffsetTimeOriginal": "+01:00"})
    assert v["capture_time"] == "2024-02-21T10:14:22.0500"
    side = run({"EXIF:DateTimeOriginal": "2024:02:21 10:14:22"}, sidecar={"XMP:DateTimeOriginal": "2024:02:22 10:14:22"})
    assert side["capture_time_source"] == "EXIF:DateTimeOriginal" and "sidecar_conflict" in side["flags"]


def test_user_override_wins():
    v = run({"EXIF:DateTimeOriginal": "2024:02:21 10:14:22"},
            overrides={"capture_time": {"value": "2020-01-02T03:04:05.25", "utc_offset_minutes": 60}})
    assert (v["capture_time"], v["capture_time_source"], v["utc_offset_minutes"]) == ("2020-01-02T03:04:05.25", "user", 60)
    assert v["capture_time_confidence"] == 100 and "user_override" in v["flags"]


def show(cat, path):
    with cat.session() as s:
        return describe(s, str(path))


def test_real_photos_offsets_and_sources(corpus_catalog, corpus):
    iphone = show(corpus_catalog, corpus / "exif-samples/heic/IMG_5195.HEIC")
    assert (iphone["capture_time"], iphone["utc_offset_minutes"]) == ("2021-04-11T15:47:53.054", -300)
    assert iphone["capture_time_source"] == "EXIF:DateTimeOriginal" and iphone["capture_time_confidence"] == 95
    nokia = show(corpus_catalog, corpus / "exif-samples/jpg/mobile/HMD_Nokia_8.3_5G.jpg")
    assert nokia["utc_offset_minutes"] == 180
    coolpix = show(corpus_catalog, corpus / "exif-samples/jpg/gps/DSCN0010.jpg")  # no offset tag: GPS zone
    assert coolpix["capture_time"] == "2008-10-22T16:28:39" and coolpix["utc_offset_minutes"] == 120
    assert "offset_from_gps_timezone" in coolpix["date_flags"]
    canon = show(corpus_catalog, corpus / "exif-samples/jpg/Canon_40D.jpg")  # no offset, no GPS
    assert canon["utc_offset_minutes"] is None and "offset_unknown" in canon["date_flags"]
    scanner = show(corpus_catalog, corpus / "metadata-extractor/jpg/Kodak CLAS Digital Film Scanner HR200 (1).jpg")
    assert scanner["capture_time_source"] == "EXIF:CreateDate"
    gps_only = show(corpus_catalog, corpus / "exif-samples/heic/mobile/HMD_Nokia_8.3_5G.heif")
    assert gps_only["capture_time_source"] == "GPS:GPSDateTime"
    assert scanner["capture_time_confidence"] < canon["capture_time_confidence"] + 1 < iphone["capture_time_confidence"]
    assert gps_only["capture_time_confidence"] < iphone["capture_time_confidence"]


def test_every_date_tag_name_appears_in_real_extractor_output(corpus_catalog):
    """B09 manual item: the tag names the date rules read exist in real ExifTool output."""
    from sqlalchemy import select

    from lumina.catalog.models import Metadata

    seen = set()
    with corpus_catalog.session() as s:
        for tags in s.scalars(select(Metadata.tags)):
            seen.update(tags)
    for tag in ("EXIF:DateTimeOriginal", "EXIF:SubSecTimeOriginal", "EXIF:OffsetTimeOriginal", "EXIF:CreateDate",
                "EXIF:OffsetTime", "EXIF:ModifyDate", "QuickTime:CreateDate", "XMP:CreateDate", "XMP:DateCreated",
                "IPTC:DateCreated", "EXIF:GPSDateStamp", "EXIF:GPSTimeStamp", "Composite:GPSDateTime",
                "XMP:DateTimeOriginal", "QuickTime:CreationDate", "EXIF:SubSecTimeDigitized"):
        assert tag in seen, tag
