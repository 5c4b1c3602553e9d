"""The ``metadata`` stage: ExifTool tags of each file (and its XMP sidecar) as typed columns.

Normalisation rules:
* make and model are trimmed; known corporate spellings map to one brand name
  (``"NIKON CORPORATION"`` -> ``"Nikon"``); the make is not repeated in the model
  (``"Canon" / "Canon EOS 40D"`` -> ``"EOS 40D"``); placeholders ("", "0", "65535",
  "Unknown", ...) are missing values.
* width/height are the displayed size: EXIF Orientation 5-8 and video/HEIF rotation of
  90/270 degrees swap them; a HEIF clean aperture (``clap``) crops them.
* GPS latitude/longitude are signed decimal degrees with the hemisphere references applied by
  us (``GPSLatitudeRef`` S and ``GPSLongitudeRef`` W are negative); altitude in metres,
  negative below sea level (``GPSAltitudeRef`` = 1). Validation happens in the ``geo`` stage.
* From an XMP sidecar, rating, title, description and keywords win over the file's (they are
  what an editor wrote later); camera and GPS stay the file's. Each use of a sidecar value
  is listed in ``flags`` as ``"sidecar:<field>"``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lumina.catalog.models import Metadata
from lumina.errors import error_text
from lumina.media.exif_repair import heif_exif_tags
from lumina.media.exiftool import ExifToolSession, find_exiftool
from lumina.stages.base import AssetView, Stage, StageResult

PLACEHOLDERS = {"", "0", "65535", "unknown", "none", "null", "n/a", "-", "<unknown>", "default",
                "undefined", "not available", "camera"}
# In-camera boilerplate written into ImageDescription; not a user's description.
DESCRIPTION_PLACEHOLDERS = {"olympus digital camera", "sony dsc", "digital camera", "konica minolta digital camera",
                            "minolta digital camera", "samsung digital camera", "exif_jpeg_picture",
                            "default", "image", "picture", "                               "}
BRANDS = {
    "nikon corporation": "Nikon", "nikon": "Nikon", "canon": "Canon", "canon inc.": "Canon",
    "olympus imaging corp.": "Olympus", "olympus optical co.,ltd": "Olympus", "olympus corporation": "Olympus",
    "olympus": "Olympus", "om digital solutions": "OM System", "eastman kodak company": "Kodak", "kodak": "Kodak",
    "sony": "Sony", "fujifilm": "Fujifilm", "fuji photo film co., ltd.": "Fujifilm", "pentax corporation": "Pentax",
    "pentax": "Pentax", "asahi optical co.,ltd": "Pentax", "ricoh imaging company, ltd.": "Ricoh", "ricoh": "Ricoh",
    "samsung": "Samsung", "samsung techwin": "Samsung", "samsung techwin co., ltd.": "Samsung",
    "panasonic": "Panasonic", "casio computer co.,ltd.": "Casio", "casio computer co.,ltd": "Casio",
    "casio": "Casio", "konica minolta camera, inc.": "Konica Minolta", "konica minolta": "Konica Minolta",
    "minolta co., ltd.": "Minolta", "minolta": "Minolta", "hewlett-packard": "HP", "hp": "HP",
    "leica camera ag": "Leica", "leica": "Leica", "apple": "Apple", "htc": "HTC", "sanyo electric co.,ltd.": "Sanyo",
    "sanyo electric co., ltd.": "Sanyo", "seiko epson corp.": "Epson", "sigma": "Sigma", "google": "Google",
    "huawei": "Huawei", "xiaomi": "Xiaomi", "lg electronics": "LG", "motorola": "Motorola", "hmd global": "HMD Global",
}


def first(tags: Mapping[str, Any], *keys: str) -> Any:
    """The first present, non-placeholder value among ``keys``."""
    for k in keys:
        v = tags.get(k)
        if v is None:
            continue
        if isinstance(v, str) and v.strip().lower() in PLACEHOLDERS:
            continue
        return v
    return None


def text(v: Any) -> str | None:
    if v is None:
        return None
    s = " ".join(str(v).split())
    return None if s.lower() in PLACEHOLDERS else s


def number(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    try:
        return float(str(v).split()[0])
    except (ValueError, IndexError):
        return None


def integer(v: Any) -> int | None:
    n = number(v)
    return int(n) if n is not None else None


def normalise_camera(make: Any, model: Any) -> tuple[str | None, str | None]:
    """Normalised (make, model); see the module docstring. Either may be ``None``."""
    raw_make, raw_model = text(make), text(model)
    brand = BRANDS.get(raw_make.lower().rstrip(" .,"), BRANDS.get(raw_make.lower(), raw_make)) if raw_make else None
    if raw_model:
        low = raw_model.lower()
        for prefix in filter(None, {raw_make, brand, raw_make.split()[0] if raw_make else None}):
            p = prefix.lower()
            if len(p) >= 2 and low.startswith(p) and len(raw_model) > len(p) and not raw_model[len(p)].isalnum():
                raw_model = raw_model[len(p):].strip(" -_") or raw_model
                break
    return brand, raw_model


def signed_coordinate(value: Any, ref: Any, negative_refs: str) -> float | None:
    """Decimal degrees with the hemisphere applied: ``ref`` starting with one of
    ``negative_refs`` (``"S"`` or ``"W"``) makes the value negative, whatever its stored sign."""
    n = number(value)
    if n is None:
        return None
    if isinstance(ref, str) and ref.strip():
        return -abs(n) if ref.strip()[0].upper() in negative_refs else abs(n)
    return n


def gps_from(tags: Mapping[str, Any]) -> tuple[float | None, float | None, float | None]:
    """(latitude, longitude, altitude_m) as read, or ``None`` parts."""
    lat = signed_coordinate(tags.get("EXIF:GPSLatitude"), tags.get("EXIF:GPSLatitudeRef"), "S")
    lon = signed_coordinate(tags.get("EXIF:GPSLongitude"), tags.get("EXIF:GPSLongitudeRef"), "W")
    alt = number(tags.get("EXIF:GPSAltitude"))
    if alt is not None and integer(tags.get("EXIF:GPSAltitudeRef")) == 1:
        alt = -abs(alt)
    if lat is None or lon is None:
        # XMP stores signed values (exif:GPSLatitude with -n); QuickTime keeps "lat lon alt".
        lat = signed_coordinate(tags.get("XMP:GPSLatitude"), tags.get("XMP:GPSLatitudeRef"), "S")
        lon = signed_coordinate(tags.get("XMP:GPSLongitude"), tags.get("XMP:GPSLongitudeRef"), "W")
        alt = number(tags.get("XMP:GPSAltitude")) if alt is None else alt
    if lat is None or lon is None:
        coords = first(tags, "QuickTime:GPSCoordinates", "Composite:GPSPosition")
        parts = str(coords).replace(",", " ").split() if coords is not None else []
        if len(parts) >= 2:
            lat, lon = number(parts[0]), number(parts[1])
            if len(parts) >= 3 and alt is None:
                alt = number(parts[2])
    if lat is None or lon is None:
        lat, lon = number(tags.get("Composite:GPSLatitude")), number(tags.get("Composite:GPSLongitude"))
    if lat is None or lon is None:
        return None, None, alt
    return lat, lon, alt


def displayed_size(tags: Mapping[str, Any], file_type: str) -> tuple[int | None, int | None]:
    """Displayed (width, height) in pixels after orientation/rotation; ``None`` if unknown."""
    w = h = None
    size = tags.get("Composite:ImageSize")
    if isinstance(size, str) and len(size.replace("x", " ").split()) == 2:
        w, h = (integer(p) for p in size.replace("x", " ").split())
    if not w or not h:
        w = integer(first(tags, "File:ImageWidth", "PNG:ImageWidth", "QuickTime:ImageWidth", "EXIF:ExifImageWidth"))
        h = integer(first(tags, "File:ImageHeight", "PNG:ImageHeight", "QuickTime:ImageHeight", "EXIF:ExifImageHeight"))
    if not w or not h:
        return None, None
    if file_type in ("heic", "heif", "avif"):
        clap = str(tags.get("QuickTime:CleanAperture", "")).split()
        if len(clap) >= 2 and integer(clap[0]) and integer(clap[1]):
            w, h = integer(clap[0]), integer(clap[1])
        rotation = integer(tags.get("QuickTime:Rotation")) or 0
    elif tags.get("File:MIMEType", "").startswith("video/"):
        rotation = integer(first(tags, "Composite:Rotation", "QuickTime:Rotation")) or 0
    else:
        orientation = integer(tags.get("EXIF:Orientation")) or 1
        rotation = 90 if orientation in (5, 6, 7, 8) else 0
    return (h, w) if rotation % 180 == 90 else (w, h)


def keywords_from(tags: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    for key in ("XMP:Subject", "IPTC:Keywords", "XMP:Keywords"):
        v = tags.get(key)
        for item in v if isinstance(v, list) else ([v] if v is not None else []):
            s = text(item)
            if s and s not in out:
                out.append(s)
    return out


def descriptive(tags: Mapping[str, Any]) -> dict[str, Any]:
    """Rating, title, description, keywords from XMP/IPTC/EXIF."""
    description = text(first(tags, "XMP:Description", "IPTC:Caption-Abstract", "EXIF:ImageDescription",
                             "QuickTime:Description"))
    if description and description.lower() in DESCRIPTION_PLACEHOLDERS:
        description = None
    return {
        "rating": integer(first(tags, "XMP:Rating", "EXIF:Rating")),
        "title": text(first(tags, "XMP:Title", "IPTC:ObjectName", "XMP:Headline", "QuickTime:Title")),
        "description": description,
        "keywords": keywords_from(tags),
    }


def typed_values(tags: Mapping[str, Any], file_type: str, sidecar_tags: Mapping[str, Any] | None = None) -> dict:
    """The typed columns of the ``metadata`` table from ExifTool JSON (``-G -n``)."""
    make, model = normalise_camera(
        first(tags, "EXIF:Make", "QuickTime:Make", "XMP:Make", "QuickTime:AndroidMake"),
        first(tags, "EXIF:Model", "QuickTime:Model", "XMP:Model", "QuickTime:AndroidModel"))
    lat, lon, alt = gps_from(tags)
    width, height = displayed_size(tags, file_type)
    lens = first(tags, "EXIF:LensModel", "XMP:LensModel", "MakerNotes:LensModel", "XMP:Lens", "Composite:LensID")
    flags: list[str] = []
    desc = descriptive(tags)
    if sidecar_tags:
        for key, value in descriptive(sidecar_tags).items():
            if value not in (None, []):
                desc[key] = value
                flags.append(f"sidecar:{key}")
    if tags.get("ExifTool:Warning"):
        flags.append(f"exiftool_warning:{text(tags['ExifTool:Warning'])}")
    sequence = first(tags, "MakerNotes:SequenceNumber", "MakerNotes:BurstSequenceNumber", "MakerNotes:ImageCount")
    return {
        "camera_make": make,
        "camera_model": model,
        "camera_serial": text(first(tags, "EXIF:SerialNumber", "MakerNotes:SerialNumber",
                                    "MakerNotes:InternalSerialNumber", "XMP:SerialNumber")),
        "lens": text(lens) if isinstance(lens, str) else None,
        "focal_length_mm": number(first(tags, "EXIF:FocalLength", "XMP:FocalLength")),
        "f_number": number(first(tags, "EXIF:FNumber", "Composite:Aperture", "XMP:FNumber")),
        "exposure_time_s": number(first(tags, "EXIF:ExposureTime", "Composite:ShutterSpeed", "XMP:ExposureTime")),
        "iso": integer(first(tags, "EXIF:ISO", "Composite:ISO", "MakerNotes:ISO", "XMP:ISO")),
        "orientation": integer(tags.get("EXIF:Orientation")),
        "width": width,
        "height": height,
        "mime_type": text(tags.get("File:MIMEType")),
        "gps_latitude": lat,
        "gps_longitude": lon,
        "gps_altitude_m": alt,
        "burst_uuid": text(first(tags, "MakerNotes:BurstUUID", "XMP:BurstUUID")),
        "burst_sequence": text(sequence) if sequence is not None else None,
        "image_unique_id": text(first(tags, "EXIF:ImageUniqueID", "XMP:ImageUniqueID")),
        **desc,
        "flags": flags,
    }


_SESSIONS: dict[tuple[str, float, str], ExifToolSession] = {}


class MetadataStage(Stage):
    """Reads every file's tags with one long-lived ExifTool per worker process, in batches."""

    name = "metadata"
    version = 2
    requires = ()
    setting_names = ()
    parallel = True
    table = Metadata

    @property
    def batch_size(self) -> int:  # type: ignore[override]
        return int(self.settings["exiftool_batch_files"])

    def input_signature(self, asset: AssetView) -> str:
        return asset.sidecar_signature or ""

    def preflight(self) -> None:
        find_exiftool(self.settings["exiftool_path"])

    def session(self) -> ExifToolSession:
        key = (self.settings["exiftool_path"], float(self.settings["exiftool_timeout_s"]),
               self.settings["exiftool_config"])
        if key not in _SESSIONS:
            _SESSIONS[key] = ExifToolSession(*key)
        return _SESSIONS[key]

    def run_batch(self, assets: Sequence[AssetView]) -> list[StageResult]:
        paths = [a.path for a in assets] + [a.sidecar for a in assets if a.sidecar]
        docs = self.session().read(list(dict.fromkeys(paths)))
        return [self._result(a, docs.get(a.path), docs.get(a.sidecar) if a.sidecar else None) for a in assets]

    def _result(self, asset: AssetView, tags: dict | str | None, sidecar: dict | str | None) -> StageResult:
        if not isinstance(tags, dict):
            return StageResult("failed", reason=tags or error_text("exiftool_error", "no output"))
        sidecar_tags = sidecar if isinstance(sidecar, dict) else None
        repaired = False
        if asset.file_type in ("heic", "heif", "avif") and not any(k.startswith("EXIF:") for k in tags):
            extra, repaired = heif_exif_tags(asset.path)
            tags = {**tags, **extra}
        values = typed_values(tags, asset.file_type, sidecar_tags)
        if repaired:
            values["flags"].append("exif_repaired: APP1 marker in front of the HEIF Exif item (read with Pillow)")
        if isinstance(sidecar, str):
            values["flags"].append(f"sidecar_unreadable:{sidecar}")
        values.update(tags=tags, sidecar_tags=sidecar_tags,
                      sidecar_path=asset.sidecar.decode("utf-8", "backslashreplace") if asset.sidecar else None)
        error = tags.get("ExifTool:Error")
        if error:
            return StageResult("failed", values, error_text("exiftool_error", str(error)))
        return StageResult("ok", values)

    def close(self) -> None:
        for key, session in list(_SESSIONS.items()):
            session.close()
            del _SESSIONS[key]
