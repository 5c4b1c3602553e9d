"""Incremental scan: register sources, walk them, record file instances and assets, then run
the stages that are missing or stale.

An unchanged file (same size, mtime_ns and inode as recorded) is only stat'ed: it is neither
read nor sent to ExifTool, and its row is not written (``files.last_seen_scan`` is the scan that last
recorded the file; a present file under a scan's roots was seen by that scan, or it would be
``missing``). A new or changed file is hashed (SHA-256 = asset_id); a moved or
renamed file therefore finds its asset again and keeps its analysis. Files not seen under a
scanned root are marked ``missing``, never deleted. A file modified less than ``settle_s``
ago, or whose size/mtime changes while it is read, is ``unsettled`` and left for a later scan.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, NamedTuple

from sqlalchemy import select, update

from lumina.catalog.db import Catalog
from lumina.catalog.models import Asset, FileInstance, Scan, Source
from lumina.errors import ConfigError, error_text, run_error
from lumina.media.detect import SNIFF_BYTES, MediaType, by_content, by_extension, content_mismatch, is_sidecar
from lumina.media.takeout import is_takeout_name, takeout_sidecar_for
from lumina.pipeline.stopping import STOP, check_stop
from lumina.pipeline.walk import WalkEntry, walk

Progress = Callable[[str, int, int | None], None]  # (phase, done, total or None)


def now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def display(path: bytes) -> str:
    """A printable form of a path (invalid UTF-8 bytes as backslash escapes)."""
    return path.decode("utf-8", "backslashreplace")


@dataclass
class ScanCounts:
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    missing: int = 0
    failed: int = 0
    unsettled: int = 0
    ignored: int = 0
    bytes_read: int = 0
    stages: dict = field(default_factory=dict)
    sidecar_decisions: dict = field(default_factory=dict)  # taken back from sidecars (lumina.pipeline.sidecars)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


class _Prev(NamedTuple):  # a tuple, not a frozen dataclass: built once per catalogued file on every scan
    id: int
    size: int | None
    mtime_ns: int | None
    inode: int | None
    asset_id: str | None
    status: str
    sidecar_signature: str | None


class KnownAssets:
    """The catalog's asset ids, read on the first question (an unchanged rescan asks none)."""

    def __init__(self, session):
        self.session, self.ids = session, None

    def __contains__(self, asset_id: str) -> bool:
        if self.ids is None:
            self.ids = set(self.session.scalars(select(Asset.asset_id)))
        return asset_id in self.ids

    def add(self, asset_id: str) -> None:
        if self.ids is not None:
            self.ids.add(asset_id)


def _hash_file(path: bytes, chunk: int) -> tuple[str, int, os.stat_result]:
    """SHA-256 hex, bytes read, and the stat taken after reading (to detect writers)."""
    h = hashlib.sha256()
    n = 0
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
            n += len(block)
        st = os.fstat(f.fileno())
    return h.hexdigest(), n, st


def empty_asset_id(path: bytes) -> str:
    """The asset id of a 0-byte photo file: SHA-256 of ``b"empty file:" + path`` (64 hex digits),
    so that each empty file is its own asset with its own ``empty`` failures, never one asset shared
    by every empty file of the library (they would all have the SHA-256 of nothing)."""
    return hashlib.sha256(b"empty file:" + path).hexdigest()


def _sniff(path: bytes) -> MediaType | None:
    with open(path, "rb") as f:
        return by_content(f.read(SNIFF_BYTES))


def _sidecar_for(path: bytes, sidecars: dict[bytes, os.stat_result],
                 json_names: dict[bytes, list[bytes]]) -> bytes | None:
    """``name.ext.xmp`` first, then ``name.xmp`` (either case of the xmp extension), then a
    Google Takeout JSON file (``lumina.media.takeout``): one sidecar per photo, an XMP file
    (what an editor wrote) before a cloud export's JSON."""
    stem = path.rsplit(b".", 1)[0] if b"." in os.path.basename(path) else path
    for candidate in (path + b".xmp", path + b".XMP", stem + b".xmp", stem + b".XMP"):
        if candidate in sidecars and candidate != path:
            return candidate
    names = json_names.get(os.path.dirname(path))
    return takeout_sidecar_for(path, names) if names else None


