"""What every router shares: the error type and shape, bearer-token auth, the body-size limit, the
token file, and look-ups of catalogs, jobs and assets through the app's registry.

Every error has the shape ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import hmac
import os
import re
import secrets
from pathlib import Path

from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from lumina.api.registry import Registry
from lumina.api.sessions import COOKIE
from lumina.catalog import queries
from lumina.catalog.db import Catalog
from lumina.errors import NotFoundError

MAX_BODY_BYTES = 1 << 20
TOKEN_FILE = "api-token"
ASSET_ID = "[0-9a-f]{8,64}"  # an asset id or a prefix of one (whole-string matches only)
JOB_ID = re.compile(r"([a-z0-9][a-z0-9-]*)-(\d{1,12})")  # used with fullmatch


def load_token(home: Path) -> tuple[str, bool]:
    """The bearer token and whether it was just generated: ``LUMINA_API_TOKEN`` when set, else
    ``home/api-token`` (created with 32 random bytes, URL-safe base64, mode 0600)."""
    if os.environ.get("LUMINA_API_TOKEN"):
        return os.environ["LUMINA_API_TOKEN"], False
    path = home / TOKEN_FILE
    if path.exists():
        return path.read_text().strip(), False
    home.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token, True


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        self.status, self.code, self.message = status, code, message


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status,
                        headers={"WWW-Authenticate": "Bearer"} if status == 401 else None)


class BodyLimit:
    """ASGI middleware: request bodies over ``limit`` bytes get 413, whether announced by
    Content-Length or sent chunked."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            return await error_response(413, "too_large", f"request body over {self.limit} bytes")(scope, receive, send)
        seen = 0

        async def limited():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise ApiError(413, "too_large", f"request body over {self.limit} bytes")
            return message

        await self.app(scope, limited, send)


_bearer = HTTPBearer(auto_error=False)
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def auth(request: Request, creds: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> None:  # noqa: B008
    """Raises ApiError 401 unless the request carries the app's bearer token or a live web session
    cookie; 403 for a state-changing request by session without its CSRF token (see
    lumina.api.sessions)."""
    token = request.app.state.token
    if creds is None and COOKIE in request.cookies:
        csrf = request.app.state.sessions.csrf(request.cookies[COOKIE])
        if csrf is None:
            raise ApiError(401, "unauthorized", "session expired or unknown: sign in again at /login")
        sent = request.headers.get("x-csrf-token", "")
        if request.method in UNSAFE_METHODS and not hmac.compare_digest(sent.encode(), csrf.encode()):
            raise ApiError(403, "csrf", "missing or wrong X-CSRF-Token header for this session")
        return
    if creds is None or creds.scheme.lower() != "bearer":
        raise ApiError(401, "unauthorized", "missing bearer token (Authorization: Bearer <token>)")
    if not hmac.compare_digest(creds.credentials.encode(), token.encode()):
        raise ApiError(401, "unauthorized", "wrong bearer token")


_QUERY_NAMES: dict = {}  # id(route dependant) -> the query parameter names it declares


def known_query(request: Request) -> None:
    """Raises ApiError 422 for a query parameter an ``/api/`` endpoint does not declare (a misspelt
    filter must not silently return everything)."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None or not request.url.path.startswith("/api/"):  # web pages read their own query in script
        return
    allowed = _QUERY_NAMES.get(id(dependant))
    if allowed is None:
        names, todo = set(), [dependant]
        while todo:  # the endpoint's own parameters and those of its dependencies
            d = todo.pop()
            names.update(p.alias for p in d.query_params)
            todo.extend(d.dependencies)
        allowed = _QUERY_NAMES[id(dependant)] = frozenset(names)
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise ApiError(422, "invalid", f"unknown query parameter(s) {', '.join(unknown)}; "
                                       f"this endpoint takes: {', '.join(sorted(allowed)) or 'none'}")


guarded = [Depends(auth)]


def registry(request: Request) -> Registry:
    return request.app.state.registry


def job_doc(catalog_id: str, doc: dict) -> dict:
    """A job's JSON with its API id (``<catalog>-<n>``) and ``catalog_id``."""
    return {**doc, "id": f"{catalog_id}-{doc['id']}", "catalog_id": catalog_id}


def job_ref(reg: Registry, job_id: str) -> tuple[str, int]:
    """``(catalog_id, job number)`` of an API job id; ApiError 404 when malformed or unknown."""
    m = JOB_ID.fullmatch(job_id)
    if not m:
        raise ApiError(404, "not_found", f"no job {job_id!r} (ids look like default-12)")
    reg.get(m.group(1))
    return m.group(1), int(m.group(2))


def find_asset(reg: Registry, asset_id: str) -> tuple[str, Catalog, dict]:
    """``(catalog_id, catalog, lumina show JSON)`` of an asset id or unique prefix, searched in
    every catalog; ApiError 404 when malformed or unknown."""
    if not re.fullmatch(ASSET_ID, asset_id):
        raise ApiError(404, "not_found", "no such image (asset ids are 8-64 lowercase hex digits)")
    for cid in reg.ids():
        cat = reg.get(cid)
        with cat.session() as s:
            try:
                return cid, cat, queries.describe(s, asset_id)
            except NotFoundError:
                continue
    raise ApiError(404, "not_found", f"no image {asset_id}")
