"""``lumina organise --to DIR --layout "{year}/{year}-{month}/{name}" [--apply] [--move] [--undo]``."""

from __future__ import annotations

from typing import Annotated

import typer

from lumina.cli.common import CatalogOpt, Format, emit_json, err, errors_to_exit, progress_bar

DEFAULT_LAYOUT = "{year}/{year}-{month}/{name}"


def organise_command(
    to: Annotated[str | None, typer.Option("--to", help="Folder to organise into (outside every source)")] = None,
    layout: Annotated[str, typer.Option("--layout", help="Relative path with placeholders: {year} {month} {day} "
                                                         "{country} {region} {city} {camera} {make} {model} "
                                                         "{asset_id} {short_id} {name} {stem} {ext}")] = DEFAULT_LAYOUT,
    apply_plan: Annotated[bool, typer.Option("--apply", help="Act on the plan (without it, only print it)")] = False,
    move: Annotated[bool, typer.Option("--move", help="Move (copy, verify, then remove the original) instead of copy")] = False,
    rejected: Annotated[str, typer.Option("--rejected", help="Rejected copies: trash, skip or include")] = "trash",
    undo_plan: Annotated[bool, typer.Option("--undo", help="Reverse the latest applied organise plan")] = False,
    catalog: CatalogOpt = None,
    fmt: Annotated[Format, typer.Option("--format", help="Output format")] = Format.table,
) -> None:
    """Plan (default), apply, resume or undo organising the library into a folder layout; every copy is
    verified (size + SHA-256) before any original is removed, and the catalog follows each file."""
    with errors_to_exit():
        from lumina.catalog.db import open_catalog
        from lumina.errors import ConfigError
        from lumina.pipeline import organise

        show = fmt is Format.table and err.is_terminal
        with open_catalog(catalog, create=False) as cat:
            if undo_plan:
                with progress_bar(show) as progress:
                    out = organise.undo(cat, progress=progress)
            elif not to:
                raise ConfigError("--to DIR is required (or --undo)")
            elif apply_plan:
                with progress_bar(show) as progress:
                    out = organise.apply(cat, to, layout, move, rejected, progress)
            else:
                doc = organise.plan(cat, to, layout, move, rejected)
        if undo_plan:
            if fmt is Format.json:
                emit_json(out)
                return
            for p in out["problems"]:
                err.print(f"warning: {p['path']}: {p['reason']}", markup=False, highlight=False)
            typer.echo(f"undid organise plan {out['plan']}: {out['undone']} steps reversed")
            return
        if apply_plan:
            if fmt is Format.json:
                emit_json(out)
                return
            for sk in out["skipped"]:
                typer.echo(f"skipped {sk['src']}: {sk['reason']}")
            typer.echo(f"organise plan {out['plan']} {'resumed and ' if out['resumed'] else ''}applied: "
                       f"{out['done']} steps done, {len(out['skipped'])} skipped (undo: lumina organise --undo)")
            return
    if fmt is Format.json:
        emit_json({k: v for k, v in doc.items() if k not in ("target_bytes", "ops")} | {"ops": [
            {"seq": o["seq"], "kind": o["kind"], "action": o["action"], "src": _s(o["src_bytes"]),
             "dst": _s(o["dst_bytes"]), "size_bytes": o["size_bytes"], "reason": o["reason"]} for o in doc["ops"]]})
        return
    for o in doc["ops"]:
        arrow = f" -> {_s(o['dst_bytes'])}" if o["dst_bytes"] and o["action"] not in ("skip", "remove") else ""
        typer.echo(f"{o['action']:<6} {_s(o['src_bytes'])}{arrow}" + (f"  ({o['reason']})" if o["reason"] else ""))
    parts = [f"{a} {t['files']} files ({t['bytes'] / 2**20:.1f} MiB)" for a, t in doc["totals"].items() if a != "renamed"]
    typer.echo(f"plan into {doc['target']}: {', '.join(parts) or 'nothing to do'}; {doc['totals']['renamed']} renamed "
               "to avoid a collision. Nothing was changed: add --apply to act.")


def _s(path: bytes | None) -> str:
    from lumina.pipeline.scan import display

    return display(path) if path else ""
