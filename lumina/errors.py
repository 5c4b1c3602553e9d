"""Errors raised by Lumina, and the error kinds recorded for bad files.

Exception tree (bugs and unusable set-ups raise; a bad photo is data, not an exception)::

    LuminaError
    ├── ConfigError        a setting or argument is invalid
    ├── CatalogError       the catalog cannot be opened, migrated or queried
    ├── MediaError         an external decoder or extractor is unusable
    │   └── ExifToolError  ExifTool is missing or keeps failing
    ├── StageError         a stage was asked to do something impossible
    └── RunError           the run cannot go on for a reason outside the photos (disk full, out of
        └── RunStopped     memory, catalog gone), or a signal stopped it; nothing is recorded
                           against an asset and the same command continues the work

A file that cannot be read or analysed never raises out of a scan: its file row or its
stage record gets an error string ``"<kind>: <message>"`` whose kind is one of
``ERROR_KINDS`` below, and ``lumina gaps`` counts failures by kind.
"""

from __future__ import annotations

import errno
import os
import sqlite3

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
    "empty": "the file has 0 bytes (each empty file is its own asset, never one shared by all of them)",
    "not_writable": "a file or folder Lumina was asked to write (sidecar, organise target) cannot be written",
    "invalid_xmp": "an existing XMP sidecar is not valid XMP; it was reported and left untouched",
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


RUN_ERROR_KINDS: dict[str, str] = {
    "disk_full": "no space left on the disk that holds the catalog or the temporary folder",
    "out_of_memory": "the machine ran out of memory (or a worker process was killed, e.g. by the OOM killer)",
    "catalog_unavailable": "the catalog folder or database vanished, became read-only or unreachable",
    "catalog_io_error": "the disk holding the catalog returned an I/O error",
    "database_lost": "the connection to the catalog database was lost",
    "stopped": "a signal (Ctrl-C, SIGTERM) stopped the run",
}


class RunError(LuminaError):
    """The run cannot go on for a reason that is not the photo's: ``kind`` is one of
    ``RUN_ERROR_KINDS``. Never recorded on an asset; the same command, run again once the cause is
    gone, finishes the work."""

    def __init__(self, kind: str, message: str):
        if kind not in RUN_ERROR_KINDS:
            raise ValueError(f"unknown run error kind {kind!r}")
        super().__init__(f"{kind}: {message}")
        self.kind, self.message = kind, message

    def __reduce__(self):  # crosses process boundaries (raised in pool workers)
        return (RunError, (self.kind, self.message))


class RunStopped(RunError):
    """A signal asked the run to stop; what was committed stays."""

    def __init__(self, message: str):
        super().__init__("stopped", message)

    def __reduce__(self):
        return (RunStopped, (self.message,))


# errno values that are the machine's state, never a photo's: the run stops instead of recording them
_DISK_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_CATALOG_GONE = {errno.ENOENT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.ESTALE, errno.ENOTCONN}


def run_error(exc: BaseException, catalog_dir: str | os.PathLike | None = None) -> RunError | None:
    """The ``RunError`` that ``exc`` stands for, or None when it may be the file's fault.

    Rules: ``MemoryError`` and ENOMEM are ``out_of_memory``; ENOSPC, EDQUOT and EFBIG are
    ``disk_full`` wherever they happen (reading a photo never fills a disk); an ``OSError`` on a path
    inside ``catalog_dir`` is ``catalog_io_error`` (EIO) or ``catalog_unavailable`` (missing,
    read-only, stale); SQLite errors (also wrapped by SQLAlchemy, as ``.orig``) are classified by
    SQLite's message (``"database or disk is full"``, ``"disk I/O error"``, ``"unable to open
    database file"``, ``"attempt to write a readonly database"``); a lost connection (SQLAlchemy's
    ``connection_invalidated``, or psycopg's ``OperationalError``: PostgreSQL down or unreachable)
    is ``database_lost``.
    """
    if isinstance(exc, RunError):
        return exc
    if isinstance(exc, MemoryError):
        return RunError("out_of_memory", "out of memory; close other programs or use fewer --workers, then "
                                         "run the same command again")
    if isinstance(exc, OSError) and exc.errno is not None:
        where = f" ({os.fsdecode(exc.filename)})" if exc.filename else ""
        if exc.errno in _DISK_FULL:
            return RunError("disk_full", f"{exc.strerror}{where}; free some space and run the same command again")
        if exc.errno == errno.ENOMEM:
            return RunError("out_of_memory", f"{exc.strerror}{where}; run the same command again with fewer --workers")
        if catalog_dir is not None and exc.filename is not None:
            inside = os.path.abspath(os.fsencode(exc.filename)).startswith(
                os.path.abspath(os.fsencode(catalog_dir)).rstrip(b"/") + b"/")
            if inside and exc.errno == errno.EIO:
                return RunError("catalog_io_error", f"{exc.strerror}{where}; check the catalog disk")
            if inside and exc.errno in _CATALOG_GONE:
                return RunError("catalog_unavailable", f"{exc.strerror}{where}; check the catalog folder")
    orig = getattr(exc, "orig", None) or exc
    # PostgreSQL: a connection the server dropped (restart, pg_terminate_backend, network) or a server
    # that cannot be reached any more (psycopg's OperationalError); the uncommitted batch is rolled
    # back by the server, so running the same command again redoes exactly it
    if getattr(exc, "connection_invalidated", False) or (
            type(orig).__module__.startswith("psycopg") and type(orig).__name__ == "OperationalError"):
        first = next((line.strip() for line in str(orig).splitlines() if line.strip()), type(orig).__name__)
        return RunError("database_lost", f"catalog database: {first}; once it is reachable again, run the "
                                         "same command again (nothing half-written was kept)")
    if isinstance(orig, sqlite3.Error):
        text = str(orig)
        low = text.lower()
        if "full" in low:
            return RunError("disk_full", f"catalog database: {text}; free some space and run the same command again")
        if "i/o error" in low:
            return RunError("catalog_io_error", f"catalog database: {text}; check the catalog disk")
        if "unable to open" in low or "readonly" in low or "no such table" in low:
            return RunError("catalog_unavailable", f"catalog database: {text}; check the catalog folder")
        if "out of memory" in low:
            return RunError("out_of_memory", f"catalog database: {text}")
    return None


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
