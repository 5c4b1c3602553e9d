"""Where per-batch stage work runs: worker processes on this machine, or a Dask distributed cluster.

Both take batches of ``(AssetView, due stage names)`` and yield each batch's results as it
completes; the caller (``lumina.pipeline.runner``) stays the one writer and commits them.

* ``ProcessExecutor``: a ``concurrent.futures`` process pool (forkserver start method), one
  ``StageGroup`` per worker process (one ExifTool per worker), ``workers`` processes (0 = all cores).
* ``DaskExecutor``: with the ``dask_scheduler`` setting (``--scheduler tcp://HOST:8786`` or
  ``LUMINA_DASK_SCHEDULER``), batches are submitted to that Dask distributed scheduler and results
  stream back with ``distributed.as_completed``. Workers must see the library and the catalog
  folder (thumbnails are written there) at the same paths, or through ``dask_path_map``:
  ``"/local/prefix=/worker/prefix;..."``, applied to every file path and to the catalog folder sent
  to workers (results carry asset ids only, so nothing needs mapping back). Each Dask worker keeps
  one ``StageGroup`` per (stages, settings) for its lifetime; run workers with one thread each
  (``dask worker --nthreads 1``) or any number: a group is never shared between threads.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import queue
import select
import signal
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from lumina.errors import ConfigError, RunError
from lumina.pipeline.stopping import STOP, check_stop

POLL_S = 0.1  # how often the writer looks at STOP while workers compute (Ctrl-C answers within 2 s)


def worker_count(settings: dict) -> int:
    n = int(settings["workers"])
    return n if n > 0 else (os.cpu_count() or 1)


def make_executor(settings: dict, batches: int) -> Any | None:
    """The executor for ``batches`` batches of a parallel stage group: Dask when a scheduler is
    configured, a process pool when more than one worker would be used, else None (run inline)."""
    if settings.get("dask_scheduler"):
        return DaskExecutor(settings["dask_scheduler"], settings.get("dask_path_map", ""))
    workers = min(worker_count(settings), batches)
    return ProcessExecutor(workers) if workers > 1 else None


_group: Any = None
_marker_path: str | None = None  # this worker's marker file: the number of the batch it is running


def _init_process(names: Sequence[str], settings: dict, writer_pid: int, marker_dir: str | None = None) -> None:
    global _group, _marker_path
    # A terminal's Ctrl-C reaches the whole foreground process group: the writer alone decides
    # when workers stop (it ends them after a first Ctrl-C), so they never die mid-batch by it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_writer(writer_pid)  # first: importing the stages takes seconds on a busy machine
    from lumina.pipeline.runner import StageGroup

    _group = StageGroup(names, settings)
    if marker_dir is not None:
        _marker_path = os.path.join(marker_dir, str(os.getpid()))


def _exit_with_writer(writer_pid: int, poll_s: float = 0.2) -> None:
    """End this pool worker as soon as the writer process that ran the pool is gone (even by SIGKILL).

    Watching the parent is not enough: a worker's parent is the forkserver, and the forkserver
    lives as long as any worker holds its "alive" pipe (every child inherits it), so workers and
    forkserver would keep each other alive. A pidfd (Linux 5.3+) becomes readable the moment the
    writer exits and cannot be fooled by pid reuse; elsewhere the pid is polled every ``poll_s``.
    The worker's ExifTool exits by itself when the worker's pipe to it closes; the forkserver and
    the resource tracker exit when the last worker has."""
    try:
        fd = os.pidfd_open(writer_pid)
    except (AttributeError, OSError):
        fd = None

    def watch() -> None:
        if fd is not None:
            select.select([fd], [], [])
        else:
            while True:
                try:
                    os.kill(writer_pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(poll_s)
        os._exit(1)

    threading.Thread(target=watch, name="lumina-writer-watch", daemon=True).start()


def _run_in_process(items: Sequence[tuple[Any, tuple[str, ...]]], batch_no: int = -1) -> list:
    assert _group is not None
    _mark(str(batch_no))
    result = _group.run(items)
    _mark("")  # a crash from here on (sending the result) is no file's
    return result


def _mark(text: str) -> None:
    """Tell the writer which batch this worker runs (read only after the worker died of a crash)."""
    if _marker_path is not None:
        with open(_marker_path, "w") as f:
            f.write(text)


class ThreadExecutor:
    """Runs batches one at a time on one helper thread of the writer's process (one worker, a single
    batch, or stages that do not run in worker processes), so that the writer keeps answering a
    stop request (every ``POLL_S``) while a batch computes, even inside a long C call (a decoder, a
    JSON load). One thread for the whole run: an ExifTool started from it is bound to it
    (PR_SET_PDEATHSIG follows the thread that started the process). On a stop the thread is
    abandoned (a daemon); what it computes is never written.

    A file that crashes a decoder here kills the writer itself. So that the same command does not
    crash on it forever, a marker file in the catalog folder (``INLINE_MARKER`` + the stage names)
    exists while a batch runs; a run that finds it left behind (the writer lock admits one writer,
    so it is a dead run's) runs these stages in a one-worker ``ProcessExecutor`` instead, whose crash
    isolation gives the file its ``decoder_crash`` record."""

    def __init__(self, group: Any):
        self.group = group

    def __enter__(self) -> ThreadExecutor:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def run(self, names: Sequence[str], settings: dict, batches: Iterable[list]) -> Iterator[list]:
        parallel = all(getattr(st, "parallel", False) for st in self.group.stages.values())
        marker = _inline_marker(names, settings) if parallel else None  # the others must run in the writer
        if marker is not None and os.path.exists(marker):  # the last run died in this stage group's batch
            for results in ProcessExecutor(1).run(names, settings, batches):
                yield results
            _remove(marker)  # only once every batch is written: a kill before then keeps the pool for the next run
            return
        inbox: queue.Queue = queue.Queue()
        outbox: queue.Queue = queue.Queue()

        def serve() -> None:
            while (items := inbox.get()) is not None:
                try:
                    outbox.put((True, self.group.run(items)))
                except BaseException as exc:  # noqa: BLE001 - handed to the writer, raised there
                    outbox.put((False, exc))

        threading.Thread(target=serve, name="lumina-stage-thread", daemon=True).start()
        try:
            for items in batches:
                _touch(marker)
                inbox.put(items)
                while True:
                    try:
                        ok, value = outbox.get(timeout=POLL_S)
                        break
                    except queue.Empty:
                        check_stop()
                _remove(marker)
                if not ok:
                    raise value
                yield value
        finally:
            inbox.put(None)
            _remove(marker)  # a stop or an error: the process did not crash


INLINE_MARKER = ".inline-batch-"


def _inline_marker(names: Sequence[str], settings: dict) -> str | None:
    folder = settings.get("catalog_dir")
    return os.path.join(folder, INLINE_MARKER + "+".join(sorted(names))) if folder else None


def _touch(path: str | None) -> None:
    if path is not None:
        try:
            with open(path, "w") as f:
                f.write(str(os.getpid()))
        except OSError:  # best effort: a full or read-only catalog disk is reported by the writer
            pass


def _remove(path: str | None) -> None:
    if path is not None:
        try:
            os.unlink(path)
        except OSError:
            pass


# Signals by which a process dies of a bug in native code it ran: a decoder fed a hostile file
# (signal(7): invalid memory reference, bus error, abort(3), illegal instruction, arithmetic fault).
# SIGKILL is never a file's doing: the OOM killer or a user sent it.
CRASH_SIGNALS = frozenset({signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT, signal.SIGILL, signal.SIGFPE})


class _PoolBroke(Exception):
    """A worker of a pool died: ``signals`` is each dead worker's signal number (an exit status as
    a negative number), ``batch_nos`` the batches the crashed ones were running."""

    def __init__(self, signals: list[int], batch_nos: set[int]):
        super().__init__(signals)
        self.signals, self.batch_nos = signals, batch_nos


def _signal_name(code: int) -> str:
    if code < 0:
        return f"exit status {-code}"
    try:
        return signal.Signals(code).name
    except ValueError:
        return f"signal {code}"


# The exit status a forkserver child is given when its real status could not be read back from
# the forkserver (CPython's multiprocessing/popen_forkserver.py, Popen.poll): no cause at all.
UNKNOWN_STATUS = -255


def _worker_lost(signals: list[int]) -> RunError:
    """The run error for workers that died of something other than a file (no crash signal).

    Only known causes are named: a survivor whose status was lost (``UNKNOWN_STATUS``) says nothing
    about why the pool broke."""
    known = [c for c in signals if c != UNKNOWN_STATUS]
    seen = ", ".join(sorted({_signal_name(c) for c in known})) or "an unknown cause"
    if signal.SIGKILL in signals:
        return RunError("out_of_memory", f"a worker process was killed by SIGKILL (the OOM killer, or another "
                                         f"program); run the same command again, with fewer --workers if it recurs")
    return RunError("worker_lost", f"a worker process ended ({seen}) outside any file; run the same command again")


class ProcessExecutor:
    """Batches in a pool of ``workers`` processes, with per-file crash isolation.

    When a worker dies, its exit signal says why. A crash signal (``CRASH_SIGNALS``) while the
    worker ran a batch means a file of that batch crashed a decoder: the other batches go on in a
    fresh pool, and that batch is re-run one file at a time in a process of its own; a file that
    crashes a process that has run nothing else gets a ``decoder_crash`` failure (its record, like
    any failure, is retried only with ``--retry-failed`` or when the file changes) and the rest of
    the batch completes. SIGKILL (the OOM killer or a user) or any other end is the run's error.
    Which batch a worker runs is told by a marker file per worker pid in a private folder.
    """

    def __init__(self, workers: int):
        self.workers = workers

    def __enter__(self) -> ProcessExecutor:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def run(self, names: Sequence[str], settings: dict, batches: Iterable[list]) -> Iterator[list]:
        """Yield each batch's results as it completes, one list per batch; a batch re-run file by
        file after a crash too, once its last file ran (on a shared catalog the first write of a
        batch marks it done, so results of one batch yielded in parts would lose all but the first).

        Raises:
            RunStopped: ``STOP`` was set (checked every ``POLL_S``); pending batches are dropped.
            RunError: a worker process died without a crash signal: ``out_of_memory`` for SIGKILL
                (the OOM killer is the usual cause), ``worker_lost`` otherwise.
        """
        # Batches are read two per process ahead, not all at once: on a shared catalog each one is
        # a claim other workers could have taken (lumina.pipeline.leases).
        feed = enumerate(batches)
        todo: dict[int, list] = {}  # batches read from the feed and not finished
        with tempfile.TemporaryDirectory(prefix="lumina-workers-") as marker_dir:
            while True:
                try:
                    for no, result in self._pool_run(names, settings, todo, feed, self.workers, marker_dir):
                        del todo[no]
                        yield result
                    return
                except _PoolBroke as broke:
                    if not broke.batch_nos:
                        raise _worker_lost(broke.signals) from None
                    for no in sorted(broke.batch_nos):  # whole: a batch is committed (and leased) as one
                        yield self._isolated(names, settings, todo.pop(no), marker_dir)

    def _pool_run(self, names: Sequence[str], settings: dict, todo: dict[int, list],
                  feed: Iterator[tuple[int, list]], workers: int, marker_dir: str) -> Iterator[tuple[int, list]]:
        """``(batch number, results)`` as batches complete in a fresh pool: first those of ``todo``
        (left by a broken pool), then those read from ``feed`` (added to ``todo`` as they are sent).

        Raises:
            _PoolBroke: a worker died; the batches it and the others did not finish are still in ``todo``.
        """
        ctx = multiprocessing.get_context("forkserver")
        pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_process,
                                   initargs=(list(names), settings, os.getpid(), marker_dir))
        processes = pool._processes  # pid -> Process, filled as workers start (the pool's own dict)
        pending: dict[Any, int] = {}
        broken = False
        try:
            try:
                for no, items in todo.items():  # a worker may die while batches are still submitted
                    pending[pool.submit(_run_in_process, items, no)] = no

                def send(count: int) -> None:
                    for no, items in itertools.islice(feed, count):
                        todo[no] = items  # kept for the next pool if this one breaks
                        pending[pool.submit(_run_in_process, items, no)] = no

                send(max(0, 2 * workers - len(pending)))
                while pending:
                    done, _ = wait(pending, timeout=POLL_S, return_when=FIRST_COMPLETED)
                    check_stop()
                    send(len(done))
                    for fut in done:
                        no = pending.pop(fut)
                        result = fut.result()
                        yield no, result
            except BrokenProcessPool:
                check_stop()  # workers ended by the same signal as the writer
                broken = True
                raise self._autopsy(pool, list(processes.values()), marker_dir) from None
        finally:
            _close_pool(pool, abandon=bool(pending) or broken or STOP.is_set())

    @staticmethod
    def _autopsy(pool: ProcessPoolExecutor, processes: list, marker_dir: str) -> _PoolBroke:
        """How the workers of a broken pool ended, and which batches the crashed ones were running.

        The pool's manager thread ends the survivors (SIGTERM) and joins every worker; it is waited
        for first. Reading a forkserver child's status is not thread-safe: when both threads polled a
        worker, the one that lost the race found the status already read and got exit code 255
        (CPython's ``popen_forkserver.Popen.poll``), and a crash signal was lost with it."""
        manager = getattr(pool, "_executor_manager_thread", None)  # CPython 3.9+
        if manager is not None:
            manager.join(10)
        signals: list[int] = []
        batch_nos: set[int] = set()
        for proc in processes:
            proc.join(2)  # already joined by the manager thread, unless it is stuck
            code = proc.exitcode
            if code is None or code == 0:
                continue
            signals.append(-code)  # SIGTERM too (named in the message), though the pool sends it to survivors
            if -code in CRASH_SIGNALS and (no := _read_marker(marker_dir, proc.pid)) is not None:
                batch_nos.add(no)
        if signal.SIGKILL in signals:  # the OOM killer took one: nothing is a file's fault
            batch_nos.clear()
        return _PoolBroke(signals, batch_nos)

    def _isolated(self, names: Sequence[str], settings: dict, items: list, marker_dir: str) -> list:
        """Run ``items`` one file per process (a fresh one-worker pool each: about 0.7 s per file on
        the 2-core development machine) and return the results of them all, as one batch's; a file
        whose process dies of a crash signal gets a ``decoder_crash`` failure for each of its due
        stages (nothing else ran in that process)."""
        from lumina.errors import error_text
        from lumina.pipeline.runner import _Done  # the runner imports this module
        from lumina.stages.base import StageResult

        results: list = []
        for i, (view, due) in enumerate(items):
            try:
                for _, result in self._pool_run(names, settings, {i: [(view, due)]}, iter(()), 1, marker_dir):
                    results += result
            except _PoolBroke as broke:
                if not broke.batch_nos:
                    raise _worker_lost(broke.signals) from None
                crash = _signal_name(next(c for c in broke.signals if c in CRASH_SIGNALS))
                reason = error_text("decoder_crash", f"reading this file killed the process by {crash}, alone in "
                                                     f"a process of its own; the other files went on")
                results += [(name, _Done(view.asset_id, StageResult("failed", reason=reason), 0.0)) for name in due]
        return results


def _close_pool(pool: ProcessPoolExecutor, abandon: bool) -> None:
    """Shut ``pool`` down; ``abandon``: stopped, broken or an error, do not wait for batches nobody
    will write (its workers are killed). Each worker's ExifTool exits by itself when the worker's
    pipe to it closes."""
    if abandon:
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in processes:
            proc.kill()
        for proc in processes:
            proc.join(2)
    else:
        pool.shutdown(wait=True)


def _read_marker(marker_dir: str, pid: int) -> int | None:
    try:
        with open(os.path.join(marker_dir, str(pid))) as f:
            text = f.read().strip()
    except OSError:
        return None
    return int(text) if text else None


def parse_path_map(text: str) -> list[tuple[bytes, bytes]]:
    """``"/a=/b;/c=/d"`` as [(b"/a", b"/b"), ...], longest local prefix first.

    Raises:
        ConfigError: an entry without ``=``.
    """
    pairs = []
    for entry in filter(None, (e.strip() for e in text.split(";"))):
        local, sep, remote = entry.partition("=")
        if not sep or not local:
            raise ConfigError(f"dask_path_map entry {entry!r} is not LOCAL=REMOTE")
        pairs.append((os.fsencode(local.rstrip("/")), os.fsencode(remote.rstrip("/"))))
    return sorted(pairs, key=lambda p: -len(p[0]))


def map_path(path: bytes, pairs: list[tuple[bytes, bytes]]) -> bytes:
    """``path`` with its longest matching local prefix replaced (whole path components only)."""
    for local, remote in pairs:
        if path == local or path.startswith(local + b"/"):
            return remote + path[len(local):]
    return path


_dask_groups: dict[str, Any] = {}
_dask_lock = threading.Lock()


def _run_on_dask(names: list[str], settings: dict, items: list) -> list:
    """Runs on a Dask worker: the worker's cached StageGroup for these stages and settings."""
    from lumina.pipeline.runner import StageGroup

    key = json.dumps([names, settings], sort_keys=True, default=str) + f"#{threading.get_ident()}"
    with _dask_lock:
        group = _dask_groups.get(key)
        if group is None:
            group = _dask_groups[key] = StageGroup(names, settings)
    return group.run(items)


class DaskExecutor:
    def __init__(self, address: str, path_map: str = ""):
        self.address = address
        self.pairs = parse_path_map(path_map)
        self.client: Any = None

    def __enter__(self) -> DaskExecutor:
        try:
            from distributed import Client
        except ImportError as exc:  # pragma: no cover - distributed is a dependency
            raise ConfigError("dask_scheduler is set but the 'distributed' package is not installed") from exc
        try:
            self.client = Client(self.address, timeout=30, set_as_default=False)
        except OSError as exc:
            raise ConfigError(f"cannot reach the Dask scheduler at {self.address}: {exc}") from exc
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.client is not None:
            self.client.close()

    def _mapped(self, items: list) -> list:
        from dataclasses import replace

        if not self.pairs:
            return items
        return [(replace(v, path=map_path(v.path, self.pairs),
                         sidecar=map_path(v.sidecar, self.pairs) if v.sidecar else v.sidecar), due)
                for v, due in items]

    def run(self, names: Sequence[str], settings: dict, batches: Iterable[list]) -> Iterator[list]:
        from distributed import as_completed as dask_completed

        remote = dict(settings)
        remote["dask_scheduler"] = ""
        if self.pairs and settings.get("catalog_dir"):
            remote["catalog_dir"] = os.fsdecode(map_path(os.fsencode(settings["catalog_dir"]), self.pairs))
        futures = [self.client.submit(_run_on_dask, list(names), remote, self._mapped(items), pure=False)
                   for items in batches]
        with self.client.as_current():
            completed = dask_completed(futures)
        try:
            for fut in completed:
                check_stop()
                yield fut.result()
        finally:
            if any(not f.done() for f in futures):
                self.client.cancel(futures)
