"""Search endpoints: ``GET /api/images/{asset_id}/similar`` and ``GET /api/catalogs/{id}/search``.

Both return what ``lumina similar`` / ``lumina search --format json`` print. Unknown query
parameters are refused with 422 (a misspelt ``max_distanse`` must not silently use the default).
Indexes are cached per catalog and rebuilt when an embedding changes, so warm queries do not
reload vectors.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from lumina.catalog.queries import resolve_asset_id
from lumina.errors import ConfigError, NotFoundError


def _only(request: Request, allowed: set[str]) -> None:
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise ConfigError(f"unknown query parameter(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")


def router(registry) -> APIRouter:
    """The search router over ``registry`` (``lumina.api.registry.Registry``)."""
    api = APIRouter()

    @api.get("/api/images/{asset_id}/similar", tags=["search"])
    def similar_images(request: Request, asset_id: str,
                       limit: Annotated[int, Query(ge=1, le=1000)] = 10) -> dict:
        """Nearest images by cosine distance of their embeddings, nearest first, the image itself excluded:
        ``{"query", "model_id", "results": [{"asset_id", "paths", "distance"}], "catalog_id"}``."""
        from lumina.analysis.search import similar

        _only(request, {"limit"})
        for cid in registry.ids():
            cat = registry.get(cid)
            with cat.session() as s:
                try:
                    full = resolve_asset_id(s, asset_id)
                except NotFoundError:
                    continue
            return {**similar(cat, full, limit), "catalog_id": cid}
        raise NotFoundError(f"no image {asset_id}")

    @api.get("/api/catalogs/{catalog_id}/search", tags=["search"])
    def search_catalog(request: Request, catalog_id: str, q: Annotated[str, Query(min_length=1, max_length=500)],
                       limit: Annotated[int, Query(ge=1, le=1000)] = 20,
                       max_distance: Annotated[float | None, Query(ge=0.0, le=2.0)] = None) -> dict:
        """Text search (see ``lumina.analysis.search``): ``{"results": [{"asset_id", "paths", "score",
        "distance", "matched"}], "low_confidence", "filters", "mode", "text_model_id", "image_model_id", ...}``."""
        from lumina.analysis.search import search

        _only(request, {"q", "limit", "max_distance"})
        return search(registry.get(catalog_id), q, limit, max_distance)

    return api
