import pytest

from lumina.catalog.queries import describe
from lumina.settings import load_settings
from lumina.stages.base import AssetView
from lumina.stages.geo import GeoStage, check_position, haversine_m


def run(lat, lon, sidecar=None, override=None):
    meta = {"gps_latitude": lat, "gps_longitude": lon, "gps_altitude_m": None, "sidecar_tags": sidecar}
    view = AssetView("0" * 64, b"/x.jpg", "photo", "jpeg", 1, 0,
                     inputs={"metadata": meta, "overrides": {"gps": override} if override else {}})
    return GeoStage(load_settings()).run(view).values


def test_position_checks():
    assert check_position(0.0, 0.0) == "placeholder 0,0 (null island)"
    assert check_position(91.0, 10.0).startswith("invalid: out of range")
    assert check_position(0.0, 32.5) is None and check_position(51.48, 0.0) is None
    assert check_position(None, 1.0) == "absent"
    assert haversine_m(0, 0, 0, 1) == pytest.approx(111_195, rel=1e-3)


def test_b10_null_island_equator_and_meridian():
    null = run(0.0, 0.0)
    assert null["gps_latitude"] is None and null["geohash"] is None
    assert null["rejected"][0]["reason"] == "placeholder 0,0 (null island)"
    equator = run(0.0, 32.5)
    assert equator["geohash"].startswith("s8p0581") and equator["country_code"] == "UG"
    meridian = run(51.48, 0.0)
    assert meridian["geohash"].startswith("u10hb58") and meridian["country_code"] == "GB"
    assert meridian["timezone"] == "Europe/London"


def test_sidecar_position_conflict_and_override():
    side = {"XMP:GPSLatitude": 48.1374, "XMP:GPSLongitude": 11.5755}
    both = run(43.4674, 11.8851, sidecar=side)
    assert both["gps_source"] == "file" and "conflicting" in both["flags"]
    only_side = run(None, None, sidecar=side)
    assert only_side["gps_source"] == "XMP sidecar" and only_side["city"] == "Munich"
    user = run(43.4674, 11.8851, override={"latitude": -33.8688, "longitude": 151.2093})
    assert user["gps_source"] == "user" and user["country_code"] == "AU" and user["timezone"] == "Australia/Sydney"


def test_open_sea_has_a_zone_but_no_place():
    v = run(-30.0, -30.0)
    assert v["geohash"] is not None and v["country_code"] is None and v["timezone"] == "Etc/GMT+2"


@pytest.mark.parametrize("name", ["DSCN0010", "DSCN0012", "DSCN0021", "DSCN0025", "DSCN0027", "DSCN0029",
                                  "DSCN0038", "DSCN0040", "DSCN0042"])
def test_coolpix_p6000_gps_photos(corpus_catalog, corpus, name):
    with corpus_catalog.session() as s:
        doc = describe(s, str(corpus / f"exif-samples/jpg/gps/{name}.jpg"))
    assert doc["camera_model"] == "COOLPIX P6000"
    assert 43.0 < doc["gps_latitude"] < 44.0 and 11.0 < doc["gps_longitude"] < 12.5  # Arezzo, N and E
    assert doc["geohash"].startswith("sr8") and len(doc["geohash"]) == 12
    assert doc["country_code"] == "IT" and doc["timezone"] == "Europe/Rome"


def test_dscn0010_exact_position(corpus_catalog, corpus):
    with corpus_catalog.session() as s:
        doc = describe(s, str(corpus / "exif-samples/jpg/gps/DSCN0010.jpg"))
    assert doc["gps_latitude"] == pytest.approx(43.4674483, abs=1e-6)
    assert doc["gps_longitude"] == pytest.approx(11.8851267, abs=1e-6)
    assert doc["geohash"] == "sr8rq3n2px8v" and doc["city"] == "Arezzo"


@pytest.mark.parametrize("lat, lon, city, max_km", [
    (48.8584, 2.2945, "Paris", 4.1),  # Eiffel Tower: Vanves (a suburb) is 3.9 km away, Paris' centre 4.0 km
    (40.7580, -73.9855, "New York City", 5.2),  # Times Square: not the GeoNames section "Times Square"
    (41.4036, 2.1744, "Barcelona", 2.1),  # Sagrada Família: not the section of that name
    (41.9022, 12.4539, "Vatican City", 0.1),  # St Peter's: another country than Rome
    (48.9356, 2.3597, "Saint-Denis", 0.5),  # 9.4 km from Paris' centre: outside its footprint
    (40.7440, -74.0324, "Hoboken", 0.1),  # New Jersey: not New York City across the river
    (48.8049, 2.1204, "Versailles", 1.1),
])
def test_city_a_person_would_name(lat, lon, city, max_km):
    from lumina.stages.geo import place_at

    place = place_at(lat, lon)
    assert place["city"] == city and place["distance_km"] <= max_km
