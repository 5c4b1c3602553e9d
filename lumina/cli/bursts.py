"""``lumina bursts [--run] [--all-frames]``, ``lumina bursts apply BURST --keep ASSET``,
``lumina bursts apply --all-recommended``."""

from __future__ import annotations

from typing import Annotated

import typer

from lumina.cli.common import CatalogOpt, Format, emit_json, errors_to_exit

app = typer.Typer(help="Bursts stacked by camera, capture time and pixels, with the best frame.",
                  invoke_without_command=True, no_args_is_help=False)


@app.callback()
def list_bursts(
    ctx: typer.Context,
    catalog: CatalogOpt = None,
    run: Annotated[bool, typer.Option("--run", help="Recompute before listing")] = False,
    all_frames: Annotated[bool, typer.Option("--all-frames", help="List every frame, not one cover per burst")] = False,
    fmt: Annotated[Format, typer.Option("--format", help="Output format")] = Format.table,
) -> None:
    """List the bursts of the current generation (one cover per burst; JSON has every frame)."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = catalog  # `lumina bursts --catalog DIR apply ...`: the subcommand's default
        return
    with errors_to_exit():
        from lumina.catalog.db import open_catalog
        from lumina.pipeline.bursts_run import bursts_report, run_bursts

        with open_catalog(catalog, create=False) as cat:
            if run:
                run_bursts(cat, force=True)
            with cat.session() as s:
                doc = bursts_report(s)
    if fmt is Format.json:
        emit_json(doc)
        return
    if doc["generation"] is None:
        typer.echo("no burst detection has run yet: lumina bursts --run")
        return
    for b in doc["bursts"]:
        cover = b["best"]["paths"][0] if b["best"]["paths"] else b["best"]["asset_id"]
        typer.echo(f"burst {b['id']} [{b['camera']}] {b['start']} .. {b['end']}  {len(b['frames'])} frames"
                   f"{'  (applied)' if b['applied'] else ''}")
        typer.echo(f"  best  {cover}  ({b['best']['reason']})")
        if all_frames:
            for f in b["frames"]:
                mark = "*" if f["asset_id"] == b["best"]["asset_id"] else " "
                typer.echo(f"  {mark} {f['capture_time']}  {f['paths'][0] if f['paths'] else f['asset_id']}"
                           f"  sharpness {f['quality'].get('sharpness')}")
    typer.echo(f"{len(doc['bursts'])} bursts (generation {doc['generation']})")


@app.command("apply")
def apply_command(
    ctx: typer.Context,
    burst: Annotated[int | None, typer.Argument(help="Burst id from `lumina bursts`")] = None,
    keep: Annotated[str | None, typer.Option("--keep", help="Frame to keep: asset id (or unique prefix) or path")] = None,
    all_recommended: Annotated[bool, typer.Option("--all-recommended", help="Keep every burst's best frame")] = False,
    trash: Annotated[str | None, typer.Option("--trash", help="Move the rejected frames' files to this trash folder "
                                                               "(verified copies; `lumina trash restore` undoes it)")] = None,
    catalog: CatalogOpt = None,
    fmt: Annotated[Format, typer.Option("--format", help="Output format")] = Format.table,
) -> None:
    """Keep one frame per burst: the others are marked rejected in the catalog (files move only with --trash)."""
    with errors_to_exit():
        from lumina.catalog.db import open_catalog
        from lumina.errors import ConfigError
        from lumina.pipeline.bursts_run import apply

        if burst is not None and keep is None:
            raise ConfigError("BURST needs --keep ASSET (or use --all-recommended)")
        with open_catalog(catalog or ctx.obj, create=False) as cat:
            out = apply(cat, burst, keep, all_recommended, trash)
    if fmt is Format.json:
        emit_json(out)
    else:
        for a in out["applied"]:
            typer.echo(f"burst {a['burst']}: kept {a['kept']}; rejected {len(a['rejected'])} frames")
        if trash:
            typer.echo(f"moved {len(out['trashed'])} files to the trash {trash}")
