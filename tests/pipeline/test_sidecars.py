"""XMP sidecars on real photos copied into a temporary library: written through ExifTool and read
back by ExifTool itself, merged with other programs' tags, conflicts, a read-only library, and the
decisions taken back by a fresh catalog's scan."""

import json
import os
import shutil
import subprocess
from contextlib import contextmanager

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from lumina.catalog.db import open_catalog
from lumina.catalog.models import CatalogState
from lumina.catalog.queries import describe
from lumina.cli.main import app
from lumina.pipeline.duplicates_run import duplicates_report, resolve
from lumina.pipeline.overrides import parse_capture_time, set_override
from lumina.pipeline.scan import scan
from lumina.pipeline.sidecars import foreign_tags, write_sidecars
from tests.conftest import copy_files

# A darktable sidecar (attributes and a structured history) plus a namespace no program knows.
FOREIGN_XMP = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:darktable="http://darktable.sf.net/" xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:acme="http://acme.example/ns/1.0/"
    darktable:xmp_version="5" darktable:raw_params="0" darktable:auto_presets_applied="1"
    acme:Note="keep me: &lt;exactly&gt; ü" xmp:Rating="2">
   <darktable:history>
    <rdf:Seq>
     <rdf:li darktable:operation="exposure" darktable:enabled="1" darktable:params="0000000000803f"/>
     <rdf:li darktable:operation="colorin" darktable:enabled="0" darktable:params="gz48eJxjZBgFowAEAAQ"/>
    </rdf:Seq>
   </darktable:history>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>
