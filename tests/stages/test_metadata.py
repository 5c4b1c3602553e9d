import pytest

from lumina.catalog.queries import describe
from lumina.stages.metadata import gps_from, normalise_camera, typed_values


@pytest.mark.parametrize("make, model, expected", [
    ("Canon", "Canon EOS 40D", ("Canon", "EOS 40D")),
    ("NIKON CORPORATION", "NIKON D70", ("Nikon", "D70")),
    ("OLYMPUS IMAGING CORP.  ", "E-P3", ("Olympus", "E-P3")),
    ("EASTMAN KODAK COMPANY", "KODAK CX7530 ZOOM DIGITAL CAMERA", ("Kodak", "CX7530 ZOOM DIGITAL CAMERA")),
    ("Apple", "iPhone 11 Pro Max", ("Apple", "iPhone 11 Pro Max")),
    ("TestMake", "TestModel", ("TestMake", "TestModel")),
    ("", "0", (None, None)),
    ("65535", "Unknown", (None, None)),
    ("  Leica Camera AG ", "LEICA M9", ("Leica", "M9")),
])
def test_camera_normalisation(make, model, expected):
    assert normalise_camera(make, model) == expected


def test_gps_signs_follow_the_hemisphere_references():
    tags = {"EXIF:GPSLatitude": 33.8, "EXIF:GPSLatitudeRef": "S", "EXIF:GPSLongitude": 151.2,
            "EXIF:GPSLongitudeRef": "E", "EXIF:GPSAltitude": 12.0, "EXIF:GPSAltitudeRef": 1}
    assert gps_from(tags) == (-33.8, 151.2, -12.0)
    # a writer that stored a signed value but a contradicting ref: the ref decides
    tags.update({"EXIF:GPSLongitude": -151.2, "EXIF:GPSLongitudeRef": "W"})
    assert gps_from(tags)[1] == -151.2
    assert gps_from({"QuickTime:GPSCoordinates": "40.7 -74.0 10"}) == (40.7, -74.0, 10.0)


def test_displayed_size_swaps_for_rotating_orientations():
    tags = {"Composite:ImageSize": "400 300", "EXIF:Orientation": 6, "File:MIMEType": "image/jpeg"}
    assert typed_values(tags, "jpeg")["width"] == 300
    tags["EXIF:Orientation"] = 3
    assert typed_values(tags, "jpeg")["width"] == 400


def show(cat, path):
    with cat.session() as s:
        return describe(s, str(path))


@pytest.mark.parametrize("rel, make, model", [
    ("exif-samples/jpg/Canon_40D.jpg", "Canon", "EOS 40D"),
    ("exif-samples/jpg/Nikon_D70.jpg", "Nikon", "D70"),
    ("exif-samples/jpg/gps/DSCN0010.jpg", "Nikon", "COOLPIX P6000"),
    ("exif-samples/heic/IMG_5195.HEIC", "Apple", "iPhone 11 Pro Max"),
    ("exif-samples/jpg/Pentax_K10D.jpg", "Pentax", "K10D"),
])
def test_camera_of_real_files(corpus_catalog, corpus, rel, make, model):
    doc = show(corpus_catalog, corpus / rel)
    assert (doc["camera_make"], doc["camera_model"]) == (make, model)
    assert doc["stages"]["metadata"]["status"] == "ok"


def test_orientation_samples_have_one_displayed_size(corpus_catalog, corpus):
    sizes = set()
    for i in range(1, 9):
        doc = show(corpus_catalog, corpus / f"exif-samples/jpg/orientation/landscape_{i}.jpg")
        assert doc["metadata"]["orientation"] == i
        sizes.add((doc["width"], doc["height"]))
    assert sizes == {(600, 450)}


def test_typed_exposure_values(corpus_catalog, corpus):
    meta = show(corpus_catalog, corpus / "exif-samples/jpg/Canon_40D.jpg")["metadata"]
    assert meta["f_number"] == pytest.approx(7.1)
    assert meta["exposure_time_s"] == pytest.approx(1 / 160)
    assert meta["iso"] == 100
    assert meta["focal_length_mm"] == pytest.approx(135.0)
    assert meta["mime_type"] == "image/jpeg"


def test_xmp_sidecar_is_read_for_its_photo(corpus, tmp_path, settle_now):
    """A real photo with a real XMP file from the corpus placed beside it as its sidecar."""
    from lumina.catalog.db import open_catalog
    from lumina.pipeline.scan import scan

    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "photo.jpg").write_bytes((corpus / "exif-samples/jpg/Canon_40D.jpg").read_bytes())
    sidecar = corpus / "metadata-extractor/xmp/digikam-example.xmp"
    (lib / "photo.jpg.xmp").write_bytes(sidecar.read_bytes())
    cat = open_catalog(tmp_path / "cat")
    scan(cat, [lib])
    doc = show(cat, lib / "photo.jpg")
    assert doc["metadata"]["sidecar_path"] == str(lib / "photo.jpg.xmp")
    assert doc["files"][0]["sidecar"] == str(lib / "photo.jpg.xmp")
    assert doc["camera_make"] == "Canon"  # camera stays the file's
    assert doc["metadata"]["keywords"] == ["test3", "test", "test2"]
    assert doc["metadata"]["description"] == "2014-Drachenfest-Waterfront-Bremen"
    assert {"sidecar:keywords", "sidecar:description"} <= set(doc["metadata"]["flags"])
    assert doc["stages"]["metadata"]["status"] == "ok"
    cat.close()