def scan(catalog: Catalog, roots: Sequence[str | os.PathLike], *, force: Any = False,
         retry_failed: bool = False, run_stages: bool = True, progress: Progress | None = None,
         reporter: Any = None, files: Sequence[bytes] | None = None,
         follow_links_outside: bool = False) -> ScanCounts:
    """Scan library folders into the catalog and run the stages that are due.

    Args:
        roots: library folders (registered as sources).
        force: re-run every stage on every asset (a time: every result finished before it, see
            ``lumina.pipeline.runner``).
        retry_failed: re-run stages whose record is ``failed``.
        run_stages: False to only register files (used by benchmarks and tests).
        progress: callback ``(phase, done, total)``.
        reporter: a job's ``lumina.pipeline.runner.Reporter``.
        files: only these paths under the roots (``lumina watch``): each is registered, or marked
            ``missing`` when it no longer exists; nothing else is walked or marked.
        follow_links_outside: follow links to folders outside every source folder (default: they
            are recorded as skipped, ``link_outside``).
    Returns:
        Counts of what the scan found and did; ``stages`` holds per-stage counts.
    Raises:
        ConfigError: if a root is not a folder or is inside the catalog.
        CatalogError: another scan is writing to this catalog.
    """
    with catalog.writer():
        return _scan(catalog, roots, force, retry_failed, run_stages, progress, reporter, files, follow_links_outside)


def _given(files: Sequence[bytes], root_paths: list[bytes]) -> Iterator[tuple[bytes, WalkEntry]]:
    """(root, entry) for each given file that still exists under a root, and its sidecars."""
    for path in dict.fromkeys(os.path.abspath(f) for f in files):
        root = max((r for r in root_paths if path.startswith(r.rstrip(b"/") + b"/")), key=len, default=None)
        if root is None:
            continue
        stem = path.rsplit(b".", 1)[0] if b"." in os.path.basename(path) else path
        for p in (path, path + b".xmp", path + b".XMP", stem + b".xmp", stem + b".XMP"):
            try:
                st = os.stat(p)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                yield root, WalkEntry(p, st)


