"""File copies that are verified before anything is removed: the one place that copies, renames and
removes library files for the trash, organise and sidecars.

Paths are bytes (``os.fsencode``), so any file name, valid UTF-8 or not, is carried over exactly.
"""

from __future__ import annotations

import hashlib
import os
import shutil

from lumina.errors import CatalogError

CHUNK_BYTES = 1 << 20
PART_SUFFIX = b".lumina-part"


def sha256_file(path: bytes | str, chunk_bytes: int = CHUNK_BYTES) -> str:
    """Lowercase SHA-256 hex of a file's bytes (the asset id of a photo).

    Raises:
        OSError: the file cannot be read.
    """
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk_bytes):
            h.update(block)
    return h.hexdigest()


def part_path(dst: bytes) -> bytes:
    """The hidden temporary name a copy is written under before it is renamed to ``dst``."""
    folder, name = os.path.split(dst)
    return os.path.join(folder, b"." + name + PART_SUFFIX)


def fsync_folder(folder: bytes) -> None:
    """Make a rename in ``folder`` durable (no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder or b".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def copy_verified(src: bytes, dst: bytes, expected_sha256: str, expected_size_bytes: int) -> os.stat_result:
    """Copy ``src`` to ``dst`` (data, mtime and mode), check size and SHA-256 of the copy, then rename
    it into place; ``dst`` never exists half-written (the copy goes to a hidden ``.NAME.lumina-part``
    first, fsync'ed).

    Args:
        expected_sha256: what the copy must hash to (the asset id, or the hash taken when planning).
        expected_size_bytes: what the copy's size must be.
    Returns:
        The stat of ``dst``.
    Raises:
        FileExistsError: ``dst`` exists already (never overwritten).
        CatalogError: the copy does not verify (it is removed; the source is untouched).
        OSError: reading or writing failed (no ``dst`` is left behind).
    """
    if os.path.lexists(dst):
        raise FileExistsError(17, "exists already", os.fsdecode(dst))
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    tmp = part_path(dst)
    try:
        with open(src, "rb") as fin, open(tmp, "wb") as fout:
            shutil.copyfileobj(fin, fout, CHUNK_BYTES)
            fout.flush()
            os.fsync(fout.fileno())
        shutil.copystat(src, tmp)
        size, digest = os.path.getsize(tmp), sha256_file(tmp)
        if size != expected_size_bytes or digest != expected_sha256:
            raise CatalogError(f"the copy of {os.fsdecode(src)} does not verify (size {size} bytes, "
                               f"SHA-256 {digest[:12]}…, expected {expected_size_bytes} bytes, "
                               f"{expected_sha256[:12]}…); the original was left in place")
        if os.path.lexists(dst):
            raise FileExistsError(17, "exists already", os.fsdecode(dst))
        os.rename(tmp, dst)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_folder(os.path.dirname(dst))
    return os.stat(dst)


def remove_verified(path: bytes, copy: bytes, sha256: str) -> None:
    """Remove ``path`` once its copy ``copy`` is confirmed present with the same SHA-256.

    Raises:
        CatalogError: the copy is missing or differs (nothing is removed).
        OSError: the removal failed.
    """
    if not os.path.isfile(copy) or sha256_file(copy) != sha256:
        raise CatalogError(f"{os.fsdecode(path)} was not removed: its copy {os.fsdecode(copy)} is missing or differs")
    os.unlink(path)
    fsync_folder(os.path.dirname(path))


def writable_folder(folder: bytes) -> str | None:
    """Why files cannot be created in ``folder`` (created if missing), or ``None`` when they can.
    Tries a real file, since permission bits do not tell read-only mounts or ACLs."""
    try:
        os.makedirs(folder, exist_ok=True)
        probe = os.path.join(folder, b".lumina-write-probe-%d" % os.getpid())
        with open(probe, "wb"):
            pass
        os.unlink(probe)
    except OSError as exc:
        return exc.strerror or str(exc)
    return None
