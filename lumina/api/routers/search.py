"""Search endpoints: ``GET /api/images/{asset_id}/similar`` and ``GET /api/catalogs/{id}/search``.

Both return what ``lumina similar`` / ``lumina search --format json`` print. Unknown query
parameters are refused with 422 by the app-wide ``known_query`` check (a misspelt ``max_distanse``
must not silently use the default). Indexes are cached per catalog and rebuilt when an embedding
changes, so warm queries do not reload vectors.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from lumina.api.deps import guarded, registry
from lumina.api.registry import Registry
from lumina.api.routers.images import with_urls
from lumina.catalog.db import Catalog
from lumina.catalog.queries import list_assets, resolve_asset_id
from lumina.errors import NotFoundError

router = APIRouter(dependencies=guarded, tags=["search"])


@router.get("/api/images/{asset_id}/similar")
def similar_images(asset_id: str, limit: Annotated[int, Query(ge=1, le=1000)] = 10,
                   reg: Registry = Depends(registry)) -> dict:  # noqa: B008
    """Nearest images by cosine distance of their embeddings, nearest first, the image itself excluded:
    ``{"query", "model_id", "results": [{"asset_id", "paths", "distance"}], "catalog_id"}``, plus
    ``items``/``total``: the same images as grid items (see ``GET /api/catalogs/{id}/images``)."""
    from lumina.analysis.search import similar

    for cid in reg.ids():
        cat = reg.get(cid)
        with cat.session() as s:
            try:
                full = resolve_asset_id(s, asset_id)
            except NotFoundError:
                continue
        doc = similar(cat, full, limit)
        return {**doc, **grid_items(cat, doc["results"]), "catalog_id": cid}
    raise NotFoundError(f"no image {asset_id}")


@router.get("/api/catalogs/{catalog_id}/search")
def search_catalog(catalog_id: str, q: Annotated[str, Query(min_length=1, max_length=500)],
                   limit: Annotated[int, Query(ge=1, le=1000)] = 20,
                   max_distance: Annotated[float | None, Query(ge=0.0, le=2.0)] = None,
                   reg: Registry = Depends(registry)) -> dict:  # noqa: B008
    """Text search (see ``lumina.analysis.search``): ``{"results": [{"asset_id", "paths", "score",
    "distance", "matched"}], "low_confidence", "filters", "mode", "text_model_id", "image_model_id", ...}``,
    plus ``items``/``total``: the hits as grid items, best first (what the web UI's grid lays out)."""
    from lumina.analysis.search import search

    cat = reg.get(catalog_id)
    doc = search(cat, q, limit, max_distance)
    return {**doc, **grid_items(cat, doc["results"])}


def grid_items(cat: Catalog, results: list[dict]) -> dict:
    """``{"items", "total"}``: the ``results``' assets as image-list items (size, ThumbHash,
    thumbnail URLs), in the results' order; at most 500."""
    ids = [r["asset_id"] for r in results][:500]
    if not ids:
        return {"items": [], "total": 0}
    with cat.session() as s:
        page = with_urls(list_assets(s, {"asset_ids": ids}, limit=len(ids)))
    by_id = {item["asset_id"]: item for item in page["items"]}
    items = [by_id[a] for a in ids if a in by_id]
    return {"items": items, "total": len(items)}
