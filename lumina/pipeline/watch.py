"""``lumina watch``: new and changed photos catalogued as they arrive, once they are complete.

Change events come from the OS through watchdog (inotify on Linux, FSEvents on macOS, ReadDirectoryChangesW
on Windows). Where a folder sits on a network file system (NFS, SMB/CIFS, SSHFS, ...) the OS sends no
events for changes made by other machines, so such a folder is polled instead (watchdog's polling
observer, every ``watch_rescan_s``) and the watcher says so; it also falls back to polling when the
OS refuses a watch (inotify limits).

A path with an event is pending until it has *settled*: size and mtime unchanged for ``settle_s`` and,
on Linux, no process holding it open for writing (``/proc/*/fd``). Then the incremental scan runs on
the settled paths only (``scan(..., files=...)``): new files are hashed and analysed, a deleted or
moved-away path is marked ``missing``, a moved file finds its asset again; bursts and duplicates are
re-detected when their inputs changed. A watched folder that disappears is reported and watched
again, with a catch-up scan, when it comes back.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from lumina.catalog.db import Catalog
from lumina.errors import CatalogError
from lumina.media.detect import is_sidecar
from lumina.pipeline.scan import check_roots, display, scan
from lumina.pipeline.walk import SKIP_DIRS

# File systems whose changes made elsewhere raise no local events (/proc/mounts type names).
NETWORK_FS = {"nfs", "nfs4", "cifs", "smb3", "smbfs", "fuse.sshfs", "sshfs", "9p", "afs", "davfs",
              "fuse.rclone", "fuse.s3fs", "glusterfs", "ceph", "fuse.glusterfs", "fuse.cephfs"}
Echo = Callable[[str], None]


def filesystem_type(path: bytes) -> str | None:
    """The file-system type of the mount holding ``path`` (Linux ``/proc/mounts``), or ``None``."""
    try:
        with open("/proc/mounts", "rb") as f:
            mounts = [line.split() for line in f]
    except OSError:
        return None
    real = os.path.realpath(path)
    best, kind = b"", None
    for parts in mounts:
        if len(parts) < 3:
            continue
        point = parts[1].replace(b"\\040", b" ")
        if (real == point or real.startswith(point.rstrip(b"/") + b"/")) and len(point) >= len(best):
            best, kind = point, parts[2].decode("ascii", "replace")
    return kind


def open_for_writing(paths: set[bytes]) -> set[bytes]:
    """Which of ``paths`` some process holds open for writing (Linux; elsewhere an empty set).
    Reads ``/proc/<pid>/fd`` links and the access mode in ``/proc/<pid>/fdinfo`` (flags & O_ACCMODE)."""
    if not paths or not os.path.isdir("/proc/self/fd"):
        return set()
    busy: set[bytes] = set()
    for pid in os.listdir(b"/proc"):
        if not pid.isdigit():
            continue
        fd_dir = b"/proc/" + pid + b"/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd_dir + b"/" + fd)
            except OSError:
                continue
            if target in paths:
                try:
                    with open(b"/proc/" + pid + b"/fdinfo/" + fd, "rb") as f:
                        flags = next((int(line.split()[1], 8) for line in f if line.startswith(b"flags:")), 0)
                except (OSError, ValueError):
                    continue
                if flags & os.O_ACCMODE in (os.O_WRONLY, os.O_RDWR):
                    busy.add(target)
    return busy


@dataclass
class _Pending:
    size: int | None
    mtime_ns: int | None
    stable_since: float


@dataclass
class WatchStats:
    """What a watcher did: scans run, files catalogued, and when each path was last catalogued."""

    scans: int = 0
    catalogued: int = 0
    missing: int = 0
    catalogued_at: dict[bytes, float] = field(default_factory=dict)  # path -> time.time()


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: Watcher):
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        for raw in (event.src_path, getattr(event, "dest_path", "")):
            if raw:
                self.watcher.touch(os.fsencode(raw), event.is_directory)


class Watcher:
    """Watches library folders and catalogues settled files.

    Args:
        catalog: the open catalog.
        roots: library folders (registered as sources, like ``lumina scan``).
        echo: where progress lines go (``print`` for the CLI).
        force_polling: poll every folder (for tests and file systems that lie about events).
    Raises:
        ConfigError: a root is not a folder or is inside the catalog.
    """

    def __init__(self, catalog: Catalog, roots: Sequence[str | os.PathLike], echo: Echo = lambda _: None,
                 force_polling: bool = False):
        self.catalog = catalog
        self.roots = check_roots(roots, catalog.path)
        self.echo = echo
        self.force_polling = force_polling
        self.settle_s = float(catalog.settings["settle_s"])
        self.poll_s = float(catalog.settings["watch_poll_s"])
        self.rescan_s = float(catalog.settings["watch_rescan_s"])
        self.stats = WatchStats()
        self._pending: dict[bytes, _Pending] = {}
        self._lock = threading.Lock()
        self._observers: dict[bytes, Any] = {}
        self._gone_roots: set[bytes] = set()
        self._catalog_real = os.path.realpath(os.fsencode(catalog.path))

    # events -> pending paths
    def touch(self, path: bytes, is_directory: bool = False) -> None:
        """Note a change at ``path`` (a folder: every file below it)."""
        if not self._wanted(path):
            return
        if is_directory:
            if os.path.isdir(path):
                for folder, dirs, names in os.walk(path):
                    dirs[:] = [d for d in dirs if not d.startswith(b".") and d not in SKIP_DIRS]
                    for n in names:
                        self.touch(os.path.join(folder, n))
            else:  # a folder deleted or moved away: its catalogued files
                self._pending_missing_under(path)
            return
        if is_sidecar(os.path.basename(path).decode("utf-8", "replace")):
            photos = self._photos_of(path)
            for p in photos:
                self.touch(p)
            return
        with self._lock:
            self._pending[path] = _Pending(None, None, time.monotonic())

    def _wanted(self, path: bytes) -> bool:
        real = os.path.realpath(path)
        if real == self._catalog_real or real.startswith(self._catalog_real + b"/"):
            return False
        root = next((r for r in self.roots if path == r or path.startswith(r.rstrip(b"/") + b"/")), None)
        if root is None or path == root:
            return False
        parts = path[len(root):].strip(b"/").split(b"/")
        return not any(p.startswith(b".") or p in SKIP_DIRS for p in parts)

    def _photos_of(self, sidecar: bytes) -> list[bytes]:
        base = sidecar[:-4]
        if os.path.isfile(base):
            return [base]
        folder, stem = os.path.split(base)
        try:
            return [os.path.join(folder, n) for n in os.listdir(folder or b".")
                    if n.rsplit(b".", 1)[0] == stem and not is_sidecar(n.decode("utf-8", "replace"))]
        except OSError:
            return []

    def _pending_missing_under(self, folder: bytes) -> None:
        from sqlalchemy import select

        from lumina.catalog.models import FileInstance

        prefix = folder.rstrip(b"/") + b"/"
        with self.catalog.session() as s:
            paths = [p for p in s.scalars(select(FileInstance.path_bytes).where(FileInstance.status != "missing"))
                     if p.startswith(prefix)]
        with self._lock:
            for p in paths:
                self._pending[p] = _Pending(None, None, time.monotonic())

    # observers
    def _observer_for(self, root: bytes) -> Any:
        kind = filesystem_type(root)
        polling = self.force_polling or (kind in NETWORK_FS)
        observer = PollingObserver(timeout=self.rescan_s) if polling else Observer()
        observer.schedule(_Handler(self), os.fsdecode(root), recursive=True)
        try:
            observer.start()
        except OSError as exc:  # inotify limits: poll instead, and say so
            self.echo(f"{display(root)}: change events unavailable ({exc.strerror or exc}); "
                      f"rescanning every {self.rescan_s:g} s")
            observer = PollingObserver(timeout=self.rescan_s)
            observer.schedule(_Handler(self), os.fsdecode(root), recursive=True)
            observer.start()
            return observer
        if polling:
            why = f"a network file system ({kind})" if kind in NETWORK_FS else "polling was asked for"
            self.echo(f"{display(root)}: {why}: no change events; rescanning every {self.rescan_s:g} s")
        else:
            self.echo(f"watching {display(root)} (change events; settle {self.settle_s:g} s)")
        return observer

    def _check_roots(self) -> None:
        for root in self.roots:
            there = os.path.isdir(root)
            if not there and root not in self._gone_roots:
                self._gone_roots.add(root)
                obs = self._observers.pop(root, None)
                if obs is not None:
                    obs.stop()
                self.echo(f"{display(root)} disappeared; waiting for it to come back")
            elif there and root in self._gone_roots:
                self._gone_roots.discard(root)
                self.echo(f"{display(root)} is back; catching up")
                self._observers[root] = self._observer_for(root)
                self._catch_up([root])

    def _catch_up(self, roots: list[bytes]) -> None:
        try:
            counts = scan(self.catalog, roots)
        except CatalogError as exc:
            self.echo(f"catch-up scan postponed: {exc}")
            return
        self.stats.scans += 1
        self.echo(f"scanned {', '.join(display(r) for r in roots)}: {counts.new} new, {counts.changed} changed, "
                  f"{counts.missing} missing, {counts.unsettled} still being written")
        if counts.unsettled:  # written moments ago: wait for them to settle
            from sqlalchemy import select

            from lumina.catalog.models import FileInstance

            with self.catalog.session() as s:
                for p in s.scalars(select(FileInstance.path_bytes).where(FileInstance.status == "unsettled")):
                    if any(p.startswith(r.rstrip(b"/") + b"/") for r in roots):
                        self.touch(p)

    # settling
    def settled(self) -> list[bytes]:
        """Pending paths that are settled now (removed from pending), including vanished ones."""
        t = time.monotonic()
        ready: list[bytes] = []
        with self._lock:
            for path, p in list(self._pending.items()):
                try:
                    st = os.stat(path)
                except FileNotFoundError:
                    ready.append(path)  # deleted or moved away: marked missing
                    continue
                except OSError:
                    continue
                if (st.st_size, st.st_mtime_ns) != (p.size, p.mtime_ns):
                    p.size, p.mtime_ns, p.stable_since = st.st_size, st.st_mtime_ns, t
                elif t - p.stable_since >= self.settle_s:
                    ready.append(path)
        busy = open_for_writing({r for r in ready if os.path.exists(r)})
        with self._lock:
            for path in ready:
                if path in busy:
                    self._pending[path].stable_since = t  # still open for writing: wait again
                else:
                    self._pending.pop(path, None)
        return [r for r in ready if r not in busy]

    def _catalogue(self, paths: list[bytes]) -> None:
        try:
            counts = scan(self.catalog, self.roots, files=paths)
        except CatalogError as exc:  # another writer: try again on the next round
            with self._lock:
                for p in paths:
                    self._pending.setdefault(p, _Pending(None, None, time.monotonic()))
            self.echo(f"waiting: {exc}")
            return
        done = time.time()
        self.stats.scans += 1
        self.stats.catalogued += counts.new + counts.changed
        self.stats.missing += counts.missing
        for p in paths:
            self.stats.catalogued_at[p] = done
        if counts.unsettled:  # written to again between settling and reading: look again later
            with self._lock:
                for p in paths:
                    if os.path.exists(p):
                        self._pending.setdefault(p, _Pending(None, None, time.monotonic()))
        self.echo(f"{time.strftime('%H:%M:%S')} {len(paths)} paths: {counts.new} new, {counts.changed} changed, "
                  f"{counts.missing} missing, {counts.unchanged} unchanged, {counts.failed} failed")

    def run(self, stop: threading.Event | None = None, catch_up: bool = True) -> WatchStats:
        """Watch until ``stop`` is set (or KeyboardInterrupt).

        Args:
            catch_up: first scan the roots once (what changed while nothing watched).
        """
        stop = stop or threading.Event()
        for root in self.roots:
            self._observers[root] = self._observer_for(root)
        try:
            if catch_up:
                self._catch_up(list(self.roots))
            while not stop.is_set():
                self._check_roots()
                ready = self.settled()
                if ready:
                    self._catalogue(ready)
                stop.wait(self.poll_s)
        finally:
            for obs in self._observers.values():
                obs.stop()
            for obs in self._observers.values():
                obs.join(timeout=5)
        return self.stats


def watch_in_background(catalog: Catalog, echo: Echo = lambda _: None) -> threading.Event | None:
    """Watch every source of the catalog in a daemon thread (``lumina serve`` with ``serve_watch``).

    Returns:
        The event that stops it, or ``None`` when the catalog has no source folder that exists.
    """
    from sqlalchemy import select

    from lumina.catalog.models import Source

    with catalog.session() as s:
        roots = [p for p in s.scalars(select(Source.path_bytes)) if os.path.isdir(p)]
    if not roots:
        echo("serve_watch: the catalog has no source folder to watch yet (run `lumina scan` first)")
        return None
    stop = threading.Event()
    watcher = Watcher(catalog, roots, echo=echo)
    threading.Thread(target=watcher.run, args=(stop,), name="lumina-watch", daemon=True).start()
    return stop
