"""What a pool worker imports before its first batch (issue 17: start-up and RSS per worker).

A worker runs ``lumina.pipeline.executors._init_process``, which imports ``lumina.pipeline.runner``
and so ``lumina.stages`` (the stage graph). The catalog-wide stages are declared there, but their
code (numba-compiled duplicate and burst detection, scipy) runs only in the writer: importing it in
every worker cost about 0.5 s and 120 MB of RSS per worker (208 MB after imports, now 87 MB).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.no_catalog  # a worker's imports only: the backend changes nothing

HEAVY = ("numba", "scipy", "lumina.analysis.duplicates", "lumina.analysis.bursts", "timezonefinder",
         "reverse_geocode")


def test_a_worker_imports_no_catalog_wide_analysis():
    code = ("import sys; import lumina.pipeline.executors, lumina.pipeline.runner; "
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"imported by every worker: {out.stdout.strip()}"


def test_the_stage_graph_keeps_the_rule_versions_of_the_analyses():
    from lumina.analysis import bursts, duplicates
    from lumina.stages import SPECS

    assert SPECS["bursts"].version == bursts.RULE_VERSION and SPECS["duplicates"].version == duplicates.RULE_VERSION
    assert SPECS["bursts"].settings == bursts.SETTING_NAMES
    assert SPECS["duplicates"].settings == duplicates.SETTING_NAMES
