"""Recognise photo and video files by extension or, failing that, by content (magic bytes).

Content sniffing uses the ``filetype`` library, plus the TIFF-based RAW signatures it does
not know. A file is an asset when either its extension or its content says photo/video;
everything else (text, PDFs, sidecars) is not an asset.
"""

from __future__ import annotations

from dataclasses import dataclass

import filetype

# extension -> (media kind, file type); file types are lowercase format names.
_PHOTO_EXT = {
    "jpg": "jpeg", "jpeg": "jpeg", "jpe": "jpeg", "jfif": "jpeg",
    "png": "png", "apng": "png", "tif": "tiff", "tiff": "tiff", "webp": "webp",
    "gif": "gif", "bmp": "bmp", "dib": "bmp",
    "heic": "heic", "heics": "heic", "heif": "heif", "hif": "heif", "avif": "avif",
    "jxl": "jxl", "psd": "psd", "jp2": "jpeg2000", "j2k": "jpeg2000",
}
# Common camera RAW extensions (ExifTool's supported RAW list, abridged to cameras people own).
_RAW_EXT = {
    "cr2", "cr3", "crw", "nef", "nrw", "arw", "srf", "sr2", "dng", "orf", "rw2", "raf",
    "pef", "ptx", "srw", "x3f", "erf", "kdc", "dcr", "mrw", "mef", "mos", "3fr", "fff",
    "iiq", "rwl", "raw", "gpr",
}
_VIDEO_EXT = {
    "mp4": "mp4", "m4v": "mp4", "mov": "mov", "qt": "mov", "3gp": "3gp", "3g2": "3gp",
    "avi": "avi", "mkv": "mkv", "webm": "webm", "mts": "mts", "m2ts": "mts", "mpg": "mpeg",
    "mpeg": "mpeg", "wmv": "wmv", "flv": "flv", "insv": "mp4", "lrv": "mp4",
}
SIDECAR_EXT = {"xmp"}

# filetype's extension names -> our file types
_SNIFFED = {
    "jpg": ("photo", "jpeg"), "png": ("photo", "png"), "apng": ("photo", "png"), "gif": ("photo", "gif"),
    "webp": ("photo", "webp"), "tif": ("photo", "tiff"), "bmp": ("photo", "bmp"), "heic": ("photo", "heic"),
    "avif": ("photo", "avif"), "jxl": ("photo", "jxl"), "psd": ("photo", "psd"), "cr2": ("photo", "raw"),
    "jxr": ("photo", "jxr"), "jpx": ("photo", "jpeg2000"),
    "mp4": ("video", "mp4"), "m4v": ("video", "mp4"), "mov": ("video", "mov"), "3gp": ("video", "3gp"),
    "avi": ("video", "avi"), "mkv": ("video", "mkv"), "webm": ("video", "webm"), "mpg": ("video", "mpeg"),
    "wmv": ("video", "wmv"), "flv": ("video", "flv"),
}
# Signatures filetype lacks: (offset, bytes, kind, type). Sources: ExifTool's file-type table.
_EXTRA_MAGIC = (
    (0, b"IIRO", "photo", "raw"),            # Olympus ORF
    (0, b"IIRS", "photo", "raw"),            # Olympus ORF (older)
    (0, b"IIU\x00", "photo", "raw"),         # Panasonic RW2
    (0, b"FUJIFILMCCD-RAW", "photo", "raw"),  # Fujifilm RAF
    (0, b"\x00MRM", "photo", "raw"),         # Minolta MRW
    (0, b"FOVb", "photo", "raw"),            # Sigma X3F
    (6, b"HEAPCCDR", "photo", "raw"),        # Canon CRW
    (4, b"ftypcrx ", "photo", "raw"),        # Canon CR3 (ISO-BMFF)
    (4, b"ftypheix", "photo", "heic"), (4, b"ftypmif1", "photo", "heif"), (4, b"ftypmsf1", "photo", "heif"),
    (4, b"ftyp", "video", "mp4"),            # any other ISO-BMFF brand: QuickTime/MP4 family
    (0, b"RIFF", "video", "avi"),            # RIFF container that is not WebP (checked after filetype)
    (0, b"\x1aE\xdf\xa3", "video", "mkv"),
)

SNIFF_BYTES = 64


@dataclass(frozen=True)
class MediaType:
    """What a file is. ``media_kind`` is ``"photo"`` or ``"video"``; ``file_type`` a format name
    such as ``"jpeg"``, ``"heic"``, ``"raw"``, ``"mp4"``; ``by`` is ``"extension"`` or ``"content"``."""

    media_kind: str
    file_type: str
    by: str


def by_extension(name: str) -> MediaType | None:
    """Classify a file name by its extension (case-insensitive); ``None`` if not a photo/video name."""
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext in _PHOTO_EXT:
        return MediaType("photo", _PHOTO_EXT[ext], "extension")
    if ext in _RAW_EXT:
        return MediaType("photo", "raw", "extension")
    if ext in _VIDEO_EXT:
        return MediaType("video", _VIDEO_EXT[ext], "extension")
    return None


def by_content(head: bytes) -> MediaType | None:
    """Classify the first ``SNIFF_BYTES`` bytes of a file; ``None`` if no photo/video signature."""
    kind = filetype.guess(head)
    if kind is not None and kind.extension in _SNIFFED:
        media_kind, file_type = _SNIFFED[kind.extension]
        return MediaType(media_kind, file_type, "content")
    for offset, magic, media_kind, file_type in _EXTRA_MAGIC:
        if head[offset:offset + len(magic)] == magic:
            return MediaType(media_kind, file_type, "content")
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):  # TIFF and BigTIFF, incl. TIFF-based RAW
        return MediaType("photo", "tiff", "content")
    return None


# Formats that share a container, so that a name of one and content of another is no mismatch:
# TIFF-based RAW files (CR2, NEF, ARW, DNG…) read as TIFF; HEIF brands; QuickTime/MP4 brands.
_FAMILY = {"raw": "tiff", "heif": "heic", "avif": "heic", "mov": "mp4", "3gp": "mp4", "mts": "mpeg"}


def content_mismatch(named: MediaType, sniffed: MediaType) -> bool:
    """True when a file's extension and its bytes name different formats (a ``.NEF`` that is a
    JPEG, a ``.heic`` that is a JPEG, a ``.jpg`` that is a PNG), not just two names of one
    container family (see ``_FAMILY``). An MPEG transport stream (``.mts``) has no signature
    in ``SNIFF_BYTES`` and is never a mismatch."""
    return _FAMILY.get(named.file_type, named.file_type) != _FAMILY.get(sniffed.file_type, sniffed.file_type)


def is_sidecar(name: str) -> bool:
    """True for XMP sidecar names (``photo.jpg.xmp`` or ``photo.xmp``)."""
    return name.rsplit(".", 1)[-1].lower() in SIDECAR_EXT if "." in name else False
