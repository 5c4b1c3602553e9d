"""Writing XMP through ExifTool: one long-lived ``-stay_open`` process with Lumina's namespace
(``lumina_xmp.config``), used by ``lumina sidecars write``.

Only paths Lumina chose are given to ExifTool (files in a private temporary folder), so library
names with newlines or invalid UTF-8 never reach its argument lines. Values are passed with ``-E``
(HTML entities), so a description with newlines is one argument.

Lumina's namespace ``lumina`` (``http://ns.lumina-photos.org/xmp/1.0/``) holds, as text:
``LuminaAssetID`` (SHA-256 of the photo when written), ``LuminaStatus`` (active | rejected),
``LuminaCaptureTimeSource`` / ``LuminaGPSSource`` (``user`` when the value is a user override),
``LuminaDuplicateRole`` (keeper | duplicate), ``LuminaDuplicateKeeper`` (asset id of the group's
keeper), ``LuminaBurstRole`` (best | frame), ``LuminaBurstBest`` (asset id of the burst's best frame).
"""

from __future__ import annotations

import html
import re
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import exiftool

from lumina.errors import ExifToolError
from lumina.media.exiftool import _deadline, _Died, _Timeout, find_exiftool

CONFIG = Path(__file__).with_name("lumina_xmp.config")
NAMESPACE_URI = "http://ns.lumina-photos.org/xmp/1.0/"
LIST_TAGS = frozenset({"XMP-dc:Subject", "XMP-lr:HierarchicalSubject"})


def _arg_value(value: Any) -> str:
    return html.escape(str(value), quote=False).replace("\n", "&#xa;").replace("\r", "&#xd;")


class XmpWriter:
    """A long-lived ExifTool process that writes and reads XMP with Lumina's namespace.

    Args:
        executable: ExifTool command or path.
        timeout_s: longest wait for one request, seconds.
    Raises:
        ExifToolError: ExifTool is missing or cannot start.
    """

    def __init__(self, executable: str = "exiftool", timeout_s: float = 60.0):
        self.executable = find_exiftool(executable)
        self.timeout_s = timeout_s
        self._et: exiftool.ExifTool | None = None

    def _run(self, *args: str) -> tuple[str, str]:
        if self._et is None:
            et = exiftool.ExifTool(executable=self.executable, common_args=[], config_file=str(CONFIG))
            try:
                et.run()
            except (OSError, RuntimeError) as exc:
                raise ExifToolError(f"cannot start {self.executable}: {exc}") from exc
            self._et = et
        _deadline.at = time.monotonic() + self.timeout_s
        try:
            out = self._et.execute(*args)
        except (_Timeout, _Died, BrokenPipeError, OSError) as exc:
            self.close()
            raise ExifToolError(f"ExifTool failed while writing XMP: {type(exc).__name__}") from exc
        finally:
            _deadline.at = None
        return out, self._et.last_stderr

    def read(self, path: str) -> dict[str, Any]:
        """Tags of one file as ``{"Group1:Tag": value}`` (family-1 groups, ``-n`` values, lists kept).

        Raises:
            ExifToolError: ExifTool failed.
        """
        out, _ = self._run("-G1", "-n", "-j", "-struct", path)
        docs = json.loads(out) if out.strip() else []
        return docs[0] if docs else {}

    def write(self, path: str, assignments: Mapping[str, Any]) -> str | None:
        """Set tags in ``path`` (an XMP file, created when missing) in place.

        Args:
            assignments: ``"Group1:Tag"`` -> value; a list for list tags (replaces the list), ``None``
                deletes the tag.
        Returns:
            ExifTool's error text, or ``None`` on success.
        """
        args = ["-overwrite_original", "-n", "-E"]
        for tag, value in assignments.items():
            if value is None or value == []:
                args.append(f"-{tag}=")
            elif isinstance(value, (list, tuple)):
                args.extend(f"-{tag}={_arg_value(v)}" for v in value)
            else:
                args.append(f"-{tag}={_arg_value(value)}")
        out, err = self._run(*args, path)
        if "1 image files" not in out:
            return (err or out).strip().splitlines()[0] if (err or out).strip() else "ExifTool wrote nothing"
        return None

    def close(self) -> None:
        et, self._et = self._et, None
        if et is not None:
            try:
                et.terminate(timeout=2)
            except (OSError, ValueError):
                et._process.kill()

    def __enter__(self) -> XmpWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def normalise(tag: str, value: Any) -> Any:
    """A value as it compares after an ExifTool round trip: list tags as lists of str, numbers
    whole numbers as int, others rounded to 7 decimals (GPS is stored as degrees and decimal minutes), everything else as str."""
    if value is None:
        return None
    if tag in LIST_TAGS:
        items = value if isinstance(value, list) else [value]
        return [str(v) for v in items] or None
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else round(value, 7)
    return str(value)


