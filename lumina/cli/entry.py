"""The ``lumina`` executable (``python -m lumina`` too): imports the commands inside a guard."""

from __future__ import annotations

import gc
import os
import signal
import sys

# Read-only commands that start no process and write nothing: they end with os._exit once their
# output is flushed, skipping the interpreter's teardown of SQLAlchemy's and pydantic's objects (about
# 55 ms of CPU time), and run without the cyclic garbage collector (its passes over the objects
# that importing SQLAlchemy creates cost about 30 ms; a short command leaks nothing that matters).
QUICK_COMMANDS = frozenset({"show"})


def _quick(args: list[str]) -> bool:
    return bool(args) and (args[0] in QUICK_COMMANDS or "--help" in args or "--version" in args)


def main() -> None:
    """Run the Typer app. A Ctrl-C while Python is still importing or before a run has started (or
    in a read-only command) ends it with one line and status 130, never a traceback: nothing was
    being written then (runs that write handle Ctrl-C themselves, see ``lumina.pipeline.stopping``)."""
    quick = _quick(sys.argv[1:])
    if quick:
        gc.disable()
    # Python's own messages go to a copy of the terminal's descriptor: descriptor 2 stays free for
    # capturing what C decoders print (lumina.media.decode.c_stderr), so that never reaches the user
    sys.stderr.flush()
    terminal = open(os.dup(2), "w", buffering=1, encoding=sys.stderr.encoding or "utf-8",  # noqa: SIM115
                    errors="backslashreplace")
    sys.stderr = terminal
    status: int | None = None  # known once the command has ended normally (return or sys.exit)
    try:
        from lumina.cli.main import app

        try:
            app()
            status = 0
        except SystemExit as exc:
            if quick and isinstance(exc.code, str):  # what the normal exit would print
                sys.stderr.write(exc.code + "\n")
            status = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
            raise
    except KeyboardInterrupt:
        sys.stderr.write("\nstopped by Ctrl-C (SIGINT) before anything was written\n")
        sys.exit(130)
    finally:
        # the command is over and the process is ending: a late Ctrl-C or SIGTERM changes nothing.
        # Python restores the default handlers while it shuts down (onnxruntime, FAISS, numba and the
        # pool take a moment), where such a signal would kill it with no message (status -2)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        sys.stderr = sys.__stderr__
        terminal.close()
        if quick and status is not None:  # (a traceback, status None, still goes through the normal exit)
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            except OSError:  # a reader that went away (`lumina show … | head`): nothing more to tell it
                status = status or 1
            os._exit(status)
