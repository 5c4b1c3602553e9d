"""``lumina evaluate TRUTH.json [--catalog DIR] [--format json]``."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from lumina.cli.common import CatalogOpt, Format, emit_json, errors_to_exit, fail


def evaluate_command(
    truth: Annotated[Path, typer.Argument(help="Labelled set description (the format of eval/dev/truth.json)")],
    catalog: CatalogOpt = None,
    fmt: Annotated[Format, typer.Option("--format", help="Output format")] = Format.table,
) -> None:
    """Scan the folder next to TRUTH.json, detect duplicates and bursts, and print pairwise
    precision/recall/F1 per duplicate class and for bursts."""
    with errors_to_exit():
        from lumina.analysis.evaluate import score
        from lumina.catalog.db import open_catalog
        from lumina.pipeline.bursts_run import bursts_report
        from lumina.pipeline.duplicates_run import duplicates_report
        from lumina.pipeline.scan import scan

        try:
            labels = json.loads(truth.read_text())
        except (OSError, ValueError) as exc:
            fail(f"cannot read {truth}: {exc}")
        root = truth.resolve().parent
        with tempfile.TemporaryDirectory(prefix="lumina-evaluate-") as tmp:
            cat = open_catalog(catalog or tmp)
            scan(cat, [root])
            with cat.session() as s:
                report, bursts = duplicates_report(s), bursts_report(s)
            cat.close()
        result = score(labels, root, report["groups"], bursts["bursts"])
    if fmt is Format.json:
        emit_json(result)
        return
    typer.echo(f"{'class':<12} {'precision':>9} {'recall':>7} {'f1':>6} {'TP':>5} {'pred':>5} {'true':>5}")
    rows = [(n, r) for n, r in result["duplicates"].items() if n != "wrongly_grouped"] + [("bursts", result["bursts"])]
    for name, r in rows:
        typer.echo(f"{name:<12} {r['precision']:>9.3f} {r['recall']:>7.3f} {r['f1']:>6.3f} "
                   f"{r['true_positives']:>5} {r['predicted']:>5} {r['true']:>5}")
    w = result["duplicates"]["wrongly_grouped"]
    typer.echo(f"wrongly grouped: {w['burst_sibling']} burst-sibling pairs, {w['similar_not_duplicate']} "
               f"similar-not-duplicate pairs, {w['derivative']} derivative pairs")