"""
def exiftool_tags(path) -> dict:
    """Every tag as ExifTool itself reads it (family-1 groups, structures, binary as base64)."""
    out = subprocess.run(["exiftool", "-G1", "-n", "-j", "-struct", "-b", str(path)], capture_output=True,
                         check=True, text=True).stdout
    return json.loads(out)[0]


@pytest.fixture
def library(corpus, eval_dev, tmp_path, settle_now):
    """Three real photos: a GPS-tagged Nikon, and an original with its half-size copy (a duplicate)."""
    lib = tmp_path / "lib"
    gps, = copy_files(corpus, lib, "exif-samples/jpg/gps/DSCN0010.jpg")
    orig, half = copy_files(eval_dev, lib, "originals/Blackberry Z10.jpg", "resize/Blackberry Z10_50.jpg")
    cat = open_catalog(tmp_path / "cat")
    scan(cat, [lib])
    yield cat, lib, gps, orig, half
    cat.close()


def test_decisions_round_trip_through_sidecars(library, tmp_path, another_database):
    cat, lib, gps, orig, half = library
    set_override(cat, str(gps), "capture_time", parse_capture_time("2019-07-14T10:00:00.5+02:00"))
    set_override(cat, str(orig), "gps", {"latitude": 48.858370, "longitude": 2.294481, "altitude_m": -3.5})
    with cat.session() as s:
        (group,) = [g for g in duplicates_report(s)["groups"] if g["class"] == "same_image"]
        keeper = describe(s, str(orig))["asset_id"]
        half_id = describe(s, str(half))["asset_id"]
        gps_place = describe(s, str(gps))["place"]
    resolve(cat, group["id"], keeper)

    out = write_sidecars(cat, all_files=True)
    assert (len(out["written"]), out["conflicts"], out["failed"]) == (3, [], []), out
    assert sorted(p.name for p in lib.iterdir() if p.suffix == ".xmp") == [
        "Blackberry Z10.jpg.xmp", "Blackberry Z10_50.jpg.xmp", "DSCN0010.jpg.xmp"]
    t = exiftool_tags(lib / "DSCN0010.jpg.xmp")
    assert t["XMP-exif:DateTimeOriginal"] == t["XMP-photoshop:DateCreated"] == "2019:07:14 10:00:00.5+02:00"
    assert t["XMP-lumina:LuminaCaptureTimeSource"] == "user"
    assert abs(t["XMP-exif:GPSLatitude"] - gps_place["gps_latitude"]) < 1e-6
    assert abs(t["XMP-exif:GPSLongitude"] - gps_place["gps_longitude"]) < 1e-6
    t = exiftool_tags(lib / "Blackberry Z10.jpg.xmp")
    assert (round(t["XMP-exif:GPSLatitude"], 6), round(t["XMP-exif:GPSLongitude"], 6)) == (48.85837, 2.294481)
    assert (t["XMP-exif:GPSAltitude"], t["XMP-exif:GPSAltitudeRef"], t["XMP-lumina:LuminaGPSSource"]) == (3.5, 1, "user")
    assert (t["XMP-lumina:LuminaDuplicateRole"], t["XMP-lumina:LuminaAssetID"]) == ("keeper", keeper)
    t = exiftool_tags(lib / "Blackberry Z10_50.jpg.xmp")
    assert (t["XMP-xmp:Rating"], t["XMP-lumina:LuminaStatus"]) == (-1, "rejected")
    assert (t["XMP-lumina:LuminaDuplicateRole"], t["XMP-lumina:LuminaDuplicateKeeper"]) == ("duplicate", keeper)
    again = write_sidecars(cat, all_files=True)
    assert (again["written"], len(again["unchanged"])) == ([], 3)  # nothing rewritten when nothing changed

    fresh = open_catalog(tmp_path / "fresh", database_url=another_database())  # a lost catalog: the library
    # and its sidecars remain (PostgreSQL: a database of its own)
    counts = scan(fresh, [lib])
    assert counts.sidecar_decisions == {"rejected": 1, "overrides": 2, "duplicate_keepers": 1, "burst_choices": 0}
    with fresh.session() as s:
        doc = describe(s, str(gps))
        assert (doc["capture_time"], doc["capture_time_source"], doc["utc_offset_minutes"]) == \
            ("2019-07-14T10:00:00.5", "user", 120)
        doc = describe(s, str(orig))
        assert (round(doc["gps_latitude"], 6), doc["place"]["gps_source"]) == (48.85837, "user")
        assert describe(s, str(half))["status"] == "rejected" and describe(s, half_id)["asset_id"] == half_id
        assert keeper in s.get(CatalogState, "duplicates.keepers").value
    fresh.close()


def test_foreign_tags_are_kept_and_outside_edits_are_conflicts(corpus, tmp_path, settle_now):
    lib = tmp_path / "lib"
    photo, other = copy_files(corpus, lib, "exif-samples/jpg/Canon_40D.jpg", "exif-samples/jpg/Nikon_D70.jpg")
    sidecar = lib / "Canon_40D.jpg.xmp"
    sidecar.write_text(FOREIGN_XMP, encoding="utf-8")
    bad = lib / "Nikon_D70.xmp"  # the name.xmp form, and not XMP at all
    bad.write_bytes(b"this is not XMP <rdf:oops\n")
    before = foreign_tags(exiftool_tags(sidecar))
    assert before["XMP-acme:Note"] == "keep me: <exactly> \u00fc" and len(before) >= 5
    cat = open_catalog(tmp_path / "cat")
    scan(cat, [lib])
    set_override(cat, str(photo), "capture_time", parse_capture_time("2020-02-29T23:59:58"))
    out = write_sidecars(cat, [str(lib)])
    assert [w["sidecar"] for w in out["written"]] == [str(sidecar)] and out["conflicts"] == []
    (failed,) = out["failed"]
    assert failed["sidecar"] == str(bad) and failed["error"].startswith("invalid_xmp")
    assert bad.read_bytes() == b"this is not XMP <rdf:oops\n"  # left untouched
    after = exiftool_tags(sidecar)
    assert foreign_tags(after) == before  # every tag Lumina does not own: same value
    head = FOREIGN_XMP[:FOREIGN_XMP.rfind("</rdf:RDF>")].rstrip(" \t")
    assert sidecar.read_text(encoding="utf-8").startswith(head)  # ... and the same bytes: Lumina's part is added
    assert (after["XMP-xmp:Rating"], after["XMP-exif:DateTimeOriginal"]) == (2, "2020:02:29 23:59:58")

    subprocess.run(["exiftool", "-overwrite_original", "-XMP-xmp:Rating=5", str(sidecar)], check=True,
                   capture_output=True)  # another program edits a value Lumina wrote
    set_override(cat, str(photo), "capture_time", parse_capture_time("2021-03-01T08:00:00"))
    out = write_sidecars(cat, [str(photo)])
    assert [(c["tag"], c["sidecar_value"], c["catalog"]) for c in out["conflicts"]] == [("XMP-xmp:Rating", 5.0, 2.0)]
    after = exiftool_tags(sidecar)
    assert (after["XMP-xmp:Rating"], after["XMP-exif:DateTimeOriginal"]) == (5, "2021:03:01 08:00:00")
    assert foreign_tags(after) == before
    assert write_sidecars(cat, [str(photo)])["conflicts"]  # still a conflict until the user settles it
    assert not [p for p in os.listdir(lib) if p.startswith(".")]  # no temporary file left behind
    cat.close()


@contextmanager
def read_only(folder):
    """The folder read-only for this process: permission bits, or (root ignores them) a read-only bind mount."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    if shutil.which("mount") is None or subprocess.run(["mount", "--bind", folder, folder]).returncode != 0:
        pytest.skip("running as root without permission to mount: cannot make a folder read-only")
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", folder], check=True)
        yield
    finally:
        subprocess.run(["umount", folder], check=True)


