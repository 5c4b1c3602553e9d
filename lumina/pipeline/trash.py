"""One trash for every command that removes files (``duplicates resolve --trash``, ``bursts apply
--trash``, ``organise --rejected trash``, the backups of ``sidecars write --into-originals``).

A file goes to the trash as a verified copy (size + SHA-256, ``lumina.media.fileops``) in the trash
folder, recorded with its original path in the catalog (``trash_entries``); only then is the original
removed and its catalog row marked ``missing``. ``restore`` copies it back the same way; ``empty``
deletes the trash copies. A photo's XMP sidecar goes with it (unless another present file uses it).

Trash folder: ``trash_dir`` (default ``<catalog>/trash``), or the folder a command is given. Entries
are flat files ``<YYYYmmddTHHMMSS>-<sha256[:8]>-<name>`` so that names never collide.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from lumina.catalog.db import Catalog
from lumina.catalog.models import FileInstance, TrashEntry
from lumina.errors import CatalogError, ConfigError, NotFoundError
from lumina.media.fileops import copy_verified, fsync_folder, sha256_file, writable_folder
from lumina.pipeline.scan import display, now


def trash_folder(catalog: Catalog, folder: str | os.PathLike | None = None) -> bytes:
    """The trash folder as absolute bytes: ``folder`` if given, else ``trash_dir``, else
    ``<catalog>/trash``; created and checked for writing.

    Raises:
        ConfigError: the folder cannot be created or written.
    """
    chosen = folder or catalog.settings.get("trash_dir") or os.path.join(catalog.path, "trash")
    path = os.path.abspath(os.fsencode(os.path.expanduser(os.fsdecode(chosen))))
    why = writable_folder(path)
    if why:
        raise ConfigError(f"cannot use trash folder {display(path)}: {why}")
    return path


def _entry_doc(e: TrashEntry) -> dict[str, Any]:
    return {"id": e.id, "asset_id": e.asset_id, "original_path": e.original_path,
            "trash_path": display(e.trash_path_bytes), "size_bytes": e.size_bytes, "sha256": e.sha256,
            "reason": e.reason, "status": e.status, "trashed_at": e.trashed_at.isoformat() + "Z",
            "restored_at": e.restored_at.isoformat() + "Z" if e.restored_at else None}


def trash_paths(catalog: Catalog, paths: Sequence[bytes | str], reason: str,
                folder: str | os.PathLike | None = None, with_sidecars: bool = True) -> list[dict[str, Any]]:
    """Move files into the trash: verified copy, entry recorded, original removed, catalog row ``missing``.

    Args:
        paths: library files (bytes or str paths).
        reason: what removed them, shown by ``lumina trash list`` (``"duplicates resolve group 12"``).
        folder: a trash folder other than the catalog's.
        with_sidecars: also trash each photo's XMP sidecar when no other present file uses it.
    Returns:
        One entry document per trashed file (``id``, ``original_path``, ``trash_path``, ...).
    Raises:
        ConfigError: unusable trash folder. CatalogError: a copy does not verify (that original stays;
        files trashed before it stay trashed and recorded).
    """
    target = trash_folder(catalog, folder)
    out = []
    with catalog.writer(exclusive=True), catalog.session() as s:
        for raw in paths:
            path = os.path.abspath(os.fsencode(raw))
            row = s.scalar(select(FileInstance).where(FileInstance.path_bytes == path))
            out.append(_trash_one(s, path, row, target, reason))
            sidecar = row.sidecar_path_bytes if row is not None else None
            if with_sidecars and sidecar and os.path.isfile(sidecar) and not s.scalar(
                    select(FileInstance.id).where(FileInstance.sidecar_path_bytes == sidecar,
                                                  FileInstance.status == "present")):
                out.append(_trash_one(s, sidecar, None, target, f"{reason} (sidecar)"))
    return out


def _trash_one(s, path: bytes, row: FileInstance | None, target: bytes, reason: str) -> dict[str, Any]:
    st = os.stat(path)
    known = (row is not None and row.asset_id and row.size_bytes == st.st_size and row.mtime_ns == st.st_mtime_ns)
    digest = row.asset_id if known else sha256_file(path)  # the catalog's hash when the file is unchanged
    stamp = now().strftime("%Y%m%dT%H%M%S").encode()
    name = os.path.basename(path)
    dst = os.path.join(target, b"%s-%s-%s" % (stamp, digest[:8].encode(), name))
    n = 1
    while os.path.lexists(dst):
        dst = os.path.join(target, b"%s-%s-%d-%s" % (stamp, digest[:8].encode(), n, name))
        n += 1
    copy_verified(path, dst, digest, st.st_size)
    entry = TrashEntry(asset_id=row.asset_id if row is not None else None, original_path_bytes=path,
                       original_path=display(path), trash_path_bytes=dst, size_bytes=st.st_size, sha256=digest,
                       mtime_ns=st.st_mtime_ns, reason=reason, status="trashed", trashed_at=now())
    s.add(entry)
    s.commit()  # recorded before the original goes: a crash here leaves a copy too many, never none
    os.unlink(path)
    fsync_folder(os.path.dirname(path))
    if row is not None:
        row.status, row.error = "missing", f"trashed: trash entry {entry.id}"
    s.commit()
    return _entry_doc(entry)


def list_trash(catalog: Catalog, status: str | None = "trashed") -> list[dict[str, Any]]:
    """Trash entries, newest first; ``status=None`` lists restored and emptied ones too."""
    with catalog.session() as s:
        q = select(TrashEntry).order_by(TrashEntry.id.desc())
        if status:
            q = q.where(TrashEntry.status == status)
        return [_entry_doc(e) for e in s.scalars(q)]


def _entries(s, ids: Sequence[int] | None) -> list[TrashEntry]:
    q = select(TrashEntry).where(TrashEntry.status == "trashed").order_by(TrashEntry.id)
    if ids:
        q = q.where(TrashEntry.id.in_(list(ids)))
    found = list(s.scalars(q))
    missing = set(ids or ()) - {e.id for e in found}
    if missing:
        raise NotFoundError(f"no trashed entry {', '.join(map(str, sorted(missing)))}; see `lumina trash list`")
    return found


def restore(catalog: Catalog, ids: Sequence[int] | None = None) -> list[dict[str, Any]]:
    """Copy trashed files back to their original paths (verified), then delete the trash copies.

    Args:
        ids: entry ids; ``None`` or empty restores every trashed entry.
    Returns:
        The restored entries.
    Raises:
        NotFoundError: an id that is not a trashed entry. CatalogError: an original path is taken
        again (nothing is overwritten) or a copy does not verify; entries before it stay restored.
    """
    out = []
    with catalog.writer(exclusive=True), catalog.session() as s:
        for e in _entries(s, ids):
            if os.path.lexists(e.original_path_bytes):
                raise CatalogError(f"cannot restore trash entry {e.id}: {e.original_path} exists again; "
                                   "move it away first (nothing was overwritten)")
            st = copy_verified(e.trash_path_bytes, e.original_path_bytes, e.sha256, e.size_bytes)
            e.status, e.restored_at = "restored", now()
            row = s.scalar(select(FileInstance).where(FileInstance.path_bytes == e.original_path_bytes))
            if row is not None and e.asset_id:  # the catalog follows: same asset, present again
                row.status, row.error, row.asset_id = "present", None, e.asset_id
                row.size_bytes, row.mtime_ns, row.inode, row.device = st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev
            s.commit()
            os.unlink(e.trash_path_bytes)
            out.append(_entry_doc(e))
    return out


def empty(catalog: Catalog, ids: Sequence[int] | None = None, older_than_days: float | None = None,
          dry_run: bool = False) -> list[dict[str, Any]]:
    """Delete trash copies for good (all trashed entries, the given ids, or those older than a number of days);
    with ``dry_run`` only return the entries that would go.

    Raises:
        NotFoundError: an id that is not a trashed entry.
    """
    if older_than_days is not None and older_than_days < 0:
        raise ConfigError("--older-than-days must be 0 or more")
    out = []
    with catalog.writer(exclusive=True), catalog.session() as s:
        limit = now() - timedelta(days=older_than_days) if older_than_days is not None else None
        for e in _entries(s, ids):
            if limit is not None and e.trashed_at > limit:
                continue
            if dry_run:
                out.append(_entry_doc(e))
                continue
            try:
                os.unlink(e.trash_path_bytes)
            except FileNotFoundError:
                pass
            e.status, e.emptied_at = "emptied", now()
            s.commit()
            out.append(_entry_doc(e))
    return out
