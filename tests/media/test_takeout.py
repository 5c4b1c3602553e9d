"""Google Takeout JSON sidecars: names, reading, and an export rebuilt from real corpus photos."""

import json
import os
import shutil
import subprocess

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from lumina.catalog.db import open_catalog
from lumina.catalog.queries import describe
from lumina.media.takeout import read_takeout, takeout_sidecar_for
from lumina.pipeline.scan import scan


@pytest.mark.parametrize("photo, jsons, expected", [
    ("IMG_1234.jpg", ["IMG_1234.jpg.json"], "IMG_1234.jpg.json"),
    ("IMG_1234.jpg", ["IMG_1234.jpg.supplemental-metadata.json"], "IMG_1234.jpg.supplemental-metadata.json"),
    ("IMG_1234.jpg", ["IMG_1234.jpg.supplemental-metad.json"], "IMG_1234.jpg.supplemental-metad.json"),
    ("IMG_1234.jpg", ["IMG_1234.j.json"], "IMG_1234.j.json"),
    ("IMG_1234(1).jpg", ["IMG_1234.jpg.json", "IMG_1234.jpg(1).json"], "IMG_1234.jpg(1).json"),
    ("IMG_1234-edited.jpg", ["IMG_1234.jpg.json"], "IMG_1234.jpg.json"),
    ("Screenshot_20190714-101500_Very_Long_App_Name_Here.jpg", ["Screenshot_20190714-101500_Very_Long_App_Name_He.json"],
     "Screenshot_20190714-101500_Very_Long_App_Name_He.json"),
    ("IMG_1234.jpg", ["IMG_1235.jpg.json", "IMG_123.jpg.json"], None),
    ("IMG_1234.jpg", ["IMG_1234.jpg.json", "IMG_1234.jpg.supplemental-metadata.json"], "IMG_1234.jpg.json"),
])
def test_sidecar_names(photo, jsons, expected):
    found = takeout_sidecar_for(b"/export/" + photo.encode(), [j.encode() for j in jsons])
    assert found == (b"/export/" + expected.encode() if expected else None)


def test_unreadable_and_foreign_json(tmp_path):
    (tmp_path / "a.json").write_text("{not json")
    (tmp_path / "b.json").write_text("[1, 2]")
    (tmp_path / "c.json").write_text('{"name": "package.json"}')
    assert read_takeout(os.fsencode(tmp_path / "a.json")).startswith("invalid_value: a.json is not JSON")
    assert read_takeout(os.fsencode(tmp_path / "b.json")) == "invalid_value: b.json is not a JSON object"
    assert read_takeout(os.fsencode(tmp_path / "c.json")) == "invalid_value: c.json holds no Takeout fields"


SOURCES = ["exif-samples/jpg/gps/DSCN0010.jpg", "exif-samples/jpg/gps/DSCN0021.jpg",
           "exif-samples/jpg/gps/DSCN0025.jpg", "exif-samples/jpg/Canon_40D.jpg"]


