"""``lumina run``, ``lumina worker``, ``lumina jobs [list|show|submit|cancel]``."""

from __future__ import annotations

from typing import Annotated

import typer

from lumina.cli.common import (CatalogOpt, Format, emit_json, errors_to_exit, exit_if_stopped, on_catalog,
                               progress_bar, stoppable)

app = typer.Typer(help="Durable jobs: list, show, submit and cancel.", invoke_without_command=True,
                  no_args_is_help=False)
Scheduler = Annotated[str | None, typer.Option("--scheduler", envvar="LUMINA_DASK_SCHEDULER",
                                               help="Dask scheduler (tcp://HOST:8786); default: local worker processes")]


def _summary(doc: dict) -> str:
    return (f"job {doc['id']} {doc['type']}: {doc['status']}, {doc['done']} done, {doc['failed']} failed"
            f" of {doc['total']}" + (f" ({doc['error']})" if doc["error"] else ""))


def _print_failures(doc: dict) -> None:
    for f in doc["failures"][:50]:
        typer.echo(f"  failed  {f['path']}  [{f['stage']}] {f['message']}")
    if doc["failed"] > 50:
        typer.echo(f"  ... {doc['failed'] - 50} more (lumina jobs show {doc['id']} --format json)")


def run_command(
    catalog: CatalogOpt = None,
    stage: Annotated[list[str] | None, typer.Option("--stage", help="Stage to run (with its prerequisites); repeatable")] = None,
    force: Annotated[bool, typer.Option("--force", help="Re-run even what is up to date")] = False,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Re-run stages that failed before")] = False,
    workers: Annotated[int | None, typer.Option("--workers", help="Worker processes (default: all cores)")] = None,
    scheduler: Scheduler = None,
    fmt: Annotated[Format, typer.Option("--format", help="Output format")] = Format.table,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar")] = False,
) -> None:
    """Fill every gap in dependency order (prerequisites first); a second run does nothing."""
    with errors_to_exit():
        from lumina.catalog.db import open_catalog
        from lumina.pipeline.jobs import run_now

        with open_catalog(catalog, create=False, overrides={"workers": workers, "dask_scheduler": scheduler}) as cat:
            params = {"force": force, "retry_failed": retry_failed}
            docs = []
            with stoppable(cat.path), progress_bar(enabled=not quiet and fmt is Format.table) as progress:
                for job_type in (stage or ["pipeline"]):
                    docs.append(run_now(cat, job_type, params, progress))
                    if docs[-1]["status"] == "interrupted":
                        break
        exit_if_stopped(docs)
    if fmt is Format.json:
        emit_json(docs if stage and len(stage) > 1 else docs[0])
        return
    for doc in docs:
        typer.echo(_summary(doc))
        _print_failures(doc)
    if any(d["status"] == "failed" for d in docs):
        raise typer.Exit(1)


def worker_command(
    catalog: CatalogOpt = None,
    once: Annotated[bool, typer.Option("--once", help="Exit when the queue is empty")] = False,
    poll_s: Annotated[float, typer.Option("--poll", help="Seconds between looks at an empty queue")] = 1.0,
    workers: Annotated[int | None, typer.Option("--workers", help="Worker processes (default: all cores)")] = None,
    scheduler: Scheduler = None,
) -> None:
    """Run queued jobs (and resume interrupted ones) until stopped."""
    with errors_to_exit():
        from lumina.catalog.db import open_catalog
        from lumina.pipeline.jobs import work

        with open_catalog(catalog, create=False, overrides={"workers": workers, "dask_scheduler": scheduler}) as cat:
            with stoppable(cat.path):  # Ctrl-C or SIGTERM: the current job stops after its batch, resumable
                work(cat, once=once, poll_s=poll_s, on_job=lambda d: typer.echo(_summary(d)),
                     on_wait=lambda message: typer.echo(f"{message}; waiting for it", err=True))


@app.callback()
def list_command(
    ctx: typer.Context,
    catalog: CatalogOpt = None,
    status: Annotated[str | None, typer.Option("--status", help="Only jobs with this status")] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many (1-500)")] = 50,
    fmt: Annotated[Format, typer.Option("--format", help="Output format")] = Format.table,
) -> None:
    """List jobs, newest first."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = catalog
        return
    with errors_to_exit():
        from lumina.pipeline.jobs import list_jobs

        doc = on_catalog(catalog, lambda cat: list_jobs(cat, status, limit))
    if fmt is Format.json:
        emit_json(doc)
        return
    for j in doc["items"]:
        typer.echo(f"{_summary(j)}  created {j['created_at']}")
    typer.echo(f"{doc['total']} jobs")


@app.command("show")
def show_command(
    ctx: typer.Context,
    job_id: Annotated[int, typer.Argument(help="Job id")],
    catalog: CatalogOpt = None,
    fmt: Annotated[Format, typer.Option("--format", help="Output format")] = Format.table,
) -> None:
    """One job with its per-stage counts and failures (path, stage, kind, message)."""
    with errors_to_exit():
        from lumina.pipeline.jobs import get

        doc = on_catalog(catalog or ctx.obj, lambda cat: get(cat, job_id))
    if fmt is Format.json:
        emit_json(doc)
        return
    typer.echo(_summary(doc))
    for name, c in doc["stages"].items():
        typer.echo(f"  {name}: {c['ok']} ok, {c['failed']} failed, {c['skipped']} skipped")
    _print_failures(doc)


@app.command("submit")
def submit_command(
    ctx: typer.Context,
    job_type: Annotated[str, typer.Argument(help="A stage name, pipeline or scan")],
    catalog: CatalogOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Re-run even what is up to date")] = False,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Re-run stages that failed before")] = False,
    fmt: Annotated[Format, typer.Option("--format", help="Output format")] = Format.table,
) -> None:
    """Queue a job for `lumina worker` (or `lumina serve`)."""
    with errors_to_exit():
        from lumina.pipeline.jobs import submit

        doc = on_catalog(catalog or ctx.obj, lambda cat: submit(cat, job_type, {"force": force, "retry_failed": retry_failed}))
    emit_json(doc) if fmt is Format.json else typer.echo(f"queued job {doc['id']} ({doc['type']})")


@app.command("cancel")
def cancel_command(
    ctx: typer.Context,
    job_id: Annotated[int, typer.Argument(help="Job id")],
    catalog: CatalogOpt = None,
) -> None:
    """Cancel a queued job, or stop a running one after its current batch (committed work stays)."""
    with errors_to_exit():
        from lumina.pipeline.jobs import cancel

        doc = on_catalog(catalog or ctx.obj, lambda cat: cancel(cat, job_id))
    typer.echo(f"job {doc['id']}: {'cancel requested' if doc['status'] == 'running' else doc['status']}")
