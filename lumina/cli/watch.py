"""``lumina watch PATH… [--catalog DIR] [--poll]``."""

from __future__ import annotations

from typing import Annotated

import typer

from lumina.cli.common import CatalogOpt, errors_to_exit


def watch_command(
    paths: Annotated[list[str], typer.Argument(help="Library folders to watch")],
    catalog: CatalogOpt = None,
    poll: Annotated[bool, typer.Option("--poll", help="Poll every watch_rescan_s instead of using change events")] = False,
    settle_s: Annotated[float | None, typer.Option("--settle-s", help="Seconds a file must stay unchanged "
                                                                     "before it is catalogued")] = None,
) -> None:
    """Catalogue new and changed photos as they arrive (once complete); deletions mark files missing.
    Stops with Ctrl-C."""
    with errors_to_exit():
        from lumina.catalog.db import open_catalog
        from lumina.pipeline.watch import Watcher

        cat = open_catalog(catalog, overrides={"settle_s": settle_s})
        watcher = Watcher(cat, paths, echo=typer.echo, force_polling=poll)
        try:
            stats = watcher.run()
        except KeyboardInterrupt:
            stats = watcher.stats
        cat.close()
    typer.echo(f"stopped: {stats.catalogued} files catalogued, {stats.missing} marked missing in {stats.scans} scans")