def _exiftool(*args):
    return subprocess.run(["exiftool", *args], capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def takeout_export(corpus, tmp_path_factory, session_database):
    """A Takeout export built from real corpus photos: every tag stripped from the files (as some
    exports and messengers do), and beside each the JSON Takeout writes, with the capture time
    (UTC epoch) and the position ExifTool reads from the original. Then bad sidecars: one that is
    not JSON, one with an epoch of 0 and an altitude of 99999."""
    root = tmp_path_factory.mktemp("takeout")
    lib = root / "Takeout" / "Google Photos" / "Photos from 2008"
    lib.mkdir(parents=True)
    truth = {}
    for i, rel in enumerate(SOURCES):
        original = corpus / rel
        name = original.name
        target = lib / name
        shutil.copy2(original, target)
        _exiftool("-q", "-overwrite_original", "-all=", str(target))
        tags = json.loads(_exiftool("-j", "-n", "-DateTimeOriginal", "-GPSLatitude", "-GPSLongitude",
                                    "-GPSAltitude", str(original)))[0]
        local = datetime.strptime(tags["DateTimeOriginal"], "%Y:%m:%d %H:%M:%S")
        # Takeout's epoch is the true instant: the Coolpix GPS photos were taken in Tuscany (Europe/Rome);
        # without a position Google Photos takes the wall clock as UTC
        zone = ZoneInfo("Europe/Rome") if "GPSLatitude" in tags else timezone.utc
        epoch = int(local.replace(tzinfo=zone).timestamp())
        doc = {"title": name, "description": f"photo {i}",
               "photoTakenTime": {"timestamp": str(epoch), "formatted": ""},
               "creationTime": {"timestamp": "1700000000", "formatted": ""},
               "geoData": {"latitude": tags.get("GPSLatitude", 0.0), "longitude": tags.get("GPSLongitude", 0.0),
                           "altitude": tags.get("GPSAltitude", 0.0), "latitudeSpan": 0.0, "longitudeSpan": 0.0},
               "people": [{"name": "Alice"}] if i == 0 else []}
        json_name = f"{name}.supplemental-metadata.json" if i == 1 else f"{name}.json"
        (lib / json_name).write_text(json.dumps(doc))
        truth[name] = (tags, epoch, local.strftime("%Y-%m-%dT%H:%M:%S"))
    broken = lib / "broken.jpg"
    shutil.copy2(corpus / "exif-samples/jpg/gps/DSCN0027.jpg", broken)
    (lib / "broken.jpg.json").write_text('{"photoTakenTime": {"timestamp": ')
    zero = lib / "zero.jpg"
    shutil.copy2(corpus / "exif-samples/jpg/gps/DSCN0029.jpg", zero)
    (lib / "zero.jpg.json").write_text(json.dumps({"photoTakenTime": {"timestamp": "0"}, "geoData": {
        "latitude": 43.46, "longitude": 11.88, "altitude": 99999.0}}))
    os.environ["LUMINA_SETTLE_S"] = "0"
    try:
        cat = open_catalog(root / "cat", database_url=session_database())
        scan(cat, [root / "Takeout"])
    finally:
        del os.environ["LUMINA_SETTLE_S"]
    yield cat, lib, truth
    cat.close()


def show(cat, path):
    with cat.session() as s:
        return describe(s, str(path))


def test_stripped_export_gets_its_times_and_places_back(takeout_export):
    cat, lib, truth = takeout_export
    for name, (tags, epoch, wall_clock) in truth.items():
        doc = show(cat, lib / name)
        assert doc["camera_make"] is None  # every tag of the file is gone
        assert doc["capture_time_source"] == "Takeout:PhotoTakenTime", name
        assert doc["metadata"]["sidecar_path"].startswith(str(lib / name))
        if "GPSLatitude" in tags:
            assert doc["gps_latitude"] == pytest.approx(tags["GPSLatitude"], abs=1e-9)
            assert doc["gps_longitude"] == pytest.approx(tags["GPSLongitude"], abs=1e-9)
            assert doc["place"]["gps_source"] == "Takeout sidecar" and doc["city"]
            assert doc["place"]["city_distance_km"] is not None
            # the UTC epoch becomes the original wall-clock time in the position's zone
            assert (doc["capture_time"], doc["timezone"]) == (wall_clock, "Europe/Rome")
            assert doc["utc_offset_minutes"] == 120
        else:
            assert doc["gps_latitude"] is None and "utc_only" in doc["date_flags"]
            assert doc["capture_time"] == wall_clock
        chosen = next(c for c in doc["date_candidates"] if c["status"] == "chosen")
        assert chosen["raw"] == str(epoch)
    first = show(cat, lib / "DSCN0010.jpg")
    assert first["metadata"]["description"] == "photo 0" and "Alice" in first["keywords"]
    assert first["capture_time"] == "2008-10-22T16:28:39"


def test_bad_sidecars_lose_nothing_else(takeout_export):
    cat, lib, _ = takeout_export
    broken = show(cat, lib / "broken.jpg")
    assert broken["stages"]["metadata"]["status"] == "ok"
    assert any(f.startswith("sidecar_unreadable:invalid_value: broken.jpg.json is not JSON")
               for f in broken["metadata"]["flags"])
    assert broken["capture_time_source"] == "EXIF:DateTimeOriginal" and broken["camera_make"] == "Nikon"
    zero = show(cat, lib / "zero.jpg")
    rejected = next(c for c in zero["date_candidates"] if c["source"] == "Takeout:PhotoTakenTime")
    assert rejected["status"] == "rejected" and "epoch 0" in rejected["reason"]
    assert zero["capture_time_source"] == "EXIF:DateTimeOriginal"  # the file's own date is kept
    assert any("implausible altitude 99999 m" in r["reason"] for r in zero["place"]["rejected"])
    assert zero["place"]["gps_source"] == "file"
