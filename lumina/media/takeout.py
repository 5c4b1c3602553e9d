"""Google Takeout sidecars: the JSON file Google Photos writes beside each exported photo.

Names (Takeout cuts the whole name at 51 characters, ``.json`` included):
``IMG_1234.jpg.json``, ``IMG_1234.jpg.supplemental-metadata.json`` and its cut forms
(``IMG_1234.jpg.supplemental-metad.json``), a cut photo name (``IMG_1234.j.json``,
``Very long name that goes on and on and on and o.json``), the copy number moved behind
the extension (``IMG_1234(1).jpg`` -> ``IMG_1234.jpg(1).json``), and an edited copy that shares
its original's file (``IMG_1234-edited.jpg`` -> ``IMG_1234.jpg.json``).

Content (the fields read; others are ignored)::

    {"title": "IMG_1234.jpg", "description": "…",
     "photoTakenTime": {"timestamp": "1570966380", "formatted": "…"},   # seconds since 1970, UTC
     "geoData": {"latitude": 48.85, "longitude": 2.29, "altitude": 35.0, …},
     "geoDataExif": {…}, "people": [{"name": "Alice"}]}

``read_takeout`` returns these as a flat dict named the way ExifTool's JSON reader names them,
under the group ``Takeout`` (``"Takeout:PhotoTakenTimeTimestamp"``, ``"Takeout:GeoDataLatitude"``),
values as written: checking them is the dates and geo stages' job, so that a bad value becomes a
rejected candidate with its reason and the rest of the file is still used.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from typing import Any

from lumina.errors import error_text

NAME_LIMIT = 51  # Takeout's longest sidecar name, ".json" included (observed in exports since 2023)
SUPPLEMENTAL = ".supplemental-metadata"
_COPY = re.compile(rb"^(?P<stem>.*)\((?P<n>\d+)\)(?P<ext>\.[^.]*)$")
_EDITED = b"-edited"  # Google Photos' English suffix of an edited copy


def _names_for(name: bytes) -> list[bytes]:
    """The photo names whose sidecar would describe ``name`` (the name itself first)."""
    names = [name]
    m = _COPY.match(name)
    if m:  # IMG_1234(1).jpg -> IMG_1234.jpg(1)
        names.append(m["stem"] + m["ext"] + b"(" + m["n"] + b")")
    stem, dot, ext = name.rpartition(b".")
    if dot and stem.endswith(_EDITED):
        names.append(stem[:-len(_EDITED)] + b"." + ext)
    return names


def takeout_sidecar_for(path: bytes, json_names: Iterable[bytes]) -> bytes | None:
    """The Takeout JSON file among ``json_names`` (base names in the photo's folder) for ``path``.

    Args:
        path: the photo's path (bytes).
        json_names: base names ending in ``.json`` (any case) in the same folder.
    Returns:
        The sidecar's path, or ``None``. An exact name wins over a supplemental one, which wins
        over a cut one; among cut names the longest wins.
    """
    folder, name = os.path.split(path)
    stems = {j[:-5]: j for j in json_names if j.lower().endswith(b".json")}
    for target in _names_for(name):
        if target in stems:
            return os.path.join(folder, stems[target])
        full = target + SUPPLEMENTAL.encode()
        cut = [s for s in stems if s.startswith(target + b".") and full.startswith(s)]
        if cut:
            return os.path.join(folder, stems[max(cut, key=len)])
    stem = name.rpartition(b".")[0] or name
    cut = [s for s in stems if name.startswith(s) and len(s) > len(stem)
           or len(s) + 5 >= NAME_LIMIT - 1 and name.startswith(s)]
    return os.path.join(folder, stems[max(cut, key=len)]) if cut else None


def flatten(doc: dict[str, Any]) -> dict[str, Any]:
    """The fields Lumina reads from a Takeout document, as ``"Takeout:<Field>"`` keys."""
    out: dict[str, Any] = {}
    for key in ("title", "description"):
        if key in doc:
            out[f"Takeout:{key.capitalize()}"] = doc[key]
    for key in ("photoTakenTime", "creationTime"):
        if isinstance(doc.get(key), dict) and "timestamp" in doc[key]:
            out[f"Takeout:{key[0].upper()}{key[1:]}Timestamp"] = doc[key]["timestamp"]
    for key, prefix in (("geoData", "GeoData"), ("geoDataExif", "GeoDataExif")):
        geo = doc.get(key)
        if isinstance(geo, dict):
            for field in ("latitude", "longitude", "altitude"):
                if field in geo:
                    out[f"Takeout:{prefix}{field.capitalize()}"] = geo[field]
    people = doc.get("people")
    if isinstance(people, list):
        out["Takeout:People"] = [p["name"] for p in people if isinstance(p, dict) and isinstance(p.get("name"), str)]
    return out


def read_takeout(path: bytes) -> dict[str, Any] | str:
    """The Takeout fields of a sidecar (see ``flatten``), or an error text
    ``"unreadable: …"`` or ``"invalid_value: …"`` when the file cannot be read or is not a Takeout JSON object."""
    try:
        with open(path, "rb") as f:
            doc = json.loads(f.read(4 * 1024 * 1024).decode("utf-8"))
    except OSError as exc:
        return error_text("unreadable", f"cannot read {os.fsdecode(os.path.basename(path))}: {exc.strerror}")
    except (UnicodeDecodeError, ValueError) as exc:
        return error_text("invalid_value", f"{os.fsdecode(os.path.basename(path))} is not JSON: {exc}")
    if not isinstance(doc, dict):
        return error_text("invalid_value", f"{os.fsdecode(os.path.basename(path))} is not a JSON object")
    tags = flatten(doc)
    if not tags:
        return error_text("invalid_value", f"{os.fsdecode(os.path.basename(path))} holds no Takeout fields")
    return tags


def is_takeout_name(name: bytes) -> bool:
    return name.lower().endswith(b".json")
