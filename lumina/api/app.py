"""The REST API: a thin FastAPI layer over the library the CLI uses.

Security defaults: every endpoint except ``/health`` (``/docs`` and ``/openapi.json`` included)
needs ``Authorization: Bearer <token>`` (``LUMINA_API_TOKEN``, or a token generated on first start
into ``DIR/api-token`` with mode 0600); no CORS unless ``LUMINA_API_CORS_ORIGINS`` lists origins;
request bodies are limited to ``MAX_BODY_BYTES`` and pages to 500 items. Every error has the shape
``{"error": {"code", "message"}}``: 401 no or wrong token, 404 unknown id, 409 conflict (a job of that
type already queued or running, a write the library does not allow), 413 body too large, 422 bad
parameters, 500 a bug.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import re
import secrets
import threading
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Body, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.concurrency import run_in_threadpool
from sqlalchemy import select

from lumina import __version__
from lumina.api.registry import DEFAULT, Registry, library_roots
from lumina.analysis.gaps import gap_report
from lumina.catalog import queries
from lumina.catalog.models import Asset, FileInstance, Thumbnail, UserOverride
from lumina.errors import CatalogError, ConfigError, ConflictError, LuminaError, NotFoundError
from lumina.pipeline import bursts_run, duplicates_run, jobs
from lumina.pipeline.overrides import parse_capture_time, set_override
from lumina.pipeline.scan import now

log = logging.getLogger("lumina.api")
MAX_BODY_BYTES = 1 << 20
TOKEN_FILE = "api-token"
ALIASES = {"detect-duplicates": "duplicates", "detect-bursts": "bursts"}  # ``thumbnails`` is a stage name
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


def _writable(path: str) -> bool:
    """Whether a library file could be written: a read-only mount or no write bit for anyone says
    no (``os.access`` says yes to root whatever the mode)."""
    try:
        st = os.stat(path)
        return not (os.statvfs(path).f_flag & os.ST_RDONLY) and bool(st.st_mode & 0o222)
    except OSError:
        return False


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
            return await _error(413, "too_large", f"request body over {self.limit} bytes")(scope, receive, send)
        seen = 0

        async def limited():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise ApiError(413, "too_large", f"request body over {self.limit} bytes")
            return message

        await self.app(scope, limited, send)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        self.status, self.code, self.message = status, code, message


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status,
                        headers={"WWW-Authenticate": "Bearer"} if status == 401 else None)


class CatalogIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    sources: list[str] = Field(default_factory=list, max_length=100)


class JobIn(BaseModel):
    catalog_id: str = Field(default=DEFAULT, max_length=64)
    force: bool = False
    retry_failed: bool = False
    similarity_threshold: int | None = Field(default=None, ge=0, le=32, description="Hamming radius (bits), duplicates")


class ImagePatch(BaseModel):
    capture_time: str | None = Field(default=None, max_length=40, description="ISO 8601 local time, optional offset")
    rating: int | None = Field(default=None, ge=0, le=5)
    keywords: list[Annotated[str, Field(max_length=200)]] | None = Field(default=None, max_length=200)
    status: Literal["active", "rejected"] | None = None
    write_to_file: bool = Field(default=False, description="Write into the photo or its sidecar (not supported: 409)")


class ResolveIn(BaseModel):
    keep: str = Field(min_length=1, max_length=4096)


class PairIn(BaseModel):
    asset_a: str = Field(pattern=f"^{ASSET_ID}$")  # pydantic's (Rust) regex: $ is the end of the text
    asset_b: str = Field(pattern=f"^{ASSET_ID}$")


def create_app(home: Path, token: str | None = None, worker: bool = True, overrides: dict | None = None) -> FastAPI:
    """The application serving the catalog folder ``home`` (and the catalogs created under it).

    Args:
        token: the bearer token (default: ``load_token(home)``).
        worker: run queued jobs in a background thread of this process.
    """
    registry = Registry(home, overrides)
    token = token or load_token(home)[0]
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

    bearer = HTTPBearer(auto_error=False)

    def auth(creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:  # noqa: B008
        if creds is None or creds.scheme.lower() != "bearer":
            raise ApiError(401, "unauthorized", "missing bearer token (Authorization: Bearer <token>)")
        if not hmac.compare_digest(creds.credentials.encode(), token.encode()):
            raise ApiError(401, "unauthorized", "wrong bearer token")

    app = FastAPI(title="Lumina", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None, dependencies=[])
    app.state.registry = registry
    guarded = [Depends(auth)]

    origins = [o.strip() for o in os.environ.get("LUMINA_API_CORS_ORIGINS", "").split(",") if o.strip()]
    if origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["*"],
                           allow_headers=["Authorization", "Content-Type"])

    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError):
        return _error(exc.status, exc.code, exc.message)

    @app.exception_handler(LuminaError)
    async def lumina_error(_: Request, exc: LuminaError):
        if isinstance(exc, NotFoundError):
            return _error(404, "not_found", str(exc))
        if isinstance(exc, ConflictError):
            return _error(409, "conflict", str(exc))
        if isinstance(exc, ConfigError):
            return _error(422, "invalid", str(exc))
        if isinstance(exc, CatalogError):
            return _error(409, "catalog_busy", str(exc))
        return _error(500, "error", str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()))
        return _error(422, "invalid", f"{where}: {first.get('msg', 'invalid request')}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException):
        if isinstance(exc.__cause__, ApiError):  # raised while FastAPI read the body (BodyLimit)
            return _error(exc.__cause__.status, exc.__cause__.code, exc.__cause__.message)
        if exc.status_code == 400:  # a body FastAPI could not parse (malformed or too deeply nested JSON)
            return _error(422, "invalid", f"request body: {exc.detail}")
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def bug(_: Request, exc: Exception):
        return _error(500, "internal_error", f"{type(exc).__name__}: {exc}")

    # ---- service -------------------------------------------------------------------------------
    from lumina.api.routers import search as search_router
    app.include_router(search_router.router(registry), dependencies=guarded)

    @app.get("/health", tags=["service"])
    def health() -> dict:
        """Liveness, without a token."""
        return {"status": "ok", "version": __version__}

    @app.get("/openapi.json", dependencies=guarded, include_in_schema=False)
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", dependencies=guarded, include_in_schema=False)
    def docs():
        from fastapi.openapi.docs import get_swagger_ui_html

        return get_swagger_ui_html(openapi_url="/openapi.json", title="Lumina API")

    # ---- catalogs ------------------------------------------------------------------------------
    @app.get("/api/catalogs", dependencies=guarded, tags=["catalogs"])
    def list_catalogs() -> dict:
        return {"items": [registry.describe(cid) for cid in registry.ids()]}

    @app.post("/api/catalogs", dependencies=guarded, tags=["catalogs"], status_code=201)
    def create_catalog(body: CatalogIn) -> dict:
        """A new catalog with these library folders (scan it with POST /api/catalogs/{id}/scan)."""
        return registry.create(body.name, body.sources)

    @app.get("/api/catalogs/{catalog_id}", dependencies=guarded, tags=["catalogs"])
    def get_catalog(catalog_id: str) -> dict:
        return registry.describe(catalog_id)

    @app.delete("/api/catalogs/{catalog_id}", dependencies=guarded, tags=["catalogs"], status_code=204)
    def delete_catalog(catalog_id: str) -> None:
        """Delete the catalog record and its derived files; photos are never touched."""
        registry.delete(catalog_id)

    @app.post("/api/catalogs/{catalog_id}/scan", dependencies=guarded, tags=["catalogs"], status_code=202)
    def scan_catalog(catalog_id: str) -> dict:
        """Queue a scan of the catalog's source folders."""
        return _job_doc(catalog_id, jobs.submit(registry.get(catalog_id), "scan"))

    @app.get("/api/catalogs/{catalog_id}/gaps", dependencies=guarded, tags=["gaps"])
    def gaps(catalog_id: str) -> dict:
        """The gap report (the JSON of ``lumina gaps --format json``)."""
        return gap_report(registry.get(catalog_id))

    @app.post("/api/catalogs/{catalog_id}/gaps/fill", dependencies=guarded, tags=["gaps"], status_code=202)
    def fill_gaps(catalog_id: str) -> dict:
        """Queue one job per stage with pending work, in the stage graph's order."""
        cat = registry.get(catalog_id)
        queued, skipped = [], []
        for step in gap_report(cat)["job_order"]:
            if step["available"] and step["pending"]:
                try:
                    queued.append(_job_doc(catalog_id, jobs.submit(cat, step["stage"])))
                except ConflictError as exc:
                    skipped.append({"stage": step["stage"], "reason": str(exc)})
        return {"jobs": queued, "skipped": skipped}

    # ---- jobs ----------------------------------------------------------------------------------
    def _job_doc(catalog_id: str, doc: dict) -> dict:
        return {**doc, "id": f"{catalog_id}-{doc['id']}", "catalog_id": catalog_id}

    def _job_ref(job_id: str) -> tuple[str, int]:
        m = JOB_ID.fullmatch(job_id)
        if not m:
            raise ApiError(404, "not_found", f"no job {job_id!r} (ids look like default-12)")
        registry.get(m.group(1))
        return m.group(1), int(m.group(2))

    @app.post("/api/jobs/{job_type}", dependencies=guarded, tags=["jobs"], status_code=202)
    def start_job(job_type: str, body: JobIn) -> dict:
        """Queue a job: a stage name, ``pipeline`` (fill every gap in order) or ``scan``; aliases
        ``detect-duplicates`` (with ``similarity_threshold``), ``detect-bursts``, ``thumbnails``."""
        kind = ALIASES.get(job_type, job_type)
        if kind not in jobs.job_types():
            raise ApiError(404, "not_found", f"no job type {job_type!r}; types: {', '.join(jobs.job_types())}")
        params: dict[str, Any] = {"force": body.force, "retry_failed": body.retry_failed}
        if body.similarity_threshold is not None:
            if kind != "duplicates":
                raise ApiError(422, "invalid", "similarity_threshold applies to detect-duplicates only")
            params["settings"] = {"duplicate_radius_bits": body.similarity_threshold}
        return _job_doc(body.catalog_id, jobs.submit(registry.get(body.catalog_id), kind, params))

    @app.get("/api/jobs", dependencies=guarded, tags=["jobs"])
    def list_all_jobs(status: Annotated[str | None, Query(max_length=16)] = None,
                      limit: Annotated[int, Query(ge=1, le=500)] = 50,
                      offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> dict:
        """Jobs of every catalog, newest first, paged."""
        if status is not None and status not in jobs.STATUSES:
            raise ApiError(422, "invalid", f"unknown job status {status!r}; statuses: {', '.join(jobs.STATUSES)}")
        items, total = [], 0
        for cid in registry.ids():
            newest, count = jobs.newest(registry.get(cid), status, offset + limit)
            items += [_job_doc(cid, j) for j in newest]
            total += count
        items.sort(key=lambda j: j["created_at"], reverse=True)
        return {"items": items[offset:offset + limit], "total": total}

    @app.get("/api/jobs/{job_id}", dependencies=guarded, tags=["jobs"])
    def get_job(job_id: str) -> dict:
        """One job with progress, per-stage counts and failures (path, stage, kind, message)."""
        cid, n = _job_ref(job_id)
        return _job_doc(cid, jobs.get(registry.get(cid), n))

    @app.delete("/api/jobs/{job_id}", dependencies=guarded, tags=["jobs"])
    def cancel_job(job_id: str) -> dict:
        """Cancel a queued job, or stop a running one after its current batch."""
        cid, n = _job_ref(job_id)
        return _job_doc(cid, jobs.cancel(registry.get(cid), n))

    @app.get("/api/jobs/{job_id}/events", dependencies=guarded, tags=["jobs"])
    async def job_events(job_id: str) -> StreamingResponse:
        """Server-sent events: ``progress`` with the job JSON whenever it changes, then ``end``."""
        cid, n = _job_ref(job_id)
        cat = registry.get(cid)
        first = await run_in_threadpool(jobs.get, cat, n)

        async def stream():
            last, doc = None, first
            while True:
                body = json.dumps(_job_doc(cid, doc))
                if body != last:
                    yield f"event: progress\ndata: {body}\n\n"
                    last = body
                if doc["status"] in jobs.FINISHED:
                    yield f"event: end\ndata: {body}\n\n"
                    return
                await asyncio.sleep(0.25)
                try:
                    doc = await run_in_threadpool(jobs.get, cat, n)
                except Exception as exc:  # noqa: BLE001 - e.g. its catalog was deleted: end the stream
                    gone = {"error": {"code": "gone", "message": f"job {job_id} can no longer be read: {exc}"}}
                    yield f"event: end\ndata: {json.dumps(gone)}\n\n"
                    return

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    # ---- images --------------------------------------------------------------------------------
    @app.get("/api/catalogs/{catalog_id}/images", dependencies=guarded, tags=["images"])
    def list_images(catalog_id: str,
                    date_from: Annotated[str | None, Query(max_length=40)] = None,
                    date_to: Annotated[str | None, Query(max_length=40)] = None,
                    camera: Annotated[str | None, Query(max_length=100)] = None,
                    has_gps: bool | None = None,
                    geohash: Annotated[str | None, Query(max_length=12, pattern=r"^[0-9a-zA-Z]*$")] = None,
                    country: Annotated[str | None, Query(max_length=2)] = None,
                    city: Annotated[str | None, Query(max_length=100)] = None,
                    file_type: Annotated[str | None, Query(max_length=16)] = None,
                    status: Literal["active", "rejected"] | None = None,
                    keyword: Annotated[str | None, Query(max_length=200)] = None,
                    cursor: Annotated[str | None, Query(max_length=400)] = None,
                    limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict:
        """Assets in capture-time order with filters and cursor paging (``next_cursor``)."""
        filters = {"date_from": date_from, "date_to": date_to, "camera": camera, "has_gps": has_gps,
                   "geohash": geohash, "country": country, "city": city, "file_type": file_type, "status": status,
                   "keyword": keyword}
        with registry.get(catalog_id).session() as s:
            return queries.list_assets(s, filters, cursor, limit)

    def _find_asset(asset_id: str):
        if not re.fullmatch(ASSET_ID, asset_id):
            raise ApiError(404, "not_found", "no such image (asset ids are 8-64 lowercase hex digits)")
        for cid in registry.ids():
            cat = registry.get(cid)
            with cat.session() as s:
                try:
                    return cid, cat, queries.describe(s, asset_id)
                except NotFoundError:
                    continue
        raise ApiError(404, "not_found", f"no image {asset_id}")

    @app.get("/api/images/{asset_id}", dependencies=guarded, tags=["images"])
    def get_image(asset_id: str) -> dict:
        """Everything about one asset: the keys of ``lumina show --format json``, plus ``catalog_id``."""
        cid, _, doc = _find_asset(asset_id)
        return {**doc, "catalog_id": cid}

    @app.get("/api/images/{asset_id}/thumbnail", dependencies=guarded, tags=["images"])
    def thumbnail(asset_id: str, size: Literal["grid", "preview"] = "grid") -> FileResponse:
        """The grid (WebP) or preview (JPEG) thumbnail, from the catalog folder only."""
        _, cat, doc = _find_asset(asset_id)
        with cat.session() as s:
            thumb = s.get(Thumbnail, doc["asset_id"])
        if thumb is None:
            raise ApiError(404, "not_found", f"no thumbnail for {asset_id} (thumbnails stage: "
                                             f"{(doc['stages'].get('thumbnails') or {}).get('error') or 'not run'})")
        root = os.path.realpath(cat.path)
        target = os.path.realpath(cat.path / (thumb.grid_path if size == "grid" else thumb.preview_path))
        if not target.startswith(root + os.sep) or not os.path.isfile(target):
            raise ApiError(404, "not_found", "thumbnail file missing from the catalog folder")
        return FileResponse(target, media_type="image/webp" if size == "grid" else "image/jpeg")

    @app.get("/api/images/{asset_id}/original", dependencies=guarded, tags=["images"])
    def original(asset_id: str) -> FileResponse:
        """The original file, by asset id; only a catalogued file inside a source folder is served."""
        _, cat, doc = _find_asset(asset_id)
        roots = library_roots(cat)
        with cat.session() as s:
            paths = s.scalars(select(FileInstance.path_bytes).where(FileInstance.asset_id == doc["asset_id"],
                                                                    FileInstance.status == "present")).all()
        for raw in paths:
            real = os.path.realpath(raw)
            if any(real == r or real.startswith(r.rstrip(b"/") + b"/") for r in roots) and os.path.isfile(real):
                return FileResponse(os.fsdecode(real), filename=os.path.basename(os.fsdecode(raw)))
        raise ApiError(404, "not_found", f"no present file of {asset_id} inside the catalog's source folders")

    @app.patch("/api/images/{asset_id}", dependencies=guarded, tags=["images"])
    def patch_image(asset_id: str, body: ImagePatch) -> dict:
        """User overrides (capture time, rating, keywords, status), stored in the catalog only: the
        response says so (``written_to_file``/``written_to_sidecar`` false). Asking to write into
        the library (``write_to_file``) is refused with 409: Lumina never writes into photos."""
        cid, cat, doc = _find_asset(asset_id)
        if body.write_to_file:
            writable = all(_writable(p) for p in doc["paths"])
            raise ApiError(409, "library_read_only" if not writable else "not_supported",
                           "the library is read-only: nothing was written" if not writable else
                           "writing into photos or sidecars is not supported; nothing was written "
                           "(send the edit without write_to_file to store it in the catalog)")
        aid = doc["asset_id"]
        changed = []
        if body.capture_time is not None:
            set_override(cat, aid, "capture_time", parse_capture_time(body.capture_time,
                                                                      int(cat.settings["date_min_year"])))
            changed.append("capture_time")
        with cat.session() as s:
            for field in ("rating", "keywords"):
                value = getattr(body, field)
                if value is not None:
                    s.merge(UserOverride(asset_id=aid, field=field, value=value, set_at=now()))
                    changed.append(field)
            if body.status is not None:
                s.get(Asset, aid).status = body.status
                changed.append("status")
            s.commit()
        _, _, after = _find_asset(aid)
        return {"image": {**after, "catalog_id": cid}, "changed": changed, "stored_in": "catalog",
                "written_to_file": False, "written_to_sidecar": False}

    # ---- duplicates and bursts -----------------------------------------------------------------
    @app.get("/api/catalogs/{catalog_id}/duplicates", dependencies=guarded, tags=["duplicates"])
    def duplicates(catalog_id: str) -> dict:
        """The current generation's groups (the JSON of ``lumina duplicates --format json``)."""
        with registry.get(catalog_id).session() as s:
            return duplicates_run.duplicates_report(s)

    @app.get("/api/catalogs/{catalog_id}/duplicates/{group_id}", dependencies=guarded, tags=["duplicates"])
    def duplicate_group(catalog_id: str, group_id: int) -> dict:
        """One group with per-signal distances and the keeper's reason."""
        with registry.get(catalog_id).session() as s:
            doc = duplicates_run.duplicates_report(s)
        group = next((g for g in doc["groups"] if g["id"] == group_id), None)
        if group is None:
            raise ApiError(404, "not_found", f"no duplicate group {group_id} in the current generation")
        return {**group, "generation": doc["generation"]}

    @app.post("/api/catalogs/{catalog_id}/duplicates/{group_id}/resolve", dependencies=guarded, tags=["duplicates"])
    def resolve_group(catalog_id: str, group_id: int, body: ResolveIn) -> dict:
        """Keep one member; the others are marked rejected in the catalog (files untouched)."""
        return duplicates_run.resolve(registry.get(catalog_id), group_id, body.keep)

    @app.post("/api/catalogs/{catalog_id}/duplicates/not-duplicates", dependencies=guarded, tags=["duplicates"])
    def not_duplicates(catalog_id: str, body: PairIn) -> dict:
        """Record that two assets are not duplicates; every later run respects it."""
        duplicates_run.not_duplicates(registry.get(catalog_id), body.asset_a, body.asset_b)
        return {"recorded": "not_duplicate", "asset_a": body.asset_a, "asset_b": body.asset_b}

    @app.get("/api/catalogs/{catalog_id}/bursts", dependencies=guarded, tags=["bursts"])
    def bursts(catalog_id: str) -> dict:
        """The current generation's bursts (the JSON of ``lumina bursts --format json``)."""
        with registry.get(catalog_id).session() as s:
            return bursts_run.bursts_report(s)

    @app.get("/api/catalogs/{catalog_id}/bursts/{burst_id}", dependencies=guarded, tags=["bursts"])
    def burst(catalog_id: str, burst_id: int) -> dict:
        with registry.get(catalog_id).session() as s:
            doc = bursts_run.bursts_report(s, burst_id)
        if not doc["bursts"]:
            raise ApiError(404, "not_found", f"no burst {burst_id} in the current generation")
        return {**doc["bursts"][0], "generation": doc["generation"]}

    @app.post("/api/catalogs/{catalog_id}/bursts/{burst_id}/apply", dependencies=guarded, tags=["bursts"])
    def apply_burst(catalog_id: str, burst_id: int, body: ResolveIn) -> dict:
        """Keep one frame; the others are marked rejected in the catalog (files untouched)."""
        return bursts_run.apply(registry.get(catalog_id), burst_id, body.keep)

    @app.post("/api/catalogs/{catalog_id}/bursts/apply-recommended", dependencies=guarded, tags=["bursts"])
    def apply_recommended(catalog_id: str) -> dict:
        """Keep every burst's best frame."""
        return bursts_run.apply(registry.get(catalog_id), all_recommended=True)

    return app