def _scan(catalog: Catalog, roots, force: Any, retry_failed: bool, run_stages: bool,
          progress: Progress | None, reporter: Any, files: Sequence[bytes] | None = None,
          follow_links_outside: bool = False) -> ScanCounts:
    from lumina.pipeline.runner import run_pipeline  # the runner imports scan's helpers

    settings = catalog.settings
    settle_ns = int(float(settings["settle_s"]) * 1e9)
    chunk = int(settings["hash_chunk_bytes"])
    counts = ScanCounts()
    root_paths = check_roots(roots, catalog.path, allow_system=True)  # refused, or forced, where they were given
    cat_st = os.stat(catalog.path)

    with catalog.session() as s:
        scan_started = now()
        scan_row = Scan(started_at=scan_started, roots=[display(p) for p in root_paths], counts={})
        s.add(scan_row)
        sources = {}
        for p in root_paths:
            src = s.scalar(select(Source).where(Source.path_bytes == p))
            if src is None:
                src = Source(path_bytes=p, path=display(p), added_at=now())
                s.add(src)
            src.last_scan_at = now()
            sources[p] = src
        s.commit()
        scan_id = scan_row.id
        prev = {r[0]: _Prev._make(r[1:]) for r in s.execute(select(  # plain tuples: no named access per file
            FileInstance.path_bytes, FileInstance.id, FileInstance.size_bytes, FileInstance.mtime_ns,
            FileInstance.inode, FileInstance.asset_id, FileInstance.status, FileInstance.sidecar_signature))}
        known_assets = KnownAssets(s)

        # 1. walk: cheap (stat only)
        entries: list[tuple[bytes, WalkEntry]] = []
        sidecars: dict[bytes, os.stat_result] = {}
        json_names: dict[bytes, list[bytes]] = {}  # folder -> names of its JSON files (Takeout sidecars)
        inside = None if follow_links_outside else [os.path.realpath(p)  # every source: links between them are fine
                                                    for p in s.scalars(select(Source.path_bytes))]
        found = (_given(files, root_paths) if files is not None else
                 ((root, e) for root in root_paths for e in walk(root, skip={(cat_st.st_dev, cat_st.st_ino)}, inside=inside)))
        for root, e in found:
            check_stop()  # nothing written yet: stop at once
            if e.st is not None and e.error is None and is_sidecar(os.path.basename(e.path).decode("utf-8", "replace")):
                sidecars[e.path] = e.st
                continue
            if e.st is not None and e.error is None and is_takeout_name(e.path):  # also an ordinary (ignored) file
                sidecars[e.path] = e.st
                json_names.setdefault(os.path.dirname(e.path), []).append(os.path.basename(e.path))
            entries.append((root, e))
            if progress and len(entries) % 500 == 0:
                progress("walk", len(entries), None)

        # 2. register new/changed files; stat-only for unchanged ones
        seen: set[bytes] = set()
        pending = 0
        for i, (root, e) in enumerate(entries):
            if STOP.is_set():  # keep every file registered so far; the next run stats them as unchanged
                s.commit()
                check_stop()
            if e.path in seen:  # reached twice (a link into an already walked folder)
                continue
            seen.add(e.path)
            if progress and i % 200 == 0:
                progress("files", i, len(entries))
            old = prev.get(e.path)
            sidecar = _sidecar_for(e.path, sidecars, json_names) \
                if sidecars and e.st is not None and not is_takeout_name(e.path) else None
            sidecar_sig = f"{sidecars[sidecar].st_size}:{sidecars[sidecar].st_mtime_ns}" if sidecar else None
            if e.error is not None and e.st is not None:  # skipped on purpose (a FIFO, a link out of the sources)
                counts.ignored += 1
                _upsert_file(s, old, sources[root].id, e.path, None, "ignored", e.error, None, None, scan_id)
                continue
            if e.error is not None:
                counts.failed += 1
                _upsert_file(s, old, sources[root].id, e.path, None, "failed", e.error, None, None, scan_id)
                continue
            st = e.st
            if (old is not None and old.status in ("present", "ignored") and old.size == st.st_size
                    and old.mtime_ns == st.st_mtime_ns and old.inode == st.st_ino):
                if old.status == "ignored":
                    counts.ignored += 1
                else:
                    counts.unchanged += 1
                if old.sidecar_signature != sidecar_sig:
                    s.execute(update(FileInstance).where(FileInstance.id == old.id).values(
                        sidecar_path_bytes=sidecar, sidecar_signature=sidecar_sig))
                continue
            counts.new += old is None
            counts.changed += old is not None and old.status not in ("unsettled", "failed")
            row = _register(s, e, old, sources[root].id, scan_id, settle_ns, chunk, known_assets, counts)
            if row is not None:
                row.sidecar_path_bytes, row.sidecar_signature = sidecar, sidecar_sig
            pending += 1
            if pending % 500 == 0:
                s.commit()
        if progress:
            progress("files", len(entries), len(entries))

        # 3. files no longer on disk under the scanned roots
        candidates = ((p, prev[p]) for p in map(os.path.abspath, files) if p in prev) if files is not None \
            else prev.items()
        gone = [old.id for path, old in candidates
                if path not in seen and old.status != "missing"
                and any(path.startswith(r.rstrip(b"/") + b"/") for r in root_paths)]
        for i in range(0, len(gone), 900):
            s.execute(update(FileInstance).where(FileInstance.id.in_(gone[i:i + 900])).values(status="missing"))
        counts.missing = len(gone)
        s.commit()

    if run_stages:
        counts.stages = run_pipeline(catalog, force=force, retry_failed=retry_failed, progress=progress,
                                     reporter=reporter)
        from lumina.pipeline.sidecars import restore_decisions  # decisions in sidecars of another catalog

        counts.sidecar_decisions = restore_decisions(catalog, since=scan_started)
        from lumina.analysis.gaps import update_summary  # the gap report reads the stage graph

        update_summary(catalog)  # the assets this scan changed, so that `lumina gaps` reads a current summary
    with catalog.session() as s:
        row = s.get(Scan, scan_id)
        row.finished_at = now()
        row.counts = counts.as_dict()
        s.commit()
    return counts


# Folders that hold no photo library, only the system (pseudo-files that never end, device nodes,
# configuration): scanning them hangs or reads nothing useful. "/" itself, and these with all below.
SYSTEM_FOLDERS = (b"/proc", b"/sys", b"/dev", b"/etc", b"/run", b"/boot")


def is_system_folder(path: bytes) -> bool:
    """Whether ``path`` (resolved) is ``/`` or at or below one of ``SYSTEM_FOLDERS``."""
    real = os.path.realpath(path)
    return real == b"/" or any(real == s or real.startswith(s + b"/") for s in SYSTEM_FOLDERS)


