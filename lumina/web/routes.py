"""The web UI's routes: sign-in and sign-out, the pages, offline API docs, static files and map
tiles. Pages are one HTML shell each (``templates/layout.html``); their scripts
(``static/pages/<page>.js``) draw them from the JSON API."""

from __future__ import annotations

import hmac
import html
import re
from pathlib import Path
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from lumina import __version__
from lumina.api.deps import ApiError, guarded
from lumina.api.sessions import COOKIE, SESSION_TTL_S
from lumina.web.tiles import ATTRIBUTION, Tiles, basemap_path

HERE = Path(__file__).parent
STATIC = HERE / "static"
router = APIRouter(include_in_schema=False)
# Pages: path -> (script name, title). Scripts only from this server ('self'); inline styles for
# vendored widgets (Leaflet, PhotoSwipe, Redoc set style attributes); images also as data: and blob:
# (ThumbHash placeholders); Redoc runs a blob: worker.
PAGES = {"/": ("dashboard", "Gaps"), "/library": ("library", "Library"), "/duplicates": ("duplicates", "Duplicates"),
         "/bursts": ("bursts", "Bursts"), "/map": ("map", "Map"), "/jobs": ("jobs", "Jobs")}
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "worker-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
SECURITY_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "same-origin", "Cache-Control": "no-store"}
_template_cache: dict[str, str] = {}


def _template(name: str) -> str:
    if name not in _template_cache:
        _template_cache[name] = (HERE / "templates" / name).read_text(encoding="utf-8")
    return _template_cache[name]


def render(name: str, **values: str) -> HTMLResponse:
    """A template with ``{{key}}`` replaced by each value, HTML-escaped."""
    text = _template(name)
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", html.escape(value, quote=True))
    return HTMLResponse(text, headers=SECURITY_HEADERS)


def session_csrf(request: Request) -> str | None:
    """The CSRF token of the request's live session; "" for a request with the bearer token; None
    for neither."""
    csrf = request.app.state.sessions.csrf(request.cookies.get(COOKIE))
    if csrf is not None:
        return csrf
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer ") and hmac.compare_digest(header[7:].strip().encode(),
                                                                    request.app.state.token.encode()):
        return ""
    return None


def _safe_next(target: str | None) -> str:
    """A local path to return to after signing in (never another site: no scheme, no ``//``)."""
    return target if target and re.fullmatch(r"/(?![/\\])[^\s]*", target) else "/"


def page(request: Request, script: str, title: str) -> Response:
    csrf = session_csrf(request)
    if csrf is None:
        return RedirectResponse("/login?next=" + quote(request.url.path), status_code=303)
    return render("layout.html", page=script, title=title, csrf=csrf, version=__version__)


def _page_route(script: str, title: str):
    def show(request: Request) -> Response:
        return page(request, script, title)
    return show


for _path, (_script, _title) in PAGES.items():
    router.add_api_route(_path, _page_route(_script, _title), methods=["GET"], name=f"page_{_script}")


@router.get("/photo/{asset_id}")
def photo_page(request: Request, asset_id: str) -> Response:
    return page(request, "photo", "Photo")


@router.get("/login")
def login_form(request: Request, next: str | None = None, message: str | None = None) -> Response:  # noqa: A002
    return render("login.html", next=_safe_next(next), message=message or "", version=__version__)


@router.post("/login")
async def login(request: Request) -> Response:
    """Sign in with the API token (form field ``token``); wrong tokens are limited per address."""
    client = request.client.host if request.client else "?"
    limiter = request.app.state.login_limiter
    form = parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=4)
    token, target = (form.get("token") or [""])[0], _safe_next((form.get("next") or ["/"])[0])
    wait_s = limiter.retry_after_s(client)
    if wait_s:
        resp = render("login.html", next=target, version=__version__,
                      message=f"Too many wrong tokens: try again in {wait_s} s.")
        resp.status_code, resp.headers["Retry-After"] = 429, str(wait_s)
        return resp
    if not hmac.compare_digest(token.encode(), request.app.state.token.encode()):
        limiter.fail(client)
        resp = render("login.html", next=target, version=__version__,
                      message="Wrong token. It is in the catalog folder's api-token file, or LUMINA_API_TOKEN.")
        resp.status_code = 401
        return resp
    sid, _ = request.app.state.sessions.create()
    resp = RedirectResponse(target, status_code=303)
    resp.set_cookie(COOKIE, sid, max_age=SESSION_TTL_S, httponly=True, samesite="strict", path="/",
                    secure=request.url.scheme == "https")
    return resp


@router.post("/logout")
async def logout(request: Request) -> Response:
    """Sign out (form field ``csrf``: the page's CSRF token)."""
    sid = request.cookies.get(COOKIE)
    csrf = request.app.state.sessions.csrf(sid)
    form = parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=4)
    if csrf is None or not hmac.compare_digest((form.get("csrf") or [""])[0].encode(), csrf.encode()):
        raise ApiError(403, "csrf", "sign-out needs the page's CSRF token")
    request.app.state.sessions.drop(sid)
    resp = RedirectResponse("/login?message=" + quote("Signed out."), status_code=303)
    resp.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return resp


@router.get("/docs")
def docs(request: Request) -> Response:
    """Swagger UI, from vendored files (works offline)."""
    if session_csrf(request) is None:
        return RedirectResponse("/login?next=/docs", status_code=303)
    return render("docs.html", version=__version__)


@router.get("/redoc")
def redoc(request: Request) -> Response:
    """ReDoc, from vendored files (works offline)."""
    if session_csrf(request) is None:
        return RedirectResponse("/login?next=/redoc", status_code=303)
    return render("redoc.html", version=__version__)


@router.get("/tiles/{zoom}/{x}/{y}.png", dependencies=guarded)
def tile(request: Request, zoom: int, x: int, y: int) -> Response:
    """An offline OpenStreetMap tile (zoom 0-6); 404 outside the basemap."""
    tiles: Tiles = request.app.state.tiles
    try:
        data = tiles.tile(zoom, x, y)
    except FileNotFoundError as exc:
        raise ApiError(404, "not_found", str(exc)) from exc
    if data is None:
        raise ApiError(404, "not_found", f"no tile {zoom}/{x}/{y} (zoom 0-6)")
    return Response(data, media_type="image/png", headers={"Cache-Control": "private, max-age=86400"})


def mount(app) -> None:
    """Add the UI to ``app``: its state (sessions, login limit, tiles), routes and static files."""
    from lumina.api.sessions import LoginLimiter, Sessions

    app.state.sessions, app.state.login_limiter = Sessions(), LoginLimiter()
    app.state.tiles = Tiles(basemap_path())
    app.state.tile_attribution = ATTRIBUTION
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
