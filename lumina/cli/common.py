"""Shared CLI plumbing: options, output formats, error translation, progress."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from lumina.errors import LuminaError

CatalogOpt = Annotated[str | None, typer.Option("--catalog", "-c", envvar="LUMINA_CATALOG",
                                                 help="Catalog folder (database, thumbnails, indexes)")]
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
    except SQLAlchemyError as exc:  # a damaged or read-only catalog: one line, not a traceback
        orig = getattr(exc, "orig", None) or exc
        fail(f"catalog database error: {str(orig).splitlines()[0]}; check the catalog folder (see README)")


def fail(message: str) -> None:
    """Print ``error: message`` (user text is never read as markup) and exit with code 1."""
    err.print(Text("error: ", style="red") + Text(message), soft_wrap=True)
    raise typer.Exit(1)


@contextmanager
def progress_bar(enabled: bool = True) -> Iterator[Callable[[str, int, int | None], None]]:
    """A Rich progress bar with counts and rate per phase, as a ``(phase, done, total)`` callback."""
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
