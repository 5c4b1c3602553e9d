"""Images: list with filters, describe, thumbnails, originals, catalog-only edits."""

from __future__ import annotations

import os
from urllib.parse import quote
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from lumina.api.deps import ApiError, find_asset, guarded, registry
from lumina.api.registry import Registry, library_roots
from lumina.catalog import queries
from lumina.catalog.models import Asset, FileInstance, Thumbnail, UserOverride
from lumina.pipeline.overrides import parse_capture_time, set_override
from lumina.pipeline.scan import now

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


@router.get("/api/catalogs/{catalog_id}/images")
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
                limit: Annotated[int, Query(ge=1, le=500)] = 100,
                reg: Registry = Depends(registry)) -> dict:  # noqa: B008
    """Assets in capture-time order with filters and cursor paging (``next_cursor``)."""
    filters = {"date_from": date_from, "date_to": date_to, "camera": camera, "has_gps": has_gps,
               "geohash": geohash, "country": country, "city": city, "file_type": file_type, "status": status,
               "keyword": keyword}
    with reg.get(catalog_id).session() as s:
        return queries.list_assets(s, filters, cursor, limit)


@router.get("/api/images/{asset_id}")
def get_image(asset_id: str, reg: Registry = Depends(registry)) -> dict:  # noqa: B008
    """Everything about one asset: the keys of ``lumina show --format json``, plus ``catalog_id``."""
    cid, _, doc = find_asset(reg, asset_id)
    return {**doc, "catalog_id": cid}


@router.get("/api/images/{asset_id}/thumbnail")
def thumbnail(asset_id: str, size: Literal["grid", "preview"] = "grid",
              reg: Registry = Depends(registry)) -> FileResponse:  # noqa: B008
    """The grid (WebP) or preview (JPEG) thumbnail, from the catalog folder only."""
    _, cat, doc = find_asset(reg, asset_id)
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


def content_disposition(name: bytes) -> str:
    """``attachment`` with the file name as RFC 6266 gives it: ``filename*`` (RFC 8187: UTF-8,
    percent-encoded; bytes that are not UTF-8 become U+FFFD) and an ASCII ``filename`` fallback
    for old clients (other characters as ``_``). Never raises, whatever the bytes."""
    text = name.decode("utf-8", "replace")
    fallback = "".join(c if " " <= c < "\x7f" and c not in '"\\' else "_" for c in text)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(text, safe='')}"


@router.get("/api/images/{asset_id}/original")
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


@router.patch("/api/images/{asset_id}")
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
                s.merge(UserOverride(asset_id=aid, field=field, value=value, set_at=now()))
                changed.append(field)
        if body.status is not None:
            s.get(Asset, aid).status = body.status
            changed.append("status")
        s.commit()
    _, _, after = find_asset(reg, aid)
    return {"image": {**after, "catalog_id": cid}, "changed": changed, "stored_in": "catalog",
            "written_to_file": False, "written_to_sidecar": False}
