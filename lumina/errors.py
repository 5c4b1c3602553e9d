"""Errors raised by Lumina, and the error kinds recorded for bad files.

Exception tree (bugs and unusable set-ups raise; a bad photo is data, not an exception)::

    LuminaError
    ├── ConfigError        a setting or argument is invalid
    ├── CatalogError       the catalog cannot be opened, migrated or queried
    ├── MediaError         an external decoder or extractor is unusable
    │   └── ExifToolError  ExifTool is missing or keeps failing
    └── StageError         a stage was asked to do something impossible

A file that cannot be read or analysed never raises out of a scan: its file row or its
stage record gets an error string ``"<kind>: <message>"`` whose kind is one of
``ERROR_KINDS`` below, and ``lumina gaps`` counts failures by kind.
"""

from __future__ import annotations

ERROR_KINDS: dict[str, str] = {
    "dangling_link": "a symbolic link whose target does not exist",
    "unreadable": "the file exists but cannot be opened or read (permissions, I/O error)",
    "vanished": "the file disappeared between listing and reading",
    "exiftool_error": "ExifTool could not parse the file (format error, unknown type)",
    "exiftool_timeout": "ExifTool did not answer within exiftool_timeout_s for this file",
    "unsupported_format": "recognised as a photo or video, but no decoder handles it",
    "truncated": "the file ends before its image data does",
    "decode_error": "the decoder rejected the data (corrupt or fuzzed file)",
    "pixel_limit": "the image is larger than max_image_pixels",
    "invalid_value": "a metadata value was present but malformed or out of range",
    "model_error": "an embedding model file is missing, truncated or of the wrong shape (the stage is skipped)",
    "endpoint_error": "the description endpoint was down, too slow or answered garbage for this asset",
    "internal_error": "a bug in Lumina raised on this asset; the run went on (please report it)",
}


class LuminaError(Exception):
    """Base of every error Lumina raises on purpose."""


class ConfigError(LuminaError):
    """A setting, flag or argument is invalid."""


class CatalogError(LuminaError):
    """The catalog cannot be opened, migrated or queried."""


class MediaError(LuminaError):
    """An external media tool is unusable."""


class ExifToolError(MediaError):
    """ExifTool is missing, or failed in a way that retrying cannot fix."""


class StageError(LuminaError):
    """A stage was misused (unknown stage name, bad dependency)."""


class NotFoundError(CatalogError):
    """An id (asset, job, group, burst) that this catalog does not have."""


class ConflictError(LuminaError):
    """The request conflicts with the catalog's state (a job of that type is already queued or
    running; a write the library does not allow)."""


class JobCancelled(LuminaError):
    """The running job was cancelled; work committed so far stays."""


def error_text(kind: str, message: str) -> str:
    """Format a recorded error as ``"kind: message"``.

    Raises:
        ValueError: if ``kind`` is not one of ``ERROR_KINDS``.
    """
    if kind not in ERROR_KINDS:
        raise ValueError(f"unknown error kind {kind!r}; add it to lumina.errors.ERROR_KINDS")
    return f"{kind}: {message}"


def error_kind(text: str | None) -> str | None:
    """The kind of a recorded error string (the part before the first colon)."""
    if not text:
        return None
    return text.split(":", 1)[0].strip()
