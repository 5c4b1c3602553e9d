"""The REST API: a thin FastAPI layer over the library the CLI uses, one router per resource
(``lumina/api/routers/``), shared dependencies in ``lumina/api/deps.py``; the web UI
(``lumina.web``) is served by the same app.

Security defaults: every endpoint except ``/health`` (``/docs`` and ``/openapi.json`` included)
needs ``Authorization: Bearer <token>`` (``LUMINA_API_TOKEN``, or a token generated on first start
into ``DIR/api-token`` with mode 0600) or a web session cookie (``/login``; CSRF token on writes); no CORS unless ``LUMINA_API_CORS_ORIGINS`` lists origins;
request bodies are limited to ``MAX_BODY_BYTES`` and pages to 500 items. Every error has the shape
``{"error": {"code", "message"}}``: 401 no or wrong token, 404 unknown id, 409 conflict (a job of that
type already queued or running, a write the library does not allow), 413 body too large, 422 bad
or unknown parameters, 500 a bug.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from lumina import __version__
from lumina.api.deps import MAX_BODY_BYTES, ApiError, BodyLimit, error_response, known_query, load_token
from lumina.api.registry import Registry
from lumina.api.routers import bursts, catalogs, duplicates, gaps, images, jobs as jobs_router, service
from lumina.errors import CatalogError, ConfigError, ConflictError, LuminaError, NotFoundError
from lumina.pipeline import jobs

__all__ = ["create_app", "load_token"]
log = logging.getLogger("lumina.api")
ROUTERS = (service, catalogs, gaps, jobs_router, images, duplicates, bursts)


class AsciiJSONResponse(JSONResponse):
    """JSON with every non-ASCII character escaped, as the CLI writes it: a file name that is not
    UTF-8 keeps its bytes as surrogate escapes (``\\udcXX``) instead of failing to encode (a 500).
    Set on every router's routes (a response class also turns off FastAPI's pydantic fast path,
    which cannot encode such names)."""

    def render(self, content) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


def create_app(home: Path, token: str | None = None, worker: bool = True, overrides: dict | None = None) -> FastAPI:
    """The application serving the catalog folder ``home`` (and the catalogs created under it).

    Args:
        token: the bearer token (default: ``load_token(home)``).
        worker: run queued jobs in a background thread of this process.
    """
    registry = Registry(home, overrides)
    stop = threading.Event()

    def work_loop() -> None:
        while not stop.is_set():
            try:
                for cid in registry.ids():
                    try:
                        jobs.work(registry.get(cid), once=True, stop=stop)
                    except CatalogError:  # busy (a CLI scan or run), deleted meanwhile: next round
                        pass
            except Exception:  # noqa: BLE001 - the worker must outlive any one catalog's trouble
                log.exception("job worker: unexpected error; retrying")
            stop.wait(0.5)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        thread = threading.Thread(target=work_loop, name="lumina-worker", daemon=True) if worker else None
        if thread:
            thread.start()
        yield
        stop.set()
        if thread:
            await run_in_threadpool(thread.join, 60)
        registry.close()

    app = FastAPI(title="Lumina", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None, dependencies=[Depends(known_query)])
    app.state.registry = registry
    app.state.token = token or load_token(home)[0]

    origins = [o.strip() for o in os.environ.get("LUMINA_API_CORS_ORIGINS", "").split(",") if o.strip()]
    if origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["*"],
                           allow_headers=["Authorization", "Content-Type"])

    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError):
        return error_response(exc.status, exc.code, exc.message)

    @app.exception_handler(LuminaError)
    async def lumina_error(_: Request, exc: LuminaError):
        if isinstance(exc, NotFoundError):
            return error_response(404, "not_found", str(exc))
        if isinstance(exc, ConflictError):
            return error_response(409, "conflict", str(exc))
        if isinstance(exc, ConfigError):
            return error_response(422, "invalid", str(exc))
        if isinstance(exc, CatalogError):
            return error_response(409, "catalog_busy", str(exc))
        return error_response(500, "error", str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()))
        return error_response(422, "invalid", f"{where}: {first.get('msg', 'invalid request')}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException):
        if isinstance(exc.__cause__, ApiError):  # raised while FastAPI read the body (BodyLimit)
            return error_response(exc.__cause__.status, exc.__cause__.code, exc.__cause__.message)
        if exc.status_code == 400:  # a body FastAPI could not parse (malformed or too deeply nested JSON)
            return error_response(422, "invalid", f"request body: {exc.detail}")
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def bug(_: Request, exc: Exception):
        return error_response(500, "internal_error", f"{type(exc).__name__}: {exc}")

    for module in ROUTERS:
        app.include_router(module.router, default_response_class=AsciiJSONResponse)
    from lumina.web.routes import mount  # the web UI: pages, sign-in, static files, offline tiles and docs

    mount(app)
    return app
