"""The ``lumina`` executable (``python -m lumina`` too): imports the commands inside a guard."""

from __future__ import annotations

import os
import signal
import sys


def main() -> None:
    """Run the Typer app. A Ctrl-C while Python is still importing or before a run has started (or
    in a read-only command) ends it with one line and status 130, never a traceback: nothing was
    being written then (runs that write handle Ctrl-C themselves, see ``lumina.pipeline.stopping``)."""
    # Python's own messages go to a copy of the terminal's descriptor: descriptor 2 stays free for
    # capturing what C decoders print (lumina.media.decode.c_stderr), so that never reaches the user
    sys.stderr.flush()
    terminal = open(os.dup(2), "w", buffering=1, encoding=sys.stderr.encoding or "utf-8",  # noqa: SIM115
                    errors="backslashreplace")
    sys.stderr = terminal
    try:
        from lumina.cli.main import app

        app()
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
