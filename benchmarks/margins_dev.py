"""Threshold margins on ../shared/eval/dev: per threshold, the largest value on true pairs and the
smallest on false pairs (``lumina.analysis.evaluate.threshold_margins``), beside the value in use
and the headroom on each side.

    python benchmarks/margins_dev.py [CATALOG]   (a catalog of ../shared/eval/dev; scanned when not given)
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lumina.analysis.evaluate import threshold_margins  # noqa: E402
from lumina.catalog.db import open_catalog  # noqa: E402
from lumina.pipeline.scan import scan  # noqa: E402

DEV = ROOT.parent / "shared/eval/dev"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cat = open_catalog(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tmp) / "cat")
        if len(sys.argv) <= 1:
            scan(cat, [DEV])
        with cat.session() as s:
            margins = threshold_margins(s, json.loads((DEV / "truth.json").read_text()), DEV)
        cat.close()
    print(f"{'threshold':24} {'in use':>8} {'true max':>9} {'false min':>10} {'headroom':>18}  unit")
    for name, m in margins.items():
        value = -m["value"] if name == "CROP_MIN_SCALE" else m["value"]
        up = f"{value - m['true_max']:+.2f}" if m["true_max"] is not None else "-"
        down = f"{m['false_min'] - value:+.2f}" if m["false_min"] is not None else "-"
        fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
        print(f"{name:24} {value:8.2f} {fmt(m['true_max']):>9} {fmt(m['false_min']):>10} {up:>8} / {down:>8}  {m['unit']}")


if __name__ == "__main__":
    main()
