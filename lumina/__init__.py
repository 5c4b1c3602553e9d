"""Lumina catalogs a photo library in place and reports what it holds and what is missing.

Public API::

    cat = open_catalog("~/.lumina")          # SQLite catalog folder, migrated on open
    scan(cat, ["~/Pictures"])                # incremental scan + every stage that is due
    describe(session, path_or_asset_id)      # what `lumina show` prints
    gap_report(cat)                          # what `lumina gaps` prints
"""

from lumina.analysis.gaps import gap_report
from lumina.catalog.db import open_catalog
from lumina.catalog.queries import describe
from lumina.errors import LuminaError
from lumina.pipeline.runner import run_pipeline
from lumina.pipeline.scan import scan
from lumina.settings import SETTINGS
from lumina.stages import STAGES

__version__ = "0.1.0"
__all__ = ["__version__", "open_catalog", "scan", "run_pipeline", "describe", "gap_report", "LuminaError",
           "STAGES", "SETTINGS"]
