"""Images: list with filters, describe, thumbnails, originals, catalog-only edits."""

from __future__ import annotations

import os
import re
from urllib.parse import quote
from typing import Annotated, Literal


from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from lumina.api.deps import ASSET_ID, ApiError, find_asset, guarded, registry
from lumina.api.registry import Registry, library_roots
from lumina.api.schemas import Facets, ImageDoc, ImagePage, PatchOut, Positions, Timeline
from lumina.catalog.db import Catalog
from lumina.catalog import queries
from lumina.catalog.models import Asset, FileInstance, Thumbnail, UserOverride
from lumina.pipeline.overrides import parse_capture_time, set_override
from lumina.pipeline.scan import now
from lumina.catalog.writes import upsert

router = APIRouter(dependencies=guarded, tags=["images"])


class ImagePatch(BaseModel):
    capture_time: str | None = Field(default=None, max_length=40, description="ISO 8601 local time, optional offset")
    rating: int | None = Field(default=None, ge=0, le=5)
    keywords: list[Annotated[str, Field(max_length=200)]] | None = Field(default=None, max_length=200)
    status: Literal["active", "rejected"] | None = None
    write_to_file: bool = Field(default=False, description="Write into the photo or its sidecar (not supported: 409)")


def _writable(path: str) -> bool:
    """Whether a library file could be written: a read-only mount or no write bit for anyone says
    no (``os.access`` says yes to root whatever the mode)."""
    try:
        st = os.stat(path)
        return not (os.statvfs(path).f_flag & os.ST_RDONLY) and bool(st.st_mode & 0o222)
    except OSError:
        return False


ImageFilters = dict  # the filters of queries.list_assets, from the query string


def image_filters(date_from: Annotated[str | None, Query(max_length=40, description="ISO 8601 prefix, inclusive")] = None,
                  date_to: Annotated[str | None, Query(max_length=40, description="ISO 8601 prefix, inclusive")] = None,
                  camera: Annotated[str | None, Query(max_length=100, description="substring of make or model")] = None,
                  has_gps: bool | None = None,
                  geohash: Annotated[str | None, Query(max_length=12, pattern=r"^[0-9a-zA-Z]*$")] = None,
                  country: Annotated[str | None, Query(max_length=2, description="ISO 3166-1 alpha-2")] = None,
                  city: Annotated[str | None, Query(max_length=100)] = None,
                  file_type: Annotated[str | None, Query(max_length=16)] = None,
                  status: Literal["active", "rejected"] | None = None,
                  keyword: Annotated[str | None, Query(max_length=200)] = None,
                  date_flag: Literal[queries.DATE_FLAGS] | None = None,  # type: ignore[valid-type]
                  failed_stage: Annotated[str | None, Query(max_length=16, pattern=r"^[a-z_]+$",
                                                            description="a stage name, or any")] = None) -> ImageFilters:
    """The grid's filters (see ``lumina.catalog.queries.list_assets``)."""
    return {"date_from": date_from, "date_to": date_to, "camera": camera, "has_gps": has_gps, "geohash": geohash,
            "country": country, "city": city, "file_type": file_type, "status": status, "keyword": keyword,
            "date_flag": date_flag, "failed_stage": failed_stage}


@router.get("/api/catalogs/{catalog_id}/images", response_model=ImagePage)
def list_images(catalog_id: str, filters: ImageFilters = Depends(image_filters),  # noqa: B008
                cursor: Annotated[str | None, Query(max_length=400)] = None,
                limit: Annotated[int, Query(ge=1, le=500)] = 100,
                reg: Registry = Depends(registry)) -> dict:  # noqa: B008
    """Assets in capture-time order with filters and cursor paging (``next_cursor``), each with its
    oriented size, ThumbHash and immutable ``thumbnail_url`` (or why it has no thumbnail); the first
    page (no cursor) also has ``total``: how many assets match the filters."""
    with reg.get(catalog_id).session() as s:  # the count once, with the first page
        page = queries.list_assets(s, filters, cursor, limit, total=cursor is None)
    return with_urls(page)


def with_urls(page: dict) -> dict:
    """``page`` with ``thumbnail_url`` and ``preview_url`` on each item (None without a thumbnail)."""
    for item in page["items"]:
        v = item["thumbnail"].get("version")
        base = f"/api/images/{item['asset_id']}/thumbnail"
        item["thumbnail_url"] = f"{base}?v={v}" if v else None
        item["preview_url"] = f"{base}?size=preview&v={v}" if v else None
    return page


@router.get("/api/catalogs/{catalog_id}/timeline", response_model=Timeline)
def timeline(catalog_id: str, filters: ImageFilters = Depends(image_filters),  # noqa: B008
             reg: Registry = Depends(registry)) -> dict:  # noqa: B008
    """Asset counts by capture year and month under the grid's filters (undated assets left out)."""
    with reg.get(catalog_id).session() as s:
        return {"months": queries.timeline(s, filters)}


@router.get("/api/catalogs/{catalog_id}/facets", response_model=Facets)
def facets(catalog_id: str, reg: Registry = Depends(registry)) -> dict:  # noqa: B008
    """The cameras, places, file types and keywords of the catalog with asset counts (filter choices)."""
    with reg.get(catalog_id).session() as s:
        return queries.facets(s)


@router.get("/api/catalogs/{catalog_id}/positions", response_model=Positions)
def positions(catalog_id: str, filters: ImageFilters = Depends(image_filters),  # noqa: B008
              reg: Registry = Depends(registry)) -> dict:  # noqa: B008
    """Every asset with a validated position under the filters: ``[asset_id, latitude, longitude,
    capture_time]`` rows (signed degrees, WGS 84), for the map."""
    with reg.get(catalog_id).session() as s:
        items = queries.positions(s, filters)
    return {"items": items, "total": len(items)}


