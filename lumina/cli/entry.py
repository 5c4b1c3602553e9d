"""The ``lumina`` executable (``python -m lumina`` too): imports the commands inside a guard."""

from __future__ import annotations

import sys


def main() -> None:
    """Run the Typer app. A Ctrl-C while Python is still importing or before a run has started (or
    in a read-only command) ends it with one line and status 130, never a traceback: nothing was
    being written then (runs that write handle Ctrl-C themselves, see ``lumina.pipeline.stopping``)."""
    try:
        from lumina.cli.main import app

        app()
    except KeyboardInterrupt:
        sys.stderr.write("\nstopped by Ctrl-C (SIGINT) before anything was written\n")
        sys.exit(130)
