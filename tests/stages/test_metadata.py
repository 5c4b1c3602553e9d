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


# Every Make spelling in ../shared/corpus/real (any group, ExifTool -G1 -a) and its brand.
CORPUS_BRANDS = {
    "Apple": "Apple", "BlackBerry": "BlackBerry", "CASIO COMPUTER CO.,LTD": "Casio", "CASIO COMPUTER CO.,LTD.": "Casio",
    "Canon": "Canon", "Digital": "Digital", "EASTMAN KODAK COMPANY": "Kodak", "Eastman Kodak Company": "Kodak",
    "FLIR": "FLIR", "FLIR Systems AB": "FLIR", "FUJI PHOTO FILM CO., LTD.": "Fujifilm", "FUJIFILM": "Fujifilm",
    "HMD Global": "HMD Global", "HTC": "HTC", "Hewlett-Packard": "HP", "JK Imaging, Ltd.": "Kodak",
    "KONICA MINOLTA": "Konica Minolta", "MINOLTA CO.,LTD": "Minolta", "Medion AG": "Medion", "NIKON": "Nikon",
    "NIKON CORPORATION": "Nikon", "Nokia": "Nokia", "OLYMPUS CORPORATION": "Olympus",
    "OLYMPUS IMAGING CORP.": "Olympus", "OLYMPUS OPTICAL CO.,LTD": "Olympus", "PENTAX Corporation": "Pentax",
    "PENTAX Corporation ": "Pentax", "Panasonic": "Panasonic", "Phase One": "Phase One",
    "Polyphony Digital Inc.": "Polyphony Digital", "RECONYX": "Reconyx", "RICOH": "Ricoh", "SAMSUNG": "Samsung",
    "SANYO Electric Co.,Ltd.": "Sanyo", "SONY": "Sony", "Samsung Techwin": "Samsung", "Sony": "Sony", "WWL": "WWL",
    "samsung": "Samsung",
}


def test_every_corpus_make_has_one_brand(exiftool_groups):
    from lumina.stages.metadata import CORPORATE_WORDS, normalise_camera, normalise_make

    seen = set()
    for doc in exiftool_groups.values():
        makes = [v for k, v in doc.items() if k.endswith(":Make") and isinstance(v, str)]
        models = [v for k, v in doc.items() if k.endswith(":Model") and isinstance(v, str)]
        for make in makes:
            seen.add(make)
            brand = normalise_make(make)
            assert brand == CORPUS_BRANDS[make], make
            assert brand.split()[-1].lower() not in CORPORATE_WORDS
        if makes and models:  # the make is not repeated in the model
            brand, model = normalise_camera(makes[0], models[0])
            assert model is None or not model.lower().startswith(brand.lower() + " "), (makes[0], models[0])
    assert seen == set(CORPUS_BRANDS)  # the table covers every make of the corpus, no more


@pytest.mark.parametrize("make, model, expected", [
    ("KONICA CORPORATION", "KONICA KD-400Z", ("Konica", "KD-400Z")),
    ("TRAVELER OPTICAL CO,LTD", "DC-4200", ("Traveler", "DC-4200")),
    ("JK Imaging, Ltd.", "KODAK PIXPRO FZ201", ("Kodak", "PIXPRO FZ201")),
    ("SANYO Electric Co.,Ltd.", "SR6", ("Sanyo", "SR6")),
    ("Samsung Techwin", "Digimax S500", ("Samsung", "Digimax S500")),
    ("FUJI PHOTO FILM CO., LTD.", "SP-2500", ("Fujifilm", "SP-2500")),
])
def test_one_rule_for_makes_and_models(make, model, expected):
    assert normalise_camera(make, model) == expected


def test_xmp_coordinates_keep_their_letter_and_altitude_ref(corpus, tmp_path, settle_now):
    """A real photo without GPS and an XMP sidecar written for it (synthetic: no corpus sidecar has a
    direction letter that contradicts its Ref, or an altitude below sea level)."""
    from lumina.catalog.db import open_catalog
    from lumina.pipeline.scan import scan

    lib = tmp_path / "lib"
    lib.mkdir()
    xmp = ("<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'>"
           "<rdf:Description rdf:about='' xmlns:exif='http://ns.adobe.com/exif/1.0/'>"
           "<exif:GPSLatitude>{lat}</exif:GPSLatitude><exif:GPSLatitudeRef>{ref}</exif:GPSLatitudeRef>"
           "<exif:GPSLongitude>2,10.5E</exif:GPSLongitude>"
           "<exif:GPSAltitude>{alt}/1</exif:GPSAltitude><exif:GPSAltitudeRef>1</exif:GPSAltitudeRef>"
           "</rdf:Description></rdf:RDF></x:xmpmeta>")
    for name, photo, lat, ref, alt in (("letter.jpg", "Canon_40D.jpg", "41,24.2N", "S", 120),
                                       ("sound.jpg", "Nikon_D70.jpg", "41,24.2N", "N", 99999)):
        (lib / name).write_bytes((corpus / "exif-samples/jpg" / photo).read_bytes())
        (lib / f"{name}.xmp").write_text(xmp.format(lat=lat, ref=ref, alt=alt))
    cat = open_catalog(tmp_path / "cat")
    scan(cat, [lib])
    letter, sound = show(cat, lib / "letter.jpg"), show(cat, lib / "sound.jpg")
    assert letter["gps_latitude"] == pytest.approx(41.403333, abs=1e-6)  # N wins over Ref S
    assert letter["place"]["gps_altitude_m"] == -120.0  # below sea level
    assert "conflicting" in letter["place"]["flags"]
    assert any(f.startswith("gps_ref_conflict:latitude 41.403333N") for f in letter["place"]["flags"])
    assert letter["place"]["gps_confidence"] < sound["place"]["gps_confidence"] == 80
    assert letter["city"] == "Barcelona" and letter["place"]["city_distance_km"] < 5
    assert sound["place"]["gps_altitude_m"] is None  # -99999 m: rejected, the position kept
    assert any("implausible altitude -99999 m" in r["reason"] for r in sound["place"]["rejected"])
    cat.close()