def test_read_only_library_gives_one_error_per_file_and_a_summary(corpus, tmp_path, settle_now):
    lib = tmp_path / "lib"
    copy_files(corpus, lib, "exif-samples/jpg/Canon_40D.jpg", "exif-samples/jpg/Nikon_D70.jpg")
    cat = tmp_path / "cat"
    runner = CliRunner()
    assert runner.invoke(app, ["scan", str(lib), "--catalog", str(cat), "--quiet"]).exit_code == 0
    with read_only(lib):
        res = runner.invoke(app, ["sidecars", "write", "--all", "--catalog", str(cat)])
    assert res.exit_code == 1
    errors = [line for line in res.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 2 and all("not_writable" in e and str(lib) in e for e in errors)
    assert "0 wrote, 0 unchanged, 0 conflicts, 2 failed" in res.output
    assert sorted(p.name for p in lib.iterdir()) == ["Canon_40D.jpg", "Nikon_D70.jpg"]


def test_write_on_change_and_into_originals_with_a_backup_in_the_trash(corpus, tmp_path, settle_now):
    from lumina.media.fileops import sha256_file
    from lumina.pipeline.trash import list_trash

    lib = tmp_path / "lib"
    photo, = copy_files(corpus, lib, "exif-samples/jpg/Canon_40D.jpg")
    original_sha = sha256_file(photo)
    cat = open_catalog(tmp_path / "cat")
    scan(cat, [lib])
    on_change = cat.with_settings({"sidecars_write_on_change": True})
    set_override(on_change, str(photo), "capture_time", parse_capture_time("2011-11-11T11:11:11+01:00"))
    assert exiftool_tags(lib / "Canon_40D.jpg.xmp")["XMP-exif:DateTimeOriginal"] == "2011:11:11 11:11:11+01:00"
    out = write_sidecars(cat, [str(photo)], into_originals=True)
    assert out["failed"] == [] and len(out["originals"]) == 1
    t = exiftool_tags(photo)  # the photo itself now carries the decisions, its EXIF untouched
    assert t["XMP-exif:DateTimeOriginal"] == "2011:11:11 11:11:11+01:00" and t["IFD0:Model"] == "Canon EOS 40D"
    (entry,) = list_trash(cat)
    assert entry["sha256"] == original_sha == sha256_file(entry["trash_path"])  # the backup is the original
    assert (lib / "Canon_40D.jpg.xmp").is_file() and sha256_file(photo) != original_sha
    cat.close()
