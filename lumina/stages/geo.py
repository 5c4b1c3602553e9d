"""The ``geo`` stage: a validated GPS position, its geohash, place and IANA time zone.

Rules:
* Coordinates come from the ``metadata`` stage with hemisphere references applied there
  (S and W negative). Out of range (|lat| > 90, |lon| > 180, NaN) is rejected; exactly 0,0
  ("null island", a common placeholder of cameras without a fix) is rejected; 0 on one axis
  alone is a real place (the equator, the prime meridian) and kept.
* The file's own EXIF position wins; an XMP sidecar's is used only when the file has none.
  Both present and further apart than ``gps_conflict_m`` (haversine) -> flag ``conflicting``.
  A user override (field ``gps``) wins over both.
* Geohash: ``pygeohash`` at ``geohash_precision`` characters (coarser cells are prefixes).
* Place: ``reverse_geocode`` (GeoNames cities with population >= 1000, offline), kept only when
  the nearest city is within ``PLACE_MAX_KM``; time zone: ``timezonefinder`` (offline).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import pygeohash

from lumina.catalog.models import Place
from lumina.stages.base import AssetView, Stage, StageResult
from lumina.stages.metadata import gps_from

EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG), metres
PLACE_MAX_KM = 100.0  # beyond this the nearest GeoNames city does not name the place (open sea, desert)


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two WGS 84 points given in degrees (haversine formula)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def check_position(lat: float | None, lon: float | None) -> str | None:
    """Why a position cannot be used, or ``None`` when it is valid."""
    if lat is None or lon is None:
        return "absent"
    if math.isnan(lat) or math.isnan(lon):
        return "invalid: not a number"
    if not (-90.0 <= lat <= 90.0) or not (-180.0 <= lon <= 180.0):
        return f"invalid: out of range ({lat:g}, {lon:g})"
    if abs(lat) < 1e-7 and abs(lon) < 1e-7:
        return "placeholder 0,0 (null island)"
    return None


@lru_cache(maxsize=1)
def _timezone_finder():
    from timezonefinder import TimezoneFinder

    return TimezoneFinder(in_memory=True)  # no file handles left open (and faster lookups)


def timezone_at(lat: float, lon: float) -> str | None:
    """IANA time-zone name at a position (``Etc/GMT±N`` at sea), offline."""
    return _timezone_finder().timezone_at(lng=lon, lat=lat)


def place_at(lat: float, lon: float) -> dict[str, Any] | None:
    """Nearest GeoNames city within ``PLACE_MAX_KM``: ``{"country_code", "region", "city", "distance_km"}``."""
    import reverse_geocode

    hit = reverse_geocode.get((lat, lon))
    if not hit:
        return None
    km = haversine_m(lat, lon, hit["latitude"], hit["longitude"]) / 1000
    if km > PLACE_MAX_KM:
        return None
    return {"country_code": hit.get("country_code"), "region": hit.get("state"), "city": hit.get("city"),
            "distance_km": round(km, 2)}


class GeoStage(Stage):
    name = "geo"
    version = 1
    requires = ("metadata",)
    setting_names = ("gps_conflict_m", "geohash_precision")
    table = Place

    def run(self, asset: AssetView) -> StageResult:
        meta = asset.inputs.get("metadata")
        override = asset.inputs.get("overrides", {}).get("gps")
        flags: list[str] = []
        rejected: list[dict[str, Any]] = []
        candidates: list[tuple[str, float | None, float | None, float | None]] = []
        if override:
            candidates.append(("user", override.get("latitude"), override.get("longitude"), override.get("altitude_m")))
        if meta is not None:
            candidates.append(("file", meta["gps_latitude"], meta["gps_longitude"], meta["gps_altitude_m"]))
            if meta.get("sidecar_tags"):
                candidates.append(("XMP sidecar", *gps_from(meta["sidecar_tags"])))
        valid = []
        for source, lat, lon, alt in candidates:
            why = check_position(lat, lon)
            if why is None:
                valid.append((source, lat, lon, alt))
            elif why != "absent":
                rejected.append({"source": source, "latitude": lat, "longitude": lon, "reason": why})
        values: dict[str, Any] = {"gps_latitude": None, "gps_longitude": None, "gps_altitude_m": None,
                                  "gps_source": None, "geohash": None, "country_code": None, "region": None,
                                  "city": None, "timezone": None, "flags": flags, "rejected": rejected}
        if not valid:
            return StageResult("ok", values)
        source, lat, lon, alt = valid[0]
        if source == "user":
            flags.append("user_override")
        others = [v for v in valid[1:] if v[0] != "user"]
        if any(haversine_m(lat, lon, o[1], o[2]) > float(self.settings["gps_conflict_m"]) for o in others):
            flags.append("conflicting")
        place = place_at(lat, lon) or {}
        values.update(gps_latitude=lat, gps_longitude=lon, gps_altitude_m=alt, gps_source=source,
                      geohash=pygeohash.encode(lat, lon, precision=int(self.settings["geohash_precision"])),
                      country_code=place.get("country_code"), region=place.get("region"), city=place.get("city"),
                      timezone=timezone_at(lat, lon))
        return StageResult("ok", values)