def check_roots(roots: Sequence[str | os.PathLike], catalog_dir: str | os.PathLike,
                allow_system: bool = False) -> list[bytes]:
    """Absolute library folders, without duplicates or folders inside another given one.

    Args:
        allow_system: accept ``/`` and system folders (``is_system_folder``), refused otherwise.
    Raises:
        ConfigError: a root is not a folder, is (inside) the catalog folder, or is a system folder.
    """
    catalog_real = os.path.realpath(os.fsencode(catalog_dir))
    out: list[bytes] = []
    for r in roots:
        p = os.path.abspath(os.fsencode(r))
        if not os.path.isdir(p):
            raise ConfigError(f"{display(p)} is not a folder")
        if not allow_system and is_system_folder(p):
            raise ConfigError(f"{display(p)} is a system folder, not a photo library; give the folders that hold "
                              "the photos (or pass --allow-system-folder if you really mean it)")
        real = os.path.realpath(p)
        if real == catalog_real or real.startswith(catalog_real + b"/"):
            raise ConfigError(f"{display(p)} is the catalog folder or inside it; scan the library, not the catalog")
        out.append(p)
    keep: list[bytes] = []
    for p in dict.fromkeys(out):
        real = os.path.realpath(p)
        if any(real == os.path.realpath(q) or real.startswith(os.path.realpath(q).rstrip(b"/") + b"/") for q in keep):
            continue  # already covered by another root
        keep = [q for q in keep if not os.path.realpath(q).startswith(real.rstrip(b"/") + b"/")]
        keep.append(p)
    return keep


def _upsert_file(s, old: _Prev | None, source_id: int, path: bytes, st: os.stat_result | None, status: str,
                 error: str | None, asset_id: str | None, warnings: list | None, scan_id: int) -> FileInstance:
    row = s.get(FileInstance, old.id) if old is not None else None
    if row is None:
        row = FileInstance(source_id=source_id, path_bytes=path, path=display(path), first_seen_at=now())
        s.add(row)
    row.status, row.error, row.asset_id, row.last_seen_scan = status, error, asset_id, scan_id
    row.size_bytes = st.st_size if st else None
    row.mtime_ns = st.st_mtime_ns if st else None
    row.inode = st.st_ino if st else None
    row.device = st.st_dev if st else None
    row.warnings = warnings or []
    return row


def _register(s, e: WalkEntry, old: _Prev | None, source_id: int, scan_id: int, settle_ns: int, chunk: int,
              known_assets: KnownAssets, counts: ScanCounts) -> FileInstance | None:
    """Classify, hash and record one new or changed file; returns its row."""
    st = e.st
    warnings = []
    try:
        e.path.decode("utf-8")
    except UnicodeDecodeError:
        warnings.append("undecodable_name: the file name is not valid UTF-8; shown with escapes")
    age_ns = time.time_ns() - st.st_mtime_ns
    if age_ns < -settle_ns:  # a clock set wrong when the file was written: waiting would never end
        warnings.append("mtime_in_future: the modification time is later than now")
    elif age_ns < settle_ns:
        counts.unsettled += 1
        return _upsert_file(s, old, source_id, e.path, st, "unsettled", "modified moments ago; waiting for it to settle",
                            None, warnings, scan_id)
    try:
        named = by_extension(os.path.basename(e.path).decode("utf-8", "replace"))
        sniffed = _sniff(e.path)
        kind = named or sniffed
        if named is not None and sniffed is not None and content_mismatch(named, sniffed):
            kind = sniffed  # the bytes decide: a .NEF that is a JPEG is decoded as a JPEG
            warnings.append(f"extension_mismatch: the name says {named.file_type}, the content is {sniffed.file_type}")
        if kind is None:
            counts.ignored += 1
            return _upsert_file(s, old, source_id, e.path, st, "ignored", None, None, warnings, scan_id)
        if st.st_size == 0:  # no content to identify it (every empty file has the same SHA-256): an asset of
            digest, n, after = empty_asset_id(e.path), 0, st  # its own, whose stages fail with `empty`
            warnings.append("empty: the file is empty (0 bytes)")
        else:
            digest, n, after = _hash_file(e.path, chunk)
    except FileNotFoundError:
        counts.failed += 1
        return _upsert_file(s, old, source_id, e.path, st, "failed", error_text("vanished", "removed during the scan"),
                            None, warnings, scan_id)
    except OSError as exc:
        if (transient := run_error(exc)) is not None:  # out of memory: not this file's fault
            raise transient from exc
        counts.failed += 1
        return _upsert_file(s, old, source_id, e.path, st, "failed",
                            error_text("unreadable", exc.strerror or str(exc)), None, warnings, scan_id)
    counts.bytes_read += n
    if after.st_size != st.st_size or after.st_mtime_ns != st.st_mtime_ns or n != after.st_size:
        counts.unsettled += 1
        return _upsert_file(s, old, source_id, e.path, after, "unsettled", "changed while it was read", None,
                            warnings, scan_id)
    if digest not in known_assets:
        s.add(Asset(asset_id=digest, size_bytes=n, media_kind=kind.media_kind, file_type=kind.file_type,
                    detected_by=kind.by, first_seen_at=now()))
        s.flush()
        known_assets.add(digest)
    return _upsert_file(s, old, source_id, e.path, st, "present", None, digest, warnings, scan_id)
