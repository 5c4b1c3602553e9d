"""Fallback EXIF reading for HEIF files whose Exif item ExifTool cannot parse.

Some writers store the JPEG APP1 marker and length (``FF E1 nn nn``) in front of ``Exif\\0\\0`` in
the HEIF Exif item; ExifTool 12 then reports no EXIF at all. The item is read with pillow-heif,
the marker cut off, and the IFD0 and Exif-IFD tags parsed with Pillow, named as ExifTool names them.
"""

from __future__ import annotations

import os

from PIL import ExifTags, Image
from PIL.TiffImagePlugin import IFDRational

from lumina.media.decode import repair_exif

# Pillow's tag names that ExifTool spells differently
_EXIFTOOL_NAMES = {"DateTime": "ModifyDate", "DateTimeDigitized": "CreateDate", "ISOSpeedRatings": "ISO"}


def heif_exif_tags(path: bytes) -> tuple[dict[str, object], bool]:
    """(``{"EXIF:Tag": value}``, repaired) from a HEIF file's Exif item; ``({}, False)`` if none."""
    import pillow_heif

    try:
        heif = pillow_heif.open_heif(os.fsdecode(path), convert_hdr_to_8bit=True)
        blob, repaired = repair_exif(heif.info.get("exif"))
        if not blob:
            return {}, False
        exif = Image.Exif()
        exif.load(blob)
    except (ValueError, OSError, SyntaxError, RuntimeError):
        return {}, False
    tags: dict[str, object] = {}
    for ifd in (exif, exif.get_ifd(ExifTags.IFD.Exif)):
        for tag_id, value in ifd.items():
            name = ExifTags.TAGS.get(tag_id)
            if name is None or name == "ExifOffset" or isinstance(value, (bytes, dict, tuple)):
                continue
            name = _EXIFTOOL_NAMES.get(name, name)
            tags[f"EXIF:{name}"] = value.strip("\x00 ") if isinstance(value, str) else (
                float(value) if isinstance(value, IFDRational) else value)
    return tags, repaired
