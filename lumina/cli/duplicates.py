"""``lumina duplicates [--run]``, ``lumina duplicates resolve GROUP --keep ASSET [--trash DIR]``,
``lumina duplicates not-duplicates ASSET ASSET``."""

from __future__ import annotations

from typing import Annotated

import typer

from lumina.cli.common import CatalogOpt, Format, emit_json, errors_to_exit

app = typer.Typer(help="Exact and near-duplicate groups, with the copy to keep.", invoke_without_command=True,
                  no_args_is_help=False)


@app.callback()
def list_groups(
    ctx: typer.Context,
    catalog: CatalogOpt = None,
    run: Annotated[bool, typer.Option("--run", help="Recompute before listing")] = False,
    radius: Annotated[int | None, typer.Option("--similarity-threshold", "--radius",
                                               help="Hamming radius in bits of the candidate search (0-32)")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="Output format")] = Format.table,
) -> None:
    """List the duplicate groups of the current generation."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = catalog  # `lumina duplicates --catalog DIR resolve ...`: the subcommand's default
        return
    with errors_to_exit():
        from lumina.catalog.db import open_catalog
        from lumina.pipeline.duplicates_run import run_duplicates
        from lumina.pipeline.embedding_pairs_run import duplicates_with_derivative_pairs

        with open_catalog(catalog, create=False, overrides={"duplicate_radius_bits": radius}) as cat:
            if run or radius is not None:
                run_duplicates(cat, force=True)
            with cat.session() as s:
                doc = duplicates_with_derivative_pairs(s)
    if fmt is Format.json:
        emit_json(doc)
        return
    if doc["generation"] is None:
        typer.echo("no duplicate detection has run yet: lumina duplicates --run")
        return
    for g in doc["groups"]:
        typer.echo(f"group {g['id']} [{g['class']}] {g['reason']}{'  (resolved)' if g['resolved'] else ''}")
        typer.echo(f"  keep  {g['keeper']['paths'][0] if g['keeper']['paths'] else g['keeper']['asset_id']}"
                   f"  ({g['keeper']['reason']})")
        for m in g["members"]:
            if m["class"] != "keeper":
                d = m["distances"]
                signals = ", ".join(f"{k} {d[k]}" for k in ("phash", "dhash", "mad", "crop_mad", "crop_scale", "crop_local_mad")
                                    if d.get(k) is not None)
                typer.echo(f"  dup   {m['paths'][0] if m['paths'] else m['asset_id']}  ({m['class']}; {signals or 'sha256'})")
    for g in doc["similar_sets"]:
        typer.echo(f"similar-set {g['id']}: {g['reason']}")
    for g in doc["live_photos"]:
        still, video = (m["paths"][0] if m["paths"] else m["asset_id"] for m in g["members"])
        typer.echo(f"live photo {g['id']}: {still} + {video} ({g['reason']})")
    typer.echo(f"{len(doc['groups'])} groups, {len(doc['live_photos'])} Live Photo links, "
               f"{len(doc['similar_sets'])} similar-sets, {len(doc['derivatives'])} sets of derivatives (edits, strong crops) "
               f"(generation {doc['generation']})")
    if doc["derivative_pairs"]:
        typer.echo(f"{len(doc['derivative_pairs'])} derivative pairs (edits found through image embeddings; "
                   "--format json lists them)")


@app.command("resolve")
def resolve_command(
    ctx: typer.Context,
    group: Annotated[int, typer.Argument(help="Group id from `lumina duplicates`")],
    keep: Annotated[str, typer.Option("--keep", help="Asset id (or unique prefix) or path to keep")],
    trash: Annotated[str | None, typer.Option("--trash", help="Move the other files here (copied, verified, then removed)")] = None,
    catalog: CatalogOpt = None,
    fmt: Annotated[Format, typer.Option("--format", help="Output format")] = Format.table,
) -> None:
    """Keep one copy: the others are marked rejected in the catalog; files move only with --trash."""
    with errors_to_exit():
        from lumina.catalog.db import open_catalog
        from lumina.pipeline.duplicates_run import resolve

        with open_catalog(catalog or ctx.obj, create=False) as cat:
            out = resolve(cat, group, keep, trash)
    if fmt is Format.json:
        emit_json(out)
    else:
        typer.echo(f"kept {out['kept']}; rejected {len(out['rejected'])} copies; merged {', '.join(out['merged']) or 'nothing'}"
                   + (f"; moved {len(out['trashed'])} files to {trash}" if trash else ""))


@app.command("not-duplicates")
def not_duplicates_command(
    ctx: typer.Context,
    asset_a: Annotated[str, typer.Argument(help="Asset id")],
    asset_b: Annotated[str, typer.Argument(help="Asset id")],
    catalog: CatalogOpt = None,
) -> None:
    """Record that two assets are not duplicates (respected by every later run)."""
    with errors_to_exit():
        from lumina.catalog.db import open_catalog
        from lumina.pipeline.duplicates_run import not_duplicates

        with open_catalog(catalog or ctx.obj, create=False) as cat:
            pending = not_duplicates(cat, asset_a, asset_b)
    typer.echo("recorded: not duplicates" if pending is None else
               f"recorded: not duplicates (a scan or job is writing: queued job {pending} applies it)")
