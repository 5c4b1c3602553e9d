"""The field cases this code must pass, run through their own checker against the installed `lumina`."""

import subprocess
import sys
from pathlib import Path

import pytest

CASES = ["B01", "B02", "B04", "B05", "B07", "B08", "B09", "B10", "B12", "B14", "B16", "B17", "B18", "B20", "B21", "B22", "B24", "B26", "B27", "B28"]


@pytest.mark.parametrize("case", CASES)
def test_field_case(cases, corpus, case):
    lumina = f"{sys.executable} -m lumina"
    res = subprocess.run([sys.executable, str(cases / "check_cases.py"), str(cases), "--only", case,
                          "--lumina", lumina, "--verbose"], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "1 passed, 0 failed" in res.stdout
