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

import re
from collections.abc import Mapping, Sequence
from typing import Any

from lumina.catalog.models import Metadata
from lumina.errors import error_text
from lumina.media.exif_repair import heif_exif_tags
from lumina.media.exiftool import GROUPED_ARGS, GROUPED_COMMON_ARGS, COMMON_ARGS, ExifToolSession, find_exiftool
from lumina.media.takeout import is_takeout_name, read_takeout
from lumina.stages.base import AssetView, Stage, StageResult
from lumina.stages.dates import GROUPED_RANKS

PLACEHOLDERS = {"", "0", "65535", "unknown", "none", "null", "n/a", "-", "<unknown>", "default",
                "undefined", "not available", "camera"}
# In-camera boilerplate written into ImageDescription; not a user's description.
DESCRIPTION_PLACEHOLDERS = {"olympus digital camera", "sony dsc", "digital camera", "konica minolta digital camera",
                            "minolta digital camera", "samsung digital camera", "exif_jpeg_picture",
                            "default", "image", "picture", "                               "}
# Brand names that the suffix rule below cannot derive (acronyms, renamed or licensed brands), keyed by the
# lower-case name with and without corporate suffixes. Everything else follows the rule.
BRAND_ALIASES = {
    "eastman kodak": "Kodak", "fuji photo film": "Fujifilm", "fuji": "Fujifilm", "asahi optical": "Pentax",
    "asahi": "Pentax", "hewlett-packard": "HP", "hp": "HP", "om digital solutions": "OM System",
    "seiko epson": "Epson", "lg electronics": "LG", "lg": "LG", "htc": "HTC", "hmd global": "HMD Global",
    "samsung techwin": "Samsung", "flir": "FLIR", "flir systems": "FLIR", "sanyo electric": "Sanyo",
    "gopro": "GoPro", "dji": "DJI", "blackberry": "BlackBerry", "jk imaging": "Kodak",
}
# Words that name the kind of company, not the brand: removed from the end of a make, repeatedly
# ("KONICA CORPORATION" -> "Konica", "TRAVELER OPTICAL CO,LTD" -> "Traveler").
CORPORATE_WORDS = {
    "corporation", "corp", "incorporated", "inc", "co", "company", "ltd", "limited", "llc", "plc", "ag", "gmbh",
    "sa", "s.a", "kk", "k.k", "optical", "imaging", "electric", "electronics", "computer", "camera", "industries",
    "industry", "mfg", "manufacturing", "international", "photo", "film", "technology", "technologies", "ab",
    "oy", "bv", "nv", "spa", "srl", "systems",
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


def _clean(value: Any) -> str | None:
    """One spacing for a make or model: whitespace runs collapsed, outer spaces and trailing
    punctuation removed; placeholders are ``None``."""
    s = text(value)
    s = s.strip(" .,;-_") if s else s
    return s if s and s.lower() not in PLACEHOLDERS else None


def _corporate_forms(name: str) -> list[str]:
    """``name``, then ``name`` with one more trailing company-kind word (``CORPORATION``,
    ``CO.,LTD``, ``Optical``…) removed at each step, down to one word; the last is the shortest."""
    words = [w for w in re.split(r"[\s,]+", name) if w.strip(".")]
    forms = [" ".join(words)]
    while len(words) > 1 and words[-1].lower().strip(".") in CORPORATE_WORDS:
        words.pop()
        forms.append(" ".join(words))
    return forms


def _strip_corporate(name: str) -> str:
    return _corporate_forms(name)[-1]


def normalise_make(make: Any) -> str | None:
    """The brand of a camera ``Make`` value (see the module docstring); ``None`` for placeholders.

    Rule: clean the spacing, look the name up in ``BRAND_ALIASES``; else remove trailing
    corporate words and look up again; else write each all-capital (longer than 3 letters) or
    all-lower-case word with a capital initial, keeping mixed-case words ("BlackBerry") as written.
    """
    name = _clean(make)
    if name is None:
        return None
    forms = _corporate_forms(name)
    for form in forms:
        if form.lower() in BRAND_ALIASES:
            return BRAND_ALIASES[form.lower()]
    short = forms[-1]
    return " ".join(w.capitalize() if (w.isupper() and len(w) > 3) or w.islower() else w for w in short.split())


def normalise_camera(make: Any, model: Any) -> tuple[str | None, str | None]:
    """Normalised (make, model); see the module docstring. Either may be ``None``.

    The model is cleaned the same way as the make, and the make is not repeated in it: any of
    the raw make, the make without its corporate words, the brand, or the make's first word is
    removed from the front of the model ("NIKON CORPORATION" / "NIKON D70" -> "Nikon" / "D70").
    """
    raw_make, raw_model = _clean(make), _clean(model)
    brand = normalise_make(raw_make)
    if raw_model and raw_make:
        low = raw_model.lower()
        prefixes = {raw_make, _strip_corporate(raw_make), brand, raw_make.split()[0]}
        for p in sorted(filter(None, prefixes), key=len, reverse=True):
            p = p.lower()
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


def _below_sea_level(ref: Any) -> bool:
    """``GPSAltitudeRef`` 1 (EXIF 2.32 tag 0x0005; ExifTool prints "Below Sea Level")."""
    return integer(ref) == 1 or (isinstance(ref, str) and ref.strip().lower().startswith("below"))


def _xmp_coordinate(value: Any, ref: Any, axis: str, negative: str, flags: list[str]) -> float | None:
    """An XMP coordinate: XMP stores ``"41,24.2N"``, its own direction letter, which ExifTool
    (``-n``) turns into the sign. A separate ``*Ref`` that disagrees loses to the letter and is
    recorded in ``flags`` (``gps_ref_conflict:…``)."""
    n = number(value)
    if n is None:
        return None
    if isinstance(ref, str) and ref.strip() and n != 0:
        ref_negative = ref.strip()[0].upper() in negative
        if ref_negative != (n < 0):
            letter = ("S" if n < 0 else "N") if axis == "latitude" else ("W" if n < 0 else "E")
            flags.append(f"gps_ref_conflict:{axis} {abs(n):.6f}{letter} in the coordinate, Ref {ref.strip()!r}; "
                         "the coordinate's own letter wins")
    return n


def gps_read(tags: Mapping[str, Any]) -> tuple[float | None, float | None, float | None, list[str]]:
    """(latitude, longitude, altitude_m, flags) as read from one ExifTool tag dict, or ``None`` parts.

    EXIF coordinates are unsigned with ``GPSLatitudeRef``/``GPSLongitudeRef`` giving the sign;
    XMP coordinates carry their own letter (``_xmp_coordinate``); QuickTime keeps ``"lat lon alt"``
    (ISO 6709). An altitude with ``GPSAltitudeRef`` below sea level is negative, in EXIF and XMP
    alike (as ExifTool's ``Composite:GPSAltitude``). A Google Takeout sidecar's ``geoData`` (the
    position Google Photos shows, user edits included) is read before its ``geoDataExif``.
    """
    flags: list[str] = []
    lat = signed_coordinate(tags.get("EXIF:GPSLatitude"), tags.get("EXIF:GPSLatitudeRef"), "S")
    lon = signed_coordinate(tags.get("EXIF:GPSLongitude"), tags.get("EXIF:GPSLongitudeRef"), "W")
    alt = number(tags.get("EXIF:GPSAltitude"))
    if alt is not None and _below_sea_level(tags.get("EXIF:GPSAltitudeRef")):
        alt = -abs(alt)
    if lat is None or lon is None:
        lat = _xmp_coordinate(tags.get("XMP:GPSLatitude"), tags.get("XMP:GPSLatitudeRef"), "latitude", "S", flags)
        lon = _xmp_coordinate(tags.get("XMP:GPSLongitude"), tags.get("XMP:GPSLongitudeRef"), "longitude", "W", flags)
        if alt is None and (xmp_alt := number(tags.get("XMP:GPSAltitude"))) is not None:
            alt = -abs(xmp_alt) if _below_sea_level(tags.get("XMP:GPSAltitudeRef")) else xmp_alt
    if lat is None or lon is None:
        coords = first(tags, "QuickTime:GPSCoordinates", "Composite:GPSPosition")
        parts = str(coords).replace(",", " ").split() if coords is not None else []
        if len(parts) >= 2:
            lat, lon = number(parts[0]), number(parts[1])
            if len(parts) >= 3 and alt is None:
                alt = number(parts[2])
    if lat is None or lon is None:
        lat, lon = number(tags.get("Composite:GPSLatitude")), number(tags.get("Composite:GPSLongitude"))
    for prefix in ("Takeout:GeoData", "Takeout:GeoDataExif"):
        if lat is None or lon is None or (lat == 0 and lon == 0):
            t_lat, t_lon = number(tags.get(prefix + "Latitude")), number(tags.get(prefix + "Longitude"))
            if t_lat is not None and t_lon is not None and (lat is None or (t_lat, t_lon) != (0, 0)):
                lat, lon, alt = t_lat, t_lon, number(tags.get(prefix + "Altitude"))
    if lat is None or lon is None:
        return None, None, alt, flags
    return lat, lon, alt, flags


def gps_from(tags: Mapping[str, Any]) -> tuple[float | None, float | None, float | None]:
    """(latitude, longitude, altitude_m) as read, or ``None`` parts (``gps_read`` without flags)."""
    return gps_read(tags)[:3]


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
    """Rating, title, description, keywords from XMP/IPTC/EXIF (or a Takeout sidecar's fields)."""
    description = text(first(tags, "XMP:Description", "IPTC:Caption-Abstract", "EXIF:ImageDescription",
                             "QuickTime:Description", "Takeout:Description"))
    if description and description.lower() in DESCRIPTION_PLACEHOLDERS:
        description = None
    keywords = keywords_from(tags)
    for name in tags.get("Takeout:People") or []:  # the people Google Photos recognised or the user named
        if (s := text(name)) and s not in keywords:
            keywords.append(s)
    return {
        "rating": integer(first(tags, "XMP:Rating", "EXIF:Rating")),
        "title": text(first(tags, "XMP:Title", "IPTC:ObjectName", "XMP:Headline", "QuickTime:Title")),
        "description": description,
        "keywords": keywords,
    }


# Make/Model tags in the order they are trusted; then any other group's (maker notes, CIFF, H.264 …).
MAKE_TAGS = ("EXIF:Make", "QuickTime:Make", "XMP:Make", "QuickTime:AndroidMake", "MakerNotes:Make", "H264:Make")
MODEL_TAGS = ("EXIF:Model", "QuickTime:Model", "XMP:Model", "QuickTime:AndroidModel", "MakerNotes:Model", "H264:Model")
# H.264 (AVCHD) stream make codes, from ExifTool's H264.pm (%H264::MDPM, tag 0xe0 Make PrintConv).
H264_MAKES = {0x0103: "Panasonic", 0x0108: "Sony", 0x1011: "Canon", 0x1104: "JVC"}


def camera_tag(tags: Mapping[str, Any], keys: tuple[str, ...], name: str) -> Any:
    """The first trusted ``Make``/``Model`` value, else the first of any other group; H.264
    make codes (numbers under ``-n``) are named."""
    value = first(tags, *keys)
    if value is None:
        value = first(tags, *(k for k in tags if k.endswith(":" + name) and not k.startswith("Takeout:")))
    if isinstance(value, int) and name == "Make":
        value = H264_MAKES.get(value, None)
    return value


def typed_values(tags: Mapping[str, Any], file_type: str, sidecar_tags: Mapping[str, Any] | None = None) -> dict:
    """The typed columns of the ``metadata`` table from ExifTool JSON (``-G -n``)."""
    make, model = normalise_camera(camera_tag(tags, MAKE_TAGS, "Make"), camera_tag(tags, MODEL_TAGS, "Model"))
    lat, lon, alt, gps_flags = gps_read(tags)
    width, height = displayed_size(tags, file_type)
    lens = first(tags, "EXIF:LensModel", "XMP:LensModel", "MakerNotes:LensModel", "XMP:Lens", "Composite:LensID")
    flags: list[str] = list(gps_flags)
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


# Tag names read from every group. A file whose family-0 tags hold one of them outside the groups
# below is read a second time by group (``GROUPED_ARGS``), so that the exact family-1 source
# ("PictureInfo:DateTimeOriginal", "Keys:CreationDate", "H264:DateTimeOriginal") is known and a
# tag present in several groups is seen in each.
GROUPED_TAG_NAMES = (*GROUPED_RANKS, "Make", "Model")
_PLAIN_GROUPS = ("EXIF", "XMP", "IPTC", "Composite", "File", "System", "ExifTool", "SourceFile")


def needs_grouped_read(tags: Mapping[str, Any]) -> bool:
    """Whether ``tags`` (family-0) hold a ``GROUPED_TAG_NAMES`` tag of a maker note, a
    QuickTime atom, an H.264 stream or another block beyond EXIF/XMP/IPTC."""
    return any(":" in k and k.split(":", 1)[0] not in _PLAIN_GROUPS and k.rsplit(":", 1)[1] in GROUPED_TAG_NAMES
               for k in tags)


def merge_grouped(tags: dict, grouped: Mapping[str, Any]) -> dict:
    """``tags`` plus the family-1 ``GROUPED_TAG_NAMES`` tags of ``grouped`` that it does not hold
    under the same name (family-0 keys are never replaced)."""
    extra = {k: v for k, v in grouped.items()
             if ":" in k and k.rsplit(":", 1)[1] in GROUPED_TAG_NAMES and k not in tags
             and not k.startswith(("System:", "File:"))}
    return {**tags, **extra}


_SESSIONS: dict[tuple, ExifToolSession] = {}


class MetadataStage(Stage):
    """Reads every file's tags with one long-lived ExifTool per worker process, in batches."""

    name = "metadata"
    version = 3
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

    def session(self, common_args: list[str] = COMMON_ARGS) -> ExifToolSession:
        key = (self.settings["exiftool_path"], float(self.settings["exiftool_timeout_s"]),
               self.settings["exiftool_config"], tuple(common_args))
        if key not in _SESSIONS:
            _SESSIONS[key] = ExifToolSession(*key[:3], common_args=common_args)
        return _SESSIONS[key]

    def run_batch(self, assets: Sequence[AssetView]) -> list[StageResult]:
        xmp = [a.sidecar for a in assets if a.sidecar and not is_takeout_name(a.sidecar)]
        docs: dict[bytes, Any] = self.session().read(list(dict.fromkeys([a.path for a in assets] + xmp)))
        grouped = [a.path for a in assets if isinstance(docs.get(a.path), dict) and needs_grouped_read(docs[a.path])]
        if grouped:
            for path, doc in self.session(GROUPED_COMMON_ARGS).read(grouped, GROUPED_ARGS).items():
                if isinstance(doc, dict):
                    docs[path] = merge_grouped(docs[path], doc)
        for a in assets:
            if a.sidecar and is_takeout_name(a.sidecar):
                docs[a.sidecar] = read_takeout(a.sidecar)
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
