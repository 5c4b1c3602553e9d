"""Liveness and the API's own description (``/openapi.json``; its pages ``/docs`` and ``/redoc`` are
served by ``lumina.web``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from lumina import __version__
from lumina.api.deps import guarded
from lumina.api.schemas import Health

router = APIRouter()


@router.get("/health", tags=["service"], response_model=Health)
def health() -> dict:
    """Liveness, without a token."""
    return {"status": "ok", "version": __version__}


@router.get("/openapi.json", dependencies=guarded, include_in_schema=False)
def openapi(request: Request) -> JSONResponse:
    return JSONResponse(request.app.openapi())
