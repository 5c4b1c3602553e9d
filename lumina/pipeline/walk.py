"""Walk library folders safely: bytes paths (any file name), no hidden or NAS metadata folders,
no directory loops, dangling links and unreadable folders reported instead of raised."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Sequence
from typing import NamedTuple

from lumina.errors import error_text
from lumina.media.detect import by_extension

# Folders that hold NAS/OS metadata rather than photos (Synology, QNAP, Windows, macOS).
SKIP_DIRS = {b"@eaDir", b"#recycle", b"#snapshot", b"@Recycle", b"@Recently-Snapshot", b".@__thumb",
             b"$RECYCLE.BIN", b"System Volume Information", b"lost+found"}


class WalkEntry(NamedTuple):
    """A regular file found under a root (``st`` set), a failure (``error`` set), or an entry
    skipped on purpose (both set: ``error`` is the reason, ``"special_file: …"`` or ``"link_outside: …"``).
    A tuple, not a frozen dataclass: one is built per file on every scan, and a tuple builds several
    times faster."""

    path: bytes
    st: os.stat_result | None
    error: str | None = None


def _within(real: bytes, folders: Sequence[bytes]) -> bool:
    return any(real == f or real.startswith(f.rstrip(b"/") + b"/") for f in folders)


def _special_kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "a special file"


def is_catalog_folder(folder: bytes) -> bool:
    """A Lumina catalog folder (its ``catalog.db`` next to ``writer.lock`` or ``lumina.toml``).
    Walking into one would open its SQLite files in this process, and closing such a file drops
    the process's SQLite locks on it (POSIX advisory locks), which can corrupt a database in use."""
    return os.path.isfile(os.path.join(folder, b"catalog.db")) and (
        os.path.exists(os.path.join(folder, b"writer.lock")) or os.path.exists(os.path.join(folder, b"lumina.toml")))


def walk(root: bytes, skip: set[tuple[int, int]] | frozenset[tuple[int, int]] = frozenset(),
         inside: Sequence[bytes] | None = None) -> Iterator[WalkEntry]:
    """Yield every regular file below ``root``, following symbolic links to files and to folders
    not yet visited (loops are cut by remembering (device, inode) of each folder); Lumina catalog
    folders (``is_catalog_folder``) are never entered.

    Args:
        root: absolute folder path as bytes.
        skip: (device, inode) of folders never to enter (the catalog folder, however it is spelt).
        inside: real paths of the source folders: a link to a folder outside all of them is
            recorded as skipped (``"link_outside: …"``) and not followed; None follows every link.
    Yields:
        ``WalkEntry`` per file; failures carry ``"dangling_link: …"`` or ``"unreadable: …"``.
    """
    visited: set[tuple[int, int]] = set(skip)
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            st = os.stat(folder)
        except OSError as exc:
            yield WalkEntry(folder, None, error_text("unreadable", f"cannot stat folder: {exc.strerror}"))
            continue
        if (st.st_dev, st.st_ino) in visited:
            continue  # a directory loop or a second link to a folder already walked
        visited.add((st.st_dev, st.st_ino))
        if is_catalog_folder(folder):
            continue  # another Lumina catalog: its database must never be read as a photo
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            yield WalkEntry(folder, None, error_text("unreadable", f"cannot list folder: {exc.strerror}"))
            continue
        subfolders = []
        for entry in entries:
            name = entry.name
            if name.startswith(b".") or name in SKIP_DIRS:
                continue
            path = entry.path
            try:
                st = entry.stat()  # follows symbolic links
            except FileNotFoundError:
                if entry.is_symlink():
                    target = os.fsdecode(os.readlink(path))
                    yield WalkEntry(path, None, error_text("dangling_link", f"link target {target!r} does not exist"))
                else:
                    yield WalkEntry(path, None, error_text("vanished", "removed while the folder was listed"))
                continue
            except OSError as exc:
                kind = "dangling_link" if exc.errno == 40 else "unreadable"  # ELOOP: a link pointing at itself
                yield WalkEntry(path, None, error_text(kind, exc.strerror or str(exc)))
                continue
            if stat.S_ISDIR(st.st_mode):
                if inside is not None and entry.is_symlink() and not _within(os.path.realpath(path), inside):
                    target = os.fsdecode(os.readlink(path))
                    yield WalkEntry(path, st, f"link_outside: folder link to {target!r} leads out of every source "
                                              "folder; not followed (lumina scan --follow-links-outside follows it)")
                    continue
                subfolders.append(path)
            elif stat.S_ISREG(st.st_mode):
                yield WalkEntry(path, st)
            elif by_extension(os.fsdecode(name)) is not None:  # a FIFO, socket or device named like a photo
                yield WalkEntry(path, None, error_text("unreadable", "not a regular file (FIFO, socket or device)"))
            else:  # never opened (a FIFO would block a read forever): recorded as skipped, with the reason
                yield WalkEntry(path, st, f"special_file: {_special_kind(st.st_mode)}, not a regular file")
        stack.extend(reversed(subfolders))