def owned_values(tags: Mapping[str, Any], owned: Sequence[str]) -> dict[str, Any]:
    """The normalised values of the tags in ``owned`` (absent tags as ``None``)."""
    return {t: normalise(t, tags.get(t)) for t in owned}


# Where each tag Lumina writes lives in RDF: "Group1:Tag" -> (namespace URI, property name).
PROPERTIES = {
    "XMP-exif:DateTimeOriginal": ("http://ns.adobe.com/exif/1.0/", "DateTimeOriginal"),
    "XMP-exif:GPSLatitude": ("http://ns.adobe.com/exif/1.0/", "GPSLatitude"),
    "XMP-exif:GPSLongitude": ("http://ns.adobe.com/exif/1.0/", "GPSLongitude"),
    "XMP-exif:GPSAltitude": ("http://ns.adobe.com/exif/1.0/", "GPSAltitude"),
    "XMP-exif:GPSAltitudeRef": ("http://ns.adobe.com/exif/1.0/", "GPSAltitudeRef"),
    "XMP-photoshop:DateCreated": ("http://ns.adobe.com/photoshop/1.0/", "DateCreated"),
    "XMP-xmp:Rating": ("http://ns.adobe.com/xap/1.0/", "Rating"),
    "XMP-dc:Subject": ("http://purl.org/dc/elements/1.1/", "subject"),
    "XMP-dc:Title": ("http://purl.org/dc/elements/1.1/", "title"),
    "XMP-dc:Description": ("http://purl.org/dc/elements/1.1/", "description"),
    "XMP-lr:HierarchicalSubject": ("http://ns.adobe.com/lightroom/1.0/", "hierarchicalSubject"),
    **{f"XMP-lumina:{name}": (NAMESPACE_URI, name) for name in (
        "LuminaAssetID", "LuminaStatus", "LuminaCaptureTimeSource", "LuminaGPSSource", "LuminaDuplicateRole",
        "LuminaDuplicateKeeper", "LuminaBurstRole", "LuminaBurstBest")},
}
_XMLNS = re.compile(r"""xmlns:([A-Za-z_][\w.-]*)\s*=\s*(["'])(.*?)\2""")
_DESCRIPTION = re.compile(r"<rdf:Description\b.*?(?:/>|</rdf:Description>)", re.S)
_EMPTY_DESCRIPTION = re.compile(r"\n?[ \t]*<rdf:Description(?:\s+(?:rdf:about|xmlns:[\w.-]+)\s*=\s*(?:\"[^\"]*\"|'[^']*'))*"
                                r"\s*(?:/>|>\s*</rdf:Description>)\n?")


def splice(original: str, fresh: str, tags: Sequence[str]) -> str | None:
    """The original packet with the properties of ``tags`` taken out and the ``rdf:Description`` blocks
    of ``fresh`` (a packet ExifTool wrote with just the new values) put in before ``</rdf:RDF>``: every
    other byte of the original stays as it was. ``None`` when the packet is not one this can edit (the
    caller then keeps ExifTool's whole rewrite). The result must be read back and checked by the caller.
    """
    end = original.rfind("</rdf:RDF>")
    if end < 0 or "<rdf:RDF" not in original:
        return None
    prefixes: dict[str, set[str]] = {}
    for prefix, _, uri in _XMLNS.findall(original):
        prefixes.setdefault(uri, set()).add(prefix)
    head, tail = original[:end], original[end:]
    for tag in tags:
        uri, name = PROPERTIES[tag]
        for p in prefixes.get(uri, ()):
            q = re.escape(f"{p}:{name}")
            head = re.sub(rf"\s+{q}\s*=\s*(\"[^\"]*\"|'[^']*')", "", head)  # attribute form
            head = re.sub(rf"\n?[ \t]*<{q}(\s[^>]*)?/>", "", head)  # empty element
            head = re.sub(rf"\n?[ \t]*<{q}(\s[^>]*)?>.*?</{q}\s*>", "", head, flags=re.S)  # element form
    owned_uris = {uri for uri, _ in PROPERTIES.values()}
    for block in set(_EMPTY_DESCRIPTION.findall(head)):  # left empty by removals (now or in an earlier write)
        if {uri for _, _, uri in _XMLNS.findall(block)} <= owned_uris:
            head = head.replace(block, "")
    insert = "".join(f"\n {b}\n" for b in _DESCRIPTION.findall(fresh))
    return head.rstrip() + "\n" + insert + tail if insert else head + tail
