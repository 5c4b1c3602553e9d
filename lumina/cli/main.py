"""The ``lumina`` Typer application: registers one function per command."""

from __future__ import annotations

import typer

from lumina.cli.bursts import app as bursts_app
from lumina.cli.duplicates import app as duplicates_app
from lumina.cli.evaluate import evaluate_command
from lumina.cli.gaps import gaps_command
from lumina.cli.init import init_command
from lumina.cli.jobs import app as jobs_app
from lumina.cli.jobs import run_command, worker_command
from lumina.cli.organise import organise_command
from lumina.cli.scan import scan_command
from lumina.cli.serve import serve_command
from lumina.cli.set_date import set_date_command
from lumina.cli.show import show_command
from lumina.cli.sidecars import app as sidecars_app
from lumina.cli.trash import app as trash_app
from lumina.cli.watch import watch_command
from lumina.cli.similar import search_command, similar_command
from lumina.cli.tags import tags_command

app = typer.Typer(name="lumina", help="Catalog a photo library in place and report what it holds and lacks.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


def _version(value: bool) -> None:
    if value:
        from lumina import __version__

        typer.echo(f"lumina {__version__}")
        raise typer.Exit()


@app.callback()
def _options(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                          help="Print the version and exit")) -> None:
    """Catalog a photo library in place and report what it holds and lacks."""


app.command("scan")(scan_command)
app.command("show")(show_command)
app.command("gaps")(gaps_command)
app.command("set-date")(set_date_command)
app.add_typer(bursts_app, name="bursts")
app.add_typer(duplicates_app, name="duplicates")
app.command("evaluate")(evaluate_command)
app.command("run")(run_command)
app.command("worker")(worker_command)
app.add_typer(jobs_app, name="jobs")
app.command("serve")(serve_command)
app.add_typer(sidecars_app, name="sidecars")
app.add_typer(trash_app, name="trash")
app.command("organise")(organise_command)
app.command("watch")(watch_command)

app.command("similar")(similar_command)
app.command("search")(search_command)
app.command("tags")(tags_command)
app.command("init")(init_command)


if __name__ == "__main__":
    app()
