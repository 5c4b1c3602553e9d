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
* A sidecar is an XMP file or a Google Takeout JSON (``geoData``, then ``geoDataExif``).
* Altitude outside ``ALTITUDE_RANGE_M`` (e.g. 99999) is rejected with a reason; the position is kept.
* An XMP coordinate whose own direction letter disagrees with its ``*Ref`` tag keeps the letter
  (metadata flag ``gps_ref_conflict:…``, which explains the choice) and is ``conflicting``.
* ``gps_confidence`` (0-100): user 100, the file's position 90, a sidecar's 80; ``conflicting``
  costs 30.
* Place (``place_at``): the GeoNames city (``reverse_geocode``'s data: populated places with
  population >= 1000, offline) a person would name. Each city is given a footprint radius from its
  population, ``r = max(1 km, sqrt(population / (pi * URBAN_DENSITY_PER_KM2)))``; among the
  ``PLACE_CANDIDATES`` nearest cities in the nearest city's country and region (GeoNames admin-1:
  a state, a French région), the most populous one whose
  footprint holds the position wins; when no footprint holds it, the nearest city within
  ``PLACE_MAX_KM``. So the Eiffel Tower is in Paris (4.0 km from its centre, radius 8.3 km), not
  in Vanves (3.9 km), Times Square in New York City rather than the GeoNames section "Times
  Square", while a village 12 km from Paris keeps its own name, St Peter's stays in Vatican
  City (another country) and Hoboken stays in New Jersey. The distance to the named city is recorded (``city_distance_km``).
  Time zone: ``timezonefinder`` (offline).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import pygeohash

from lumina.catalog.models import Place
from lumina.stages.base import AssetView, Stage, StageResult
from lumina.stages.metadata import gps_read

EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG), metres
PLACE_MAX_KM = 100.0  # beyond this the nearest GeoNames city does not name the place (open sea, desert)
PLACE_CANDIDATES = 64  # nearest GeoNames places weighed per position
# Inhabitants per km2 assumed for a city's footprint: between the built-up densities of whole urban
# areas (a few thousand per km2) and dense cores (Paris proper about 20,000 per km2, INSEE), so that a
# capital's centre (Paris: radius 8.3 km) holds its landmarks but not its suburbs 9+ km out.
URBAN_DENSITY_PER_KM2 = 10_000.0
# -500 m: below the Dead Sea shore (-430 m), the lowest dry land; 20,000 m: above airliner ceilings
# (about 13,000 m). Outside, an altitude is a placeholder or a unit error (99999, feet as metres × 1000).
ALTITUDE_RANGE_M = (-500.0, 20_000.0)
CONFIDENCE = {"user": 100, "file": 90, "XMP sidecar": 80, "Takeout sidecar": 80}
CONFLICT_PENALTY = 30


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


def footprint_km(population: int | None) -> float:
    """Radius in km of a city's assumed built-up area: ``max(1, sqrt(population / (pi * density)))``."""
    return max(1.0, math.sqrt(max(population or 0, 0) / (math.pi * URBAN_DENSITY_PER_KM2)))


@lru_cache(maxsize=1)
def _places():
    # reverse_geocode keeps its GeoNames rows and a KD-tree over (lat, lon) on this singleton; its
    # public get() returns only the nearest row, and the rule needs the nearest few.
    from reverse_geocode import GeocodeData

    data = GeocodeData()
    return data._tree, data._locations, data._countries


