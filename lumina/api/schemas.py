"""Response models, so that ``/openapi.json`` describes every response. Models of the larger documents
name their main keys and pass any other key through (``Open``): the JSON stays that of the CLI."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


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


# ---- the other resources: the documented keys, any further key passed through --------------------
class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Health(BaseModel):
    status: str
    version: str


class CatalogDoc(BaseModel):
    id: str = Field(description="slug; 'default' is the served folder")
    name: str
    path: str
    database: str = Field(description="the SQLite file, or the PostgreSQL URL without its password")
    sources: list[str]


class CatalogList(BaseModel):
    items: list[CatalogDoc]


class Failure(Open):
    path: str | None = None
    stage: str | None = None
    kind: str | None = None
    message: str | None = None


class JobDoc(Open):
    id: str = Field(description="<catalog id>-<number>")
    catalog_id: str
    type: str
    params: dict
    status: str = Field(description="queued | running | succeeded | failed | cancelled | interrupted")
    done: int
    failed: int
    total: int = Field(description="asset-stage units")
    progress: float = Field(ge=0, le=1)
    stages: dict
    failures: list[Failure]
    result: dict | None
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    cancel_requested: bool
    error: str | None


class JobPage(BaseModel):
    items: list[JobDoc]
    total: int


class Skipped(BaseModel):
    stage: str
    reason: str


class FillOut(BaseModel):
    jobs: list[JobDoc]
    skipped: list[Skipped]


class GapRow(Open):
    type: str
    applicable: int
    count: int
    coverage: float = Field(ge=0, le=1)
    gap: int
    status: str
    reasons: dict[str, int] = Field(description="why the gap's assets lack it -> how many")
    fill_job: str


class JobStep(Open):
    stage: str
    requires: list[str]
    scope: str
    available: bool
    pending: int


class GapReport(Open):
    catalog: str
    total_assets: int
    metadata: list[GapRow]
    job_order: list[JobStep]


class Member(Open):
    asset_id: str
    paths: list[str]
    class_: str = Field(alias="class")
    distances: dict


class Keeper(Open):
    asset_id: str
    paths: list[str]
    reason: str


class Group(Open):
    id: int
    class_: str = Field(alias="class")
    reason: str
    keeper: Keeper
    members: list[Member]
    resolved: str | None


class GroupDoc(Group):
    generation: int | None


class DuplicateReport(Open):
    generation: int | None
    groups: list[Group]
    total: int


class Frame(Open):
    asset_id: str
    paths: list[str]
    capture_time: str | None
    quality: dict | None
    status: str


class Burst(Open):
    id: int
    camera: str | None
    start: str | None
    end: str | None
    best: Keeper
    frames: list[Frame] = Field(description="in capture order")
    applied: bool


class BurstDoc(Burst):
    generation: int | None


class BurstReport(Open):
    generation: int | None
    bursts: list[Burst]
    total: int


class ImageDoc(Open):
    """The keys of ``lumina show --format json`` (see lumina.catalog.queries.describe)."""
    asset_id: str | None
    catalog_id: str
    paths: list[str]
    capture_time: str | None
    capture_time_source: str | None
    width: int | None
    height: int | None
    stages: dict


class PatchOut(BaseModel):
    image: ImageDoc
    changed: list[str]
    stored_in: str
    written_to_file: bool
    written_to_sidecar: bool
