"""``lumina trash list|restore|empty``: the one trash of every command that removes files."""

from __future__ import annotations

from typing import Annotated

import typer

from lumina.cli.common import CatalogOpt, Format, emit_json, errors_to_exit, on_catalog

app = typer.Typer(help="Files removed by Lumina (verified copies): list, restore, empty.", no_args_is_help=True)


def _print(entries: list[dict], verb: str) -> None:
    for e in entries:
        typer.echo(f"{e['id']:>5}  {e['status']:<8} {e['original_path']}  ({e['size_bytes']} bytes; {e['reason']})")
    typer.echo(f"{len(entries)} {verb}")


@app.command("list")
def list_command(
    catalog: CatalogOpt = None,
    all_entries: Annotated[bool, typer.Option("--all", help="Also restored and emptied entries")] = False,
    fmt: Annotated[Format, typer.Option("--format", help="Output format")] = Format.table,
) -> None:
    """Files in the trash, newest first, with their original paths."""
    with errors_to_exit():
        from lumina.pipeline.trash import list_trash

        entries = on_catalog(catalog, lambda cat: list_trash(cat, None if all_entries else "trashed"))
    emit_json(entries) if fmt is Format.json else _print(entries, "entries")


@app.command("restore")
def restore_command(
    ids: Annotated[list[int] | None, typer.Argument(help="Entry ids from `lumina trash list`")] = None,
    all_entries: Annotated[bool, typer.Option("--all", help="Restore every trashed entry")] = False,
    catalog: CatalogOpt = None,
    fmt: Annotated[Format, typer.Option("--format", help="Output format")] = Format.table,
) -> None:
    """Copy files back to their original paths (verified), then drop them from the trash."""
    with errors_to_exit():
        from lumina.errors import ConfigError
        from lumina.pipeline.trash import restore

        if not ids and not all_entries:
            raise ConfigError("give entry ids (see `lumina trash list`) or --all")
        entries = on_catalog(catalog, lambda cat: restore(cat, ids or None))
    emit_json(entries) if fmt is Format.json else _print(entries, "restored")


@app.command("empty")
def empty_command(
    ids: Annotated[list[int] | None, typer.Argument(help="Entry ids; none: every trashed entry")] = None,
    older_than_days: Annotated[float | None, typer.Option("--older-than-days", help="Only entries trashed this many days ago or more")] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do it (without it, only list what would be deleted)")] = False,
    catalog: CatalogOpt = None,
    fmt: Annotated[Format, typer.Option("--format", help="Output format")] = Format.table,
) -> None:
    """Delete trash copies for good (asks for --yes)."""
    with errors_to_exit():
        from lumina.pipeline.trash import empty

        entries = on_catalog(catalog, lambda cat: empty(cat, ids or None, older_than_days, dry_run=not yes))
    if fmt is Format.json:
        emit_json(entries)
    else:
        _print(entries, "deleted for good" if yes else "would be deleted; add --yes to delete them")