@router.get("/api/images/{asset_id}", response_model=ImageDoc)
def get_image(asset_id: str, reg: Registry = Depends(registry)) -> dict:  # noqa: B008
    """Everything about one asset: the keys of ``lumina show --format json``, plus ``catalog_id``."""
    cid, _, doc = find_asset(reg, asset_id)
    return {**doc, "catalog_id": cid}


def _thumbnail_row(reg: Registry, asset_id: str) -> tuple[Catalog, Thumbnail | None, str]:
    """The catalog, thumbnail row (or None) and full id of an asset: a full id is looked up by
    primary key alone (the grid asks for hundreds); a prefix goes through find_asset."""
    if len(asset_id) == 64 and re.fullmatch(ASSET_ID, asset_id):
        for cid in reg.ids():
            cat = reg.get(cid)
            with cat.session() as s:
                thumb = s.get(Thumbnail, asset_id)
                if thumb is not None:
                    s.expunge(thumb)
                    return cat, thumb, asset_id
    _, cat, doc = find_asset(reg, asset_id)
    with cat.session() as s:
        thumb = s.get(Thumbnail, doc["asset_id"])
        if thumb is None:
            raise ApiError(404, "not_found", f"no thumbnail for {asset_id} (thumbnails stage: "
                                             f"{(doc['stages'].get('thumbnails') or {}).get('error') or 'not run'})")
        s.expunge(thumb)
    return cat, thumb, doc["asset_id"]


@router.get("/api/images/{asset_id}/thumbnail", response_class=FileResponse,
            responses={200: {"content": {"image/webp": {}, "image/jpeg": {}}, "description": "grid WebP or preview JPEG"},
                       304: {"description": "Not modified (ETag)"}})
def thumbnail(request: Request, asset_id: str, size: Literal["grid", "preview"] = "grid",
              v: Annotated[str | None, Query(max_length=16, description="thumbnail version from a list item")] = None,
              reg: Registry = Depends(registry)) -> Response:  # noqa: B008
    """The grid (WebP) or preview (JPEG) thumbnail, from the catalog folder only. Its ETag is its
    content-addressed file name; with the current version ``v`` (the list items' ``thumbnail_url``)
    the response is cached as immutable for a year."""
    cat, thumb, _ = _thumbnail_row(reg, asset_id)
    rel = thumb.grid_path if size == "grid" else thumb.preview_path
    root = os.path.realpath(cat.path)
    target = os.path.realpath(cat.path / rel)
    if not target.startswith(root + os.sep) or not os.path.isfile(target):
        raise ApiError(404, "not_found", "thumbnail file missing from the catalog folder")
    etag = f'"{os.path.basename(rel)}"'
    current = v is not None and v == queries.thumbnail_version(thumb.grid_path)
    headers = {"ETag": etag, "Cache-Control": "private, max-age=31536000, immutable" if current
               else "private, no-cache"}
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    return FileResponse(target, media_type="image/webp" if size == "grid" else "image/jpeg", headers=headers)


def content_disposition(name: bytes) -> str:
    """``attachment`` with the file name as RFC 6266 gives it: ``filename*`` (RFC 8187: UTF-8,
    percent-encoded; bytes that are not UTF-8 become U+FFFD) and an ASCII ``filename`` fallback
    for old clients (other characters as ``_``). Never raises, whatever the bytes."""
    text = name.decode("utf-8", "replace")
    fallback = "".join(c if " " <= c < "\x7f" and c not in '"\\' else "_" for c in text)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(text, safe='')}"


@router.get("/api/images/{asset_id}/original", response_class=FileResponse,
            responses={200: {"content": {"application/octet-stream": {}}, "description": "the original file"}})
def original(asset_id: str, reg: Registry = Depends(registry)) -> FileResponse:  # noqa: B008
    """The original file, by asset id; only a catalogued file inside a source folder is served."""
    _, cat, doc = find_asset(reg, asset_id)
    roots = library_roots(cat)
    with cat.session() as s:
        paths = s.scalars(select(FileInstance.path_bytes).where(FileInstance.asset_id == doc["asset_id"],
                                                                FileInstance.status == "present")).all()
    for raw in paths:
        real = os.path.realpath(raw)
        if any(real == r or real.startswith(r.rstrip(b"/") + b"/") for r in roots) and os.path.isfile(real):
            return FileResponse(os.fsdecode(real), headers={"Content-Disposition": content_disposition(
                os.path.basename(raw))})
    raise ApiError(404, "not_found", f"no present file of {asset_id} inside the catalog's source folders")


@router.patch("/api/images/{asset_id}", response_model=PatchOut)
def patch_image(asset_id: str, body: ImagePatch, reg: Registry = Depends(registry)) -> dict:  # noqa: B008
    """User overrides (capture time, rating, keywords, status), stored in the catalog only: the
    response says so (``written_to_file``/``written_to_sidecar`` false). Asking to write into
    the library (``write_to_file``) is refused with 409: Lumina never writes into photos."""
    cid, cat, doc = find_asset(reg, asset_id)
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
                upsert(s, UserOverride, [dict(asset_id=aid, field=field, value=value, set_at=now())])
                changed.append(field)
        if body.status is not None:
            s.get(Asset, aid).status = body.status
            changed.append("status")
        s.commit()
    _, _, after = find_asset(reg, aid)
    return {"image": {**after, "catalog_id": cid}, "changed": changed, "stored_in": "catalog",
            "written_to_file": False, "written_to_sidecar": False}
