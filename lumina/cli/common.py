"""Shared CLI plumbing: options, output formats, error translation, progress."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from lumina.errors import LuminaError

CatalogOpt = Annotated[str | None, typer.Option("--catalog", "-c", envvar="LUMINA_CATALOG",
                                                 help="Catalog folder (database, thumbnails, indexes); default ~/.lumina/catalog")]
err = Console(stderr=True, soft_wrap=True)


class Format(str, Enum):
    table = "table"
    json = "json"


def emit_json(doc: Any) -> None:
    """JSON on stdout, ASCII-escaped (undecodable file-name bytes appear as \\udcXX escapes)."""
    sys.stdout.write(json.dumps(doc, ensure_ascii=True, indent=2, default=str) + "\n")


@contextmanager
def errors_to_exit() -> Iterator[None]:
    """Translate LuminaError into one line on stderr and exit code 1."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        yield
    except LuminaError as exc:
        fail(str(exc))
    except (SQLAlchemyError, OSError, MemoryError) as exc:  # a full disk, a damaged or read-only catalog
        from lumina.errors import run_error

        if (transient := run_error(exc)) is not None:
            fail(str(transient))
        if not isinstance(exc, SQLAlchemyError):
            raise
        orig = getattr(exc, "orig", None) or exc
        fail(f"catalog database error: {str(orig).splitlines()[0]}; check the catalog folder (see README)")


def on_catalog(catalog: str | os.PathLike | None, call: Callable[[Any], Any]) -> Any:
    """``call(cat)`` on the existing catalog of ``--catalog`` (``None``: ``LUMINA_CATALOG`` or the
    default), closed afterwards, also when ``call`` raises.

    Raises:
        CatalogError: no catalog there, or it cannot be opened.
    """
    from lumina.catalog.db import open_catalog

    cat = open_catalog(catalog, create=False)
    try:
        return call(cat)
    finally:
        cat.close()


@contextmanager
def stoppable(catalog_dir: str | os.PathLike | None = None) -> Iterator[None]:
    """Ctrl-C and SIGTERM stop the run after the batch being written; a catalog folder (or its
    database file) removed or replaced during the run ends it with ``catalog_unavailable``
    (``lumina.pipeline.stopping``)."""
    from lumina.pipeline.stopping import stop_on_signals, watch_catalog

    with stop_on_signals(lambda line: err.print(Text(line, style="yellow"), soft_wrap=True)):
        if catalog_dir is None:
            yield
            return
        with watch_catalog(catalog_dir):
            yield


def exit_if_stopped(docs: list[dict]) -> None:
    """After a job stopped by a signal: say what was kept and how to continue; exit 130 (Ctrl-C)
    or 143 (SIGTERM), as a shell reports a process ended by that signal."""
    from lumina.pipeline.stopping import exit_status

    stopped = [d for d in docs if d["status"] == "interrupted"]
    if not stopped:
        return
    for doc in stopped:
        kept = ", ".join(f"{name} {sum(c.values())}" for name, c in (doc["stages"] or {}).items() if sum(c.values()))
        files = "every file registered so far and " if doc["type"] == "scan" else ""
        err.print(Text(f"{doc['error']}. Kept: {files}{doc['done'] + doc['failed']} "
                       f"stage results ({kept or 'none yet'}) in job {doc['id']} ({doc['type']}). "
                       "Run the same command again to continue where it stopped."), soft_wrap=True)
    # Everything kept is committed. A stop may have abandoned a helper thread inside a C call (a
    # decoder, libvips, onnxruntime): the interpreter's normal shutdown could then abort in their
    # thread pools ("terminate called without an active exception"), so the process ends here.
    from lumina.pipeline.stopping import kill_children

    kill_children()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_status())


def fail(message: str) -> None:
    """Print ``error: message`` (user text is never read as markup) and exit with code 1."""
    err.print(Text("error: ", style="red") + Text(message), soft_wrap=True)
    raise typer.Exit(1)


@contextmanager
def progress_bar(enabled: bool = True) -> Iterator[Callable[[str, int, int | None], None]]:
    """A Rich progress bar with counts and rate per phase, as a ``(phase, done, total)`` callback."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn  # start-up: imported by runs only

    with Progress(TextColumn("{task.description:>10}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), console=err,
                  disable=not enabled, transient=False) as bar:
        tasks: dict[str, Any] = {}

        def update(phase: str, done: int, total: int | None) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total, rate="")
            task = bar.tasks[tasks[phase]]
            rate = f"{done / task.elapsed:.0f}/s" if task.elapsed else ""
            bar.update(tasks[phase], completed=done, total=total, rate=rate)

        yield update
