"""``lumina serve --catalog DIR [--host 127.0.0.1] [--port 8000]``."""

from __future__ import annotations

from typing import Annotated

import typer

from lumina.cli.common import CatalogOpt, errors_to_exit


def serve_command(
    catalog: CatalogOpt = None,
    host: Annotated[str, typer.Option("--host", help="Interface to listen on (default: this machine only)")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port")] = 8000,
    worker: Annotated[bool, typer.Option("--worker/--no-worker", help="Run queued jobs in this process")] = True,
) -> None:
    """Serve the web UI (at /) and the REST API (OpenAPI at /docs) for the catalog folder DIR, with a job worker.

    Every endpoint but /health needs `Authorization: Bearer <token>` or a web session (sign in at
    /login with the token): LUMINA_API_TOKEN, or a token generated on first start into
    DIR/api-token (mode 0600) and printed once.
    """
    with errors_to_exit():
        import uvicorn

        from lumina.api.app import create_app, load_token
        from lumina.catalog.db import catalog_dir_from

        home = catalog_dir_from(catalog)
        token, created = load_token(home)
        if created:
            typer.echo(f"API token (shown once; also in {home / 'api-token'}, mode 0600): {token}")
        app = create_app(home, token, worker=worker)
        typer.echo(f"Lumina on http://{host}:{port}/  (web UI: sign in with the API token; API docs: /docs)")
        uvicorn.run(app, host=host, port=port, log_level="warning")
