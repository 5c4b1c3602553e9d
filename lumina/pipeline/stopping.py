"""Stopping a run on request: Ctrl-C (SIGINT) and SIGTERM (a service manager's stop).

The first signal sets ``STOP``; the writer notices it within a fraction of a second (between
files while walking and registering, while waiting for worker batches, between assets of a batch
run in this process, after each commit) and raises ``RunStopped``: the batch being committed is
finished, batches still in worker processes are dropped (their workers are ended) and nothing of
them is written. The job is left ``interrupted``, so the same command resumes it. A second
signal ends the process at once (its worker processes first); that is as safe as a SIGKILL:
SQLite rolls back the open transaction and the next run resumes the job.

``watch_catalog`` makes the same checks notice a catalog folder (or its database file) that was
removed or replaced while the run wrote to it: SQLite would go on writing into the unlinked file and
the run would report a success that nothing kept.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from lumina.errors import RunError, RunStopped

STOP = threading.Event()
WATCH_EVERY_S = 0.5  # how often check_stop looks at the watched catalog (a stat or two: microseconds)
_watched: dict[str, tuple[int, int]] = {}  # path -> (st_dev, st_ino) of the catalog folder and database file
_next_look = [0.0]
_SIGNAL_NAMES = {signal.SIGINT: "Ctrl-C (SIGINT)", signal.SIGTERM: "SIGTERM"}
_received: list[int] = []  # signals received in the current (or last) ``stop_on_signals`` block


def check_stop() -> None:
    """Raise ``RunStopped`` when a stop was requested (call between units of work), or
    ``RunError("catalog_unavailable")`` when the watched catalog is gone (see ``watch_catalog``)."""
    if STOP.is_set():
        raise RunStopped(f"stopped by {_SIGNAL_NAMES.get(_received[0], 'request') if _received else 'request'}")
    if _watched and time.monotonic() >= _next_look[0]:
        _next_look[0] = time.monotonic() + WATCH_EVERY_S
        check_catalog()


def check_catalog() -> None:
    """Raise ``RunError("catalog_unavailable")`` when a path watched by ``watch_catalog`` no longer
    exists or is another file or folder than when the watch began."""
    for path, identity in _watched.items():
        try:
            st = os.stat(path)
            now = (st.st_dev, st.st_ino)
        except OSError:
            now = None
        if now != identity:
            raise RunError("catalog_unavailable", f"{path} was {'removed' if now is None else 'replaced'} while this "
                                                  f"run wrote to it (what it wrote since is lost with it); run the "
                                                  f"same command again")


@contextmanager
def watch_catalog(folder: str | os.PathLike, names: tuple[str, ...] = ("catalog.db",)) -> Iterator[None]:
    """Within the block, ``check_stop`` (at most every ``WATCH_EVERY_S``) and the block's normal
    end raise ``RunError("catalog_unavailable")`` once ``folder``, or one of the files ``names``
    in it that existed when the block began, is removed or replaced (another inode).

    Raises:
        RunError: kind ``catalog_unavailable``, as above.
    """
    paths = [os.fspath(folder)] + [os.path.join(folder, n) for n in names]
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            continue
        _watched[path] = (st.st_dev, st.st_ino)
    _next_look[0] = 0.0
    try:
        yield
        check_catalog()  # the last batches may have been written after the last look
    finally:
        for path in paths:
            _watched.pop(path, None)


def exit_status() -> int:
    """The shell's exit status for the signal that stopped the last run: 130 (SIGINT), 143 (SIGTERM)."""
    return 128 + (_received[0] if _received else signal.SIGINT)


def kill_children() -> None:
    """SIGKILL this process's multiprocessing children (pool workers) without waiting politely."""
    for child in multiprocessing.active_children():
        try:
            os.kill(child.pid, signal.SIGKILL)
        except (OSError, TypeError):
            pass


@contextmanager
def stop_on_signals(notice: Callable[[str], None] | None = None) -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM request a stop (``STOP``); a second one exits at once
    with status 130 (SIGINT) or 143 (SIGTERM). Main thread only; elsewhere it does nothing.

    Args:
        notice: called with a line for the user when the first signal arrives.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, _frame) -> None:
        name = _SIGNAL_NAMES.get(signum, f"signal {signum}")
        if STOP.is_set():  # the second request: no more waiting
            kill_children()
            sys.stderr.write(f"\nstopped at once by {name}; run the same command again to continue\n")
            sys.stderr.flush()
            os._exit(128 + signum)
        _received.append(signum)
        STOP.set()
        if notice is not None:
            notice(f"{name}: stopping after the batch being written (press Ctrl-C again to stop at once)")

    previous = {sig: signal.signal(sig, handler) for sig in _SIGNAL_NAMES}
    STOP.clear()
    _received.clear()
    try:
        yield
    finally:
        for sig, old in previous.items():  # after a stop the process is ending: a late Ctrl-C changes nothing
            signal.signal(sig, signal.SIG_IGN if _received else old)
        STOP.clear()
