"""``lumina scan PATH... --catalog DIR``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from lumina.cli.common import (CatalogOpt, Format, emit_json, errors_to_exit, exit_if_stopped, fail, progress_bar,
                               stoppable)


def scan_command(
    paths: Annotated[list[Path], typer.Argument(help="Library folders to catalog (read only, never written)")],
    catalog: CatalogOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Re-run every stage on every asset")] = False,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Re-run stages that failed before")] = False,
    workers: Annotated[int | None, typer.Option("--workers", help="Worker processes (default: all cores)")] = None,
    scheduler: Annotated[str | None, typer.Option("--scheduler", envvar="LUMINA_DASK_SCHEDULER",
                                                  help="Dask scheduler (tcp://HOST:8786); default: local worker processes")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="Summary format")] = Format.table,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar")] = False,
    follow_links_outside: Annotated[bool, typer.Option(
        "--follow-links-outside", help="Follow links to folders outside every library folder (default: recorded, skipped)")] = False,
    allow_system_folder: Annotated[bool, typer.Option(
        "--allow-system-folder", help="Accept /, /proc, /sys, /dev, /etc, /run or /boot as a library folder")] = False,
) -> None:
    """Catalog photos and videos in PATHS; only new or changed files are read.

    Exits 0 even when single files fail (they are recorded); non-zero only when the scan cannot run.
    """
    with errors_to_exit():
        from lumina.catalog.db import catalog_dir_from, open_catalog
        from lumina.pipeline.jobs import run_now
        from lumina.pipeline.scan import check_roots
        check_roots(paths, catalog_dir_from(catalog), allow_system_folder)  # before the catalog folder is created
        with open_catalog(catalog, overrides={"workers": workers, "dask_scheduler": scheduler}) as cat:
            with stoppable(cat.path), progress_bar(enabled=not quiet and fmt is Format.table) as progress:
                job = run_now(cat, "scan", {"roots": [os.fsdecode(os.path.abspath(p)) for p in paths],
                                            "force": force, "retry_failed": retry_failed,
                                            **({"follow_links_outside": True} if follow_links_outside else {})}, progress)
        exit_if_stopped([job])
        if job["status"] != "succeeded":
            fail(f"scan job {job['id']} {job['status']}: {job['error']}")
    doc = {**job["result"], "job": job["id"]}
    if fmt is Format.json:
        emit_json(doc)
        return
    stages = ", ".join(f"{k} {v['ok']} ok/{v['failed']} failed" for k, v in doc.pop("stages").items()) or "nothing to do"
    typer.echo(f"files: {doc['new']} new, {doc['changed']} changed, {doc['unchanged']} unchanged, "
              f"{doc['missing']} missing, {doc['failed']} failed, {doc['unsettled']} unsettled, "
              f"{doc['ignored']} not photos")
    typer.echo(f"stages: {stages}")
    typer.echo(f"job {doc['job']}: lumina jobs show {doc['job']}")
