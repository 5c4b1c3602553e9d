"""Response models of the endpoints the web UI reads, so that ``/openapi.json`` describes them."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ThumbnailInfo(BaseModel):
    version: str | None = Field(default=None, description="settings tag of the content-addressed files")
    width_px: int | None = None
    height_px: int | None = None
    thumbhash: str | None = Field(default=None, description="ThumbHash placeholder, base64")
    error: str | None = Field(default=None, description="why there is no thumbnail")


class ImageItem(BaseModel):
    asset_id: str = Field(description="SHA-256 of the bytes, 64 lowercase hex digits")
    paths: list[str]
    capture_time: str | None = Field(description="local ISO 8601 time, with its sub-seconds")
    camera_make: str | None
    camera_model: str | None
    file_type: str
    status: str
    geohash: str | None
    country_code: str | None
    city: str | None
    width: int | None = Field(description="oriented width (px) of the grid thumbnail, else of the file")
    height: int | None = Field(description="oriented height (px) of the grid thumbnail, else of the file")
    thumbnail: ThumbnailInfo
    thumbnail_url: str | None = Field(description="immutable URL of the grid thumbnail (WebP)")
    preview_url: str | None = Field(description="immutable URL of the preview (JPEG)")


class ImagePage(BaseModel):
    items: list[ImageItem]
    next_cursor: str | None
    total: int | None = Field(default=None, description="assets matching the filters, all pages (first page only)")


class Month(BaseModel):
    year: int
    month: int = Field(ge=1, le=12)
    count: int


class Timeline(BaseModel):
    months: list[Month]


class Camera(BaseModel):
    make: str | None
    model: str | None
    count: int


class PlaceCount(BaseModel):
    country_code: str
    city: str | None
    count: int


class ValueCount(BaseModel):
    value: str
    count: int


class Facets(BaseModel):
    cameras: list[Camera]
    places: list[PlaceCount]
    file_types: list[ValueCount]
    keywords: list[ValueCount]


class Positions(BaseModel):
    items: list[tuple[str, float, float, str | None]] = Field(
        description="[asset_id, latitude, longitude, capture_time] (signed degrees, WGS 84)")
    total: int
