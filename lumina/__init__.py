"""Lumina catalogs a photo library in place and reports what it holds and what is missing.

Public API::

    cat = open_catalog("~/.lumina")          # SQLite catalog folder, migrated on open
    scan(cat, ["~/Pictures"])                # incremental scan + every stage that is due
    describe(session, path_or_asset_id)      # what `lumina show` prints
    gap_report(cat)                          # what `lumina gaps` prints

The names are imported when first used (PEP 562), so that ``import lumina`` (every command and
every worker process starts with it) does not load numpy, numba, Pillow and SQLAlchemy up front.
"""

from __future__ import annotations

import importlib
import os
import tempfile
from typing import Any


def _numba_cache_dir() -> None:
    """numba's ``cache=True`` needs a writable folder: next to the code, else ``~/.cache``; on a
    read-only installation with an unwritable ``$HOME`` the import would fail ("no locator
    available"). Then compiled code is cached in the temporary folder instead (per user)."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    in_tree = os.path.join(os.path.dirname(__file__), "analysis")
    home = os.path.expanduser("~")
    if os.access(in_tree, os.W_OK) or os.access(home, os.W_OK):
        return
    os.environ["NUMBA_CACHE_DIR"] = os.path.join(tempfile.gettempdir(), f"lumina-numba-cache-{os.getuid()}")


_numba_cache_dir()

__version__ = "0.1.0"
_WHERE = {"open_catalog": "lumina.catalog.db", "scan": "lumina.pipeline.scan", "run_pipeline": "lumina.pipeline.runner",
          "describe": "lumina.catalog.queries", "gap_report": "lumina.analysis.gaps", "LuminaError": "lumina.errors",
          "STAGES": "lumina.stages", "SETTINGS": "lumina.settings"}
__all__ = ["__version__", "open_catalog", "scan", "run_pipeline", "describe", "gap_report", "LuminaError",
           "STAGES", "SETTINGS"]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'lumina' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