def place_at(lat: float, lon: float) -> dict[str, Any] | None:
    """The city a person would name for a position (rule in the module docstring).

    Returns:
        ``{"country_code", "region", "city", "distance_km", "population"}``, or ``None`` when no
        city lies within ``PLACE_MAX_KM``.
    """
    tree, rows, _ = _places()
    _, indices = tree.query((lat, lon), k=PLACE_CANDIDATES)
    near = sorted(((haversine_m(lat, lon, rows[i]["latitude"], rows[i]["longitude"]) / 1000, rows[i])
                   for i in indices if i < len(rows)), key=lambda x: x[0])
    if not near or near[0][0] > PLACE_MAX_KM:
        return None
    area = (near[0][1].get("country_code"), near[0][1].get("state"))
    inside = [(row.get("population") or 0, -km, row) for km, row in near
              if km <= footprint_km(row.get("population")) and (row.get("country_code"), row.get("state")) == area]
    if inside:
        population, minus_km, row = max(inside, key=lambda x: (x[0], x[1]))
        km = -minus_km
    else:
        km, row = near[0]
    return {"country_code": row.get("country_code"), "region": row.get("state"), "city": row.get("city"),
            "distance_km": round(km, 2), "population": row.get("population")}


def check_altitude(alt: float | None) -> str | None:
    """Why an altitude cannot be used (outside ``ALTITUDE_RANGE_M``), or ``None``."""
    if alt is None or (ALTITUDE_RANGE_M[0] <= alt <= ALTITUDE_RANGE_M[1]):
        return None
    return f"implausible altitude {alt:g} m (outside {ALTITUDE_RANGE_M[0]:g}..{ALTITUDE_RANGE_M[1]:g} m)"


class GeoStage(Stage):
    name = "geo"
    version = 2
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
        ref_conflicts: list[str] = []
        if meta is not None:
            candidates.append(("file", meta["gps_latitude"], meta["gps_longitude"], meta["gps_altitude_m"]))
            ref_conflicts += [f for f in meta.get("flags") or [] if f.startswith("gps_ref_conflict:")]
            if meta.get("sidecar_tags"):
                lat, lon, alt, side_flags = gps_read(meta["sidecar_tags"])
                takeout = (meta.get("sidecar_path") or "").lower().endswith(".json")
                candidates.append(("Takeout sidecar" if takeout else "XMP sidecar", lat, lon, alt))
                ref_conflicts += side_flags
        valid = []
        for source, lat, lon, alt in candidates:
            why = check_position(lat, lon)
            if why is None:
                if (alt_why := check_altitude(alt)) is not None:
                    rejected.append({"source": source, "altitude_m": alt, "reason": alt_why})
                    alt = None
                valid.append((source, lat, lon, alt))
            elif why != "absent":
                rejected.append({"source": source, "latitude": lat, "longitude": lon, "reason": why})
        values: dict[str, Any] = {"gps_latitude": None, "gps_longitude": None, "gps_altitude_m": None,
                                  "gps_source": None, "geohash": None, "country_code": None, "region": None,
                                  "city": None, "timezone": None, "flags": flags, "rejected": rejected,
                                  "city_distance_km": None, "gps_confidence": None}
        if not valid:
            return StageResult("ok", values)
        source, lat, lon, alt = valid[0]
        confidence = CONFIDENCE[source]
        if source == "user":
            flags.append("user_override")
        others = [v for v in valid[1:] if v[0] != "user"]
        if any(haversine_m(lat, lon, o[1], o[2]) > float(self.settings["gps_conflict_m"]) for o in others):
            flags.append("conflicting")
        if ref_conflicts and source != "user":
            flags += ["conflicting", *dict.fromkeys(ref_conflicts)]
        if "conflicting" in flags:
            confidence -= CONFLICT_PENALTY
        place = place_at(lat, lon) or {}
        values.update(gps_latitude=lat, gps_longitude=lon, gps_altitude_m=alt, gps_source=source,
                      geohash=pygeohash.encode(lat, lon, precision=int(self.settings["geohash_precision"])),
                      country_code=place.get("country_code"), region=place.get("region"), city=place.get("city"),
                      city_distance_km=place.get("distance_km"), gps_confidence=confidence,
                      timezone=timezone_at(lat, lon), flags=list(dict.fromkeys(flags)))
        return StageResult("ok", values)
