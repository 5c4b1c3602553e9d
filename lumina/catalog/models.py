"""SQLAlchemy 2 models of the catalog. The schema is owned by the Alembic migrations in
``lumina/catalog/migrations``; change a model only together with a new migration.

Files (instances on disk) are kept apart from assets (content): ``asset_id`` is the
lowercase SHA-256 hex of the bytes, so byte-identical copies are one asset with several files.
Paths are stored as the exact file-system bytes (``path_bytes``) plus a display string.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class JSONDoc(TypeDecorator):
    """JSON documents: JSONB on PostgreSQL (indexable, comparable, with its operators), JSON text on
    SQLite. A decorator rather than ``with_variant(JSONB)`` so that importing the models does not
    import the PostgreSQL dialect (tens of ms on every ``lumina show``)."""

    impl = JSON
    cache_ok = True
    should_evaluate_none = True  # as JSON's: a Python None is stored as JSON null, like before

    def load_dialect_impl(self, dialect):
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())


# Row ids: 64-bit on PostgreSQL (BIGINT); SQLite's INTEGER PRIMARY KEY is already 64-bit (its rowid)
RowId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


class Source(Base):
    """A library folder registered by ``lumina scan``."""

    __tablename__ = "sources"
    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    path_bytes: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    path: Mapped[str] = mapped_column(Text)
    added_at: Mapped[datetime]
    last_scan_at: Mapped[datetime | None]


class Scan(Base):
    """One run of ``lumina scan`` with its counts."""

    __tablename__ = "scans"
    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    roots: Mapped[list] = mapped_column(JSONDoc())
    counts: Mapped[dict] = mapped_column(JSONDoc(), default=dict)


class Asset(Base):
    """Content: one per distinct SHA-256."""

    __tablename__ = "assets"
    asset_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    media_kind: Mapped[str] = mapped_column(String(8))  # photo | video
    file_type: Mapped[str] = mapped_column(String(16))  # jpeg, heic, raw, mp4, ...
    detected_by: Mapped[str] = mapped_column(String(12))  # extension | content
    status: Mapped[str] = mapped_column(String(12), default="active")  # active | rejected
    first_seen_at: Mapped[datetime]


class FileInstance(Base):
    """A path on disk. ``status``: present | missing | unsettled | failed | ignored."""

    __tablename__ = "files"
    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    source_id: Mapped[int] = mapped_column(RowId, ForeignKey("sources.id"))
    path_bytes: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    path: Mapped[str] = mapped_column(Text)
    asset_id: Mapped[str | None] = mapped_column(ForeignKey("assets.asset_id"), index=True)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    mtime_ns: Mapped[int | None] = mapped_column(BigInteger)
    inode: Mapped[int | None] = mapped_column(BigInteger)
    device: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(12), index=True)
    error: Mapped[str | None] = mapped_column(Text)
    warnings: Mapped[list] = mapped_column(JSONDoc(), default=list)
    sidecar_path_bytes: Mapped[bytes | None] = mapped_column(LargeBinary)
    sidecar_signature: Mapped[str | None] = mapped_column(String(64))
    first_seen_at: Mapped[datetime] = mapped_column(index=True)  # the newest file (0018)
    # the scan that last recorded this row (new, changed, back from missing, failed...): an unchanged
    # file's row is not rewritten by a rescan; a present file under a scan's roots was seen by it
    last_seen_scan: Mapped[int | None] = mapped_column(RowId)
    # "has a present file" as one probe per asset (the gap report's EXISTS, the image list)
    __table_args__ = (Index("ix_files_asset_status", "asset_id", "status"),)


class StageRecord(Base):
    """What one stage did to one asset: the planner's source of truth for remaining work."""

    __tablename__ = "stage_records"
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.asset_id"), primary_key=True)
    stage: Mapped[str] = mapped_column(String(16), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    params_hash: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(8))  # ok | failed | skipped
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[float] = mapped_column(Float)
    finished_at: Mapped[datetime]
    # (status, stage): the gap report's failed records without reading every record (migration 0018)
    __table_args__ = (Index("ix_stage_records_stage_status", "stage", "status"),
                      Index("ix_stage_records_status_stage", "status", "stage"),
                      # the newest record of a stage, for the catalog-wide stages' staleness (0018)
                      Index("ix_stage_records_stage_finished", "stage", "finished_at"))


class Metadata(Base):
    """Typed values read by the ``metadata`` stage (ExifTool), plus its raw JSON."""

    __tablename__ = "metadata"
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.asset_id"), primary_key=True)
    camera_make: Mapped[str | None] = mapped_column(Text)
    camera_model: Mapped[str | None] = mapped_column(Text)
    camera_serial: Mapped[str | None] = mapped_column(Text)
    lens: Mapped[str | None] = mapped_column(Text)
    focal_length_mm: Mapped[float | None]
    f_number: Mapped[float | None]
    exposure_time_s: Mapped[float | None]
    iso: Mapped[int | None]
    orientation: Mapped[int | None]
    width: Mapped[int | None]
    height: Mapped[int | None]
    mime_type: Mapped[str | None] = mapped_column(Text)
    gps_latitude: Mapped[float | None]
    gps_longitude: Mapped[float | None]
    gps_altitude_m: Mapped[float | None]
    burst_uuid: Mapped[str | None] = mapped_column(Text)
    burst_sequence: Mapped[str | None] = mapped_column(Text)
    image_unique_id: Mapped[str | None] = mapped_column(Text)
    rating: Mapped[int | None]
    title: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    keywords: Mapped[list] = mapped_column(JSONDoc(), default=list)
    flags: Mapped[list] = mapped_column(JSONDoc(), default=list)
    sidecar_path: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[dict] = mapped_column(JSONDoc())  # ExifTool JSON of the file
    sidecar_tags: Mapped[dict | None] = mapped_column(JSONDoc())  # ExifTool JSON of the XMP sidecar
    # the grid's camera filter: the distinct cameras and each one's asset ids from the index (0020)
    __table_args__ = (Index("ix_metadata_camera", "camera_make", "camera_model", "asset_id"),)


class CaptureDate(Base):
    """The ``dates`` stage's choice of capture time, and every candidate it weighed.

    ``capture_time`` is local wall-clock time in ISO 8601 with every sub-second digit the source
    gives (the displayed value); ``capture_time_utc`` the same instant in UTC when the offset is known
    (for sorting). ``capture_start_local``/``capture_end_local`` are the local wall-clock period that
    value stands for as timestamps (end exclusive: the second, or the 10 ms of ``.12``, or the whole
    day/month when the source gave only that, flags ``date_only``/``month_only``;
    ``lumina.stages.dates.capture_period``): every date-range filter compares them.
    """

    __tablename__ = "capture_dates"
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.asset_id"), primary_key=True)
    capture_time: Mapped[str | None] = mapped_column(String(40))
    capture_time_utc: Mapped[str | None] = mapped_column(String(40), index=True)
    capture_start_local: Mapped[datetime | None] = mapped_column(DateTime)
    capture_end_local: Mapped[datetime | None] = mapped_column(DateTime)
    capture_time_source: Mapped[str | None] = mapped_column(String(64))
    capture_time_confidence: Mapped[int | None]
    utc_offset_minutes: Mapped[int | None]
    utc_offset_source: Mapped[str | None] = mapped_column(String(64))
    flags: Mapped[list] = mapped_column(JSONDoc(), default=list)
    candidates: Mapped[list] = mapped_column(JSONDoc(), default=list)
    # the grid's order (capture start, then id) and its date ranges: pages of a 1M catalog read the
    # index, not a sort; the end rides along so that a date_from is tested inside the index
    __table_args__ = (Index("ix_capture_dates_time_asset", "capture_time", "asset_id"),
                      Index("ix_capture_dates_start_asset", "capture_start_local", "asset_id", "capture_end_local"))


class Place(Base):
    """The ``geo`` stage's validated position, geohash, place and time zone."""

    __tablename__ = "places"
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.asset_id"), primary_key=True)
    gps_latitude: Mapped[float | None]
    gps_longitude: Mapped[float | None]
    gps_altitude_m: Mapped[float | None]
    gps_source: Mapped[str | None] = mapped_column(String(32))
    geohash: Mapped[str | None] = mapped_column(String(12))
    country_code: Mapped[str | None] = mapped_column(String(2))
    region: Mapped[str | None] = mapped_column(Text)
    city: Mapped[str | None] = mapped_column(Text)
    timezone: Mapped[str | None] = mapped_column(String(64))
    flags: Mapped[list] = mapped_column(JSONDoc(), default=list)
    rejected: Mapped[list] = mapped_column(JSONDoc(), default=list)  # positions read but not used, with reasons
    city_distance_km: Mapped[float | None]  # great-circle distance from the position to the named city
    gps_confidence: Mapped[int | None]  # 0-100: 90 from the file, lowered for conflicts (see the geo stage)
    # the grid's filters: the asset ids of a country, a city or a geohash prefix from an index (0020)
    __table_args__ = (Index("ix_places_country", "country_code", "asset_id"), Index("ix_places_city", "city", "asset_id"),
                      Index("ix_places_geohash_asset", "geohash", "asset_id"))


class UserOverride(Base):
    """A value the user set (``lumina set-date``, later the API). Stored in the catalog only,
    never written into the library; it wins over every value read from files."""

    __tablename__ = "user_overrides"
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.asset_id"), primary_key=True)
    field: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[Any] = mapped_column(JSONDoc())
    set_at: Mapped[datetime]


class Thumbnail(Base):
    """The ``thumbnails`` stage: content-addressed files under ``DIR/thumbnails`` and a ThumbHash."""

    __tablename__ = "thumbnails"
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.asset_id"), primary_key=True)
    grid_path: Mapped[str] = mapped_column(Text)  # relative to the catalog folder
    grid_width: Mapped[int]
    grid_height: Mapped[int]
    grid_bytes: Mapped[int]
    preview_path: Mapped[str] = mapped_column(Text)
    preview_width: Mapped[int]
    preview_height: Mapped[int]
    preview_bytes: Mapped[int]
    thumbhash: Mapped[bytes] = mapped_column(LargeBinary)
    resizer: Mapped[str | None] = mapped_column(String(16))  # "libvips" or "pillow" (lumina.media.decode.resize)


class PerceptualHash(Base):
    """The ``hashes`` stage: 64-bit aHash/dHash/pHash/wHash (imagehash definitions), stored as
    signed 64-bit integers (two's complement of the unsigned hash; see lumina.stages.hashes)."""

    __tablename__ = "hashes"
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.asset_id"), primary_key=True)
    ahash: Mapped[int] = mapped_column(BigInteger)
    dhash: Mapped[int] = mapped_column(BigInteger)
    phash: Mapped[int] = mapped_column(BigInteger)
    whash: Mapped[int] = mapped_column(BigInteger)
    degenerate: Mapped[bool] = mapped_column(Boolean, default=False)
    degenerate_reason: Mapped[str | None] = mapped_column(Text)
    signature: Mapped[bytes | None] = mapped_column(LargeBinary)  # 64x64 uint8 grey, row-major


class Quality(Base):
    """The ``quality`` stage: a 0-100 pixel quality score with its components, and file fidelity."""

    __tablename__ = "quality"
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.asset_id"), primary_key=True)
    score: Mapped[float]
    sharpness: Mapped[float]  # variance of the Laplacian at quality_working_px
    clipped_highlights: Mapped[float]  # fraction of pixels >= 250
    clipped_shadows: Mapped[float]  # fraction of pixels <= 5
    mean_luminance: Mapped[float]  # 0-1
    noise_sigma: Mapped[float]  # grey levels (0-255 scale)
    megapixels: Mapped[float]
    jpeg_quality: Mapped[int | None]  # estimated IJG quality 1-100, None for non-JPEG
    components: Mapped[dict] = mapped_column(JSONDoc())  # the 0-1 sub-scores the score is built from
    fidelity_score: Mapped[float]  # file fidelity (format, pixels, bytes/pixel, metadata), 0-100
    format_rank: Mapped[int]
    bytes_per_pixel: Mapped[float]
    metadata_richness: Mapped[int]


class GenerationColumns:
    """Columns of one run of a catalog-wide stage (``lumina.pipeline.generations``)."""

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    status: Mapped[str] = mapped_column(String(12))  # building | complete
    rule_version: Mapped[int]
    params: Mapped[dict] = mapped_column(JSONDoc())
    stats: Mapped[dict] = mapped_column(JSONDoc(), default=dict)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class DuplicateGeneration(GenerationColumns, Base):
    """One run of duplicate detection. Its groups become visible when ``status`` is ``complete``
    and ``catalog_state['duplicates.generation']`` points at it (swapped in one transaction)."""

    __tablename__ = "duplicate_generations"


class DuplicateGroup(Base):
    __tablename__ = "duplicate_groups"
    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    generation_id: Mapped[int] = mapped_column(RowId, ForeignKey("duplicate_generations.id", ondelete="CASCADE"), index=True)
    group_class: Mapped[str] = mapped_column(String(16))  # exact | same_image | live_photo | derivative | similar_set
    # the id users see: kept across generations while the membership overlaps (``lumina.pipeline.stable_ids``)
    stable_id: Mapped[int | None] = mapped_column(RowId, index=True)
    reason: Mapped[str] = mapped_column(Text)
    keeper_asset_id: Mapped[str] = mapped_column(String(64))
    keeper_path: Mapped[str | None] = mapped_column(Text)  # exact groups: the file to keep
    keeper_reason: Mapped[str] = mapped_column(Text)
    resolved_at: Mapped[datetime | None]


class DuplicateMember(Base):
    __tablename__ = "duplicate_members"
    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    group_id: Mapped[int] = mapped_column(RowId, ForeignKey("duplicate_groups.id", ondelete="CASCADE"), index=True)
    asset_id: Mapped[str] = mapped_column(String(64), index=True)
    path: Mapped[str | None] = mapped_column(Text)  # exact groups list each file; others list assets
    member_class: Mapped[str] = mapped_column(String(16))
    distances: Mapped[dict] = mapped_column(JSONDoc())  # per-signal distances to the keeper


class DuplicateFeedback(Base):
    """A user's "not duplicates" verdict on a pair of assets (ids in sorted order), respected by every run."""

    __tablename__ = "duplicate_feedback"
    asset_a: Mapped[str] = mapped_column(String(64), primary_key=True)
    asset_b: Mapped[str] = mapped_column(String(64), primary_key=True)
    verdict: Mapped[str] = mapped_column(String(16))  # not_duplicate
    created_at: Mapped[datetime]


class CatalogState(Base):
    """Small key/value facts about the catalog (the current duplicate generation, ...)."""

    __tablename__ = "catalog_state"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSONDoc())


class RetiredId(Base):
    """A duplicate group or burst id that no longer exists, with its last members, so that an old
    link answers where they went (``lumina.pipeline.stable_ids``)."""

    __tablename__ = "retired_ids"
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # duplicates | bursts
    stable_id: Mapped[int] = mapped_column(RowId, primary_key=True)
    members: Mapped[list] = mapped_column(JSONDoc())  # asset ids
    retired_at: Mapped[datetime]


class BurstGeneration(GenerationColumns, Base):
    """One run of burst detection; visible once ``catalog_state['bursts.generation']`` points at it
    (swapped in one transaction, like duplicate generations)."""

    __tablename__ = "burst_generations"


class Burst(Base):
    """A burst: frames of one camera shot in quick succession, with the best frame and why."""

    __tablename__ = "bursts"
    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    generation_id: Mapped[int] = mapped_column(RowId, ForeignKey("burst_generations.id", ondelete="CASCADE"), index=True)
    stable_id: Mapped[int | None] = mapped_column(RowId, index=True)  # the id users see (see DuplicateGroup)
    camera: Mapped[str] = mapped_column(Text)
    start: Mapped[str | None] = mapped_column(String(40))  # capture time of the first frame (local, ISO 8601)
    end: Mapped[str | None] = mapped_column(String(40))
    signals: Mapped[dict] = mapped_column(JSONDoc())  # what made the frames one burst
    best_asset_id: Mapped[str] = mapped_column(String(64))
    best_reason: Mapped[str] = mapped_column(Text)


class BurstFrame(Base):
    """One frame of a burst, in capture order (``position`` from 0)."""

    __tablename__ = "burst_frames"
    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    burst_id: Mapped[int] = mapped_column(RowId, ForeignKey("bursts.id", ondelete="CASCADE"), index=True)
    asset_id: Mapped[str] = mapped_column(String(64), index=True)
    position: Mapped[int]
    capture_time: Mapped[str | None] = mapped_column(String(40))
    quality: Mapped[dict] = mapped_column(JSONDoc())  # score, sharpness, exposure of the frame
    link: Mapped[dict] = mapped_column(JSONDoc())  # evidence joining it to the previous frame


class Job(Base):
    """A durable job: a stage name, ``pipeline`` (every stage) or ``scan``, run by a worker.

    ``status``: queued | running | succeeded | failed | cancelled | interrupted. ``done`` and
    ``failed`` count asset-stage units (plus one per catalog-wide stage run) out of ``total``; a job
    that finished with failed units is ``succeeded`` with ``failed`` > 0 and its ``failures`` listed
    (path, stage, kind, message; the first ``MAX_LISTED_FAILURES``). Counts, failures and heartbeat
    are written in the same transaction as the results they describe.
    """

    __tablename__ = "jobs"
    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    job_type: Mapped[str] = mapped_column(String(32), index=True)
    params: Mapped[dict] = mapped_column(JSONDoc(), default=dict)
    status: Mapped[str] = mapped_column(String(12), index=True)
    done: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    stages: Mapped[dict] = mapped_column(JSONDoc(), default=dict)  # per stage: ok / failed / skipped
    failures: Mapped[list] = mapped_column(JSONDoc(), default=list)
    result: Mapped[dict] = mapped_column(JSONDoc(), default=dict)  # what the run returned (scan counts, ...)
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    worker_id: Mapped[str | None] = mapped_column(String(128))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text)
    lease_expires_at: Mapped[datetime | None]  # the owner's lease (UTC), renewed by its heartbeat


class WorkBatch(Base):
    """One batch of a job's per-asset work, claimed by one worker at a time (``lumina.pipeline.leases``).

    ``items``: ``[[asset_id, [stage, ...]], ...]``, the due stages of each asset; ``group``: the
    stage names run together (``"hashes+thumbnails"``). ``status``: pending | running | done; a
    ``running`` batch whose ``lease_expires_at`` (UTC) has passed belongs to a worker that is gone
    and is claimed again (``attempts`` counts claims). ``done_by`` is the worker whose commit of the
    results also marked the batch done: the per-batch completion log.
    """

    __tablename__ = "work_batches"
    __table_args__ = (Index("ix_work_batches_job_status", "job_id", "status"),)
    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    job_id: Mapped[int] = mapped_column(RowId, ForeignKey("jobs.id", ondelete="CASCADE"))
    group: Mapped[str] = mapped_column(String(200))
    items: Mapped[list] = mapped_column(JSONDoc())
    status: Mapped[str] = mapped_column(String(12))
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    done_by: Mapped[str | None] = mapped_column(String(128))
    finished_at: Mapped[datetime | None]


class TrashEntry(Base):
    """A file moved into a trash folder: a verified copy (size + SHA-256) was made there before the
    original was removed. ``status``: trashed | restored | emptied."""

    __tablename__ = "trash_entries"
    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    asset_id: Mapped[str | None] = mapped_column(String(64), index=True)
    original_path_bytes: Mapped[bytes] = mapped_column(LargeBinary)
    original_path: Mapped[str] = mapped_column(Text)
    trash_path_bytes: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)  # the command that removed it
    status: Mapped[str] = mapped_column(String(12), index=True)
    trashed_at: Mapped[datetime]
    restored_at: Mapped[datetime | None]
    emptied_at: Mapped[datetime | None]


class SidecarWrite(Base):
    """What ``lumina sidecars write`` last wrote into one sidecar: the values of the tags Lumina owns
    (to tell an edit made outside Lumina from Lumina's own) and the SHA-256 of the file afterwards."""

    __tablename__ = "sidecar_writes"
    path_bytes: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)
    asset_id: Mapped[str] = mapped_column(String(64), index=True)
    values: Mapped[dict] = mapped_column(JSONDoc())  # "Group:Tag" -> value as ExifTool reads it back
    sha256: Mapped[str] = mapped_column(String(64))
    written_at: Mapped[datetime]


class OrganisePlan(Base):
    """One ``lumina organise --apply``: its parameters and state (applying | applied | undone)."""

    __tablename__ = "organise_plans"
    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    target_bytes: Mapped[bytes] = mapped_column(LargeBinary)
    target: Mapped[str] = mapped_column(Text)
    layout: Mapped[str] = mapped_column(Text)
    mode: Mapped[str] = mapped_column(String(8))  # copy | move
    rejected: Mapped[str] = mapped_column(String(8))  # trash | skip | include
    status: Mapped[str] = mapped_column(String(12), index=True)
    totals: Mapped[dict] = mapped_column(JSONDoc(), default=dict)
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class OrganiseOp(Base):
    """One step of an organise plan, in ``seq`` order: the journal that apply, resume and undo follow.

    ``action``: copy | move | trash | remove (a moved sidecar's source, once its photos are done) | skip.
    ``status``: planned | copied (the verified copy is in place) | done | skipped | undone.
    """

    __tablename__ = "organise_ops"
    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    plan_id: Mapped[int] = mapped_column(RowId, ForeignKey("organise_plans.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    file_id: Mapped[int | None] = mapped_column(RowId)
    asset_id: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(8))  # photo | sidecar
    action: Mapped[str] = mapped_column(String(8))
    src_bytes: Mapped[bytes] = mapped_column(LargeBinary)
    dst_bytes: Mapped[bytes | None] = mapped_column(LargeBinary)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str | None] = mapped_column(Text)
    trash_entry_id: Mapped[int | None] = mapped_column(RowId)
class Embedding(Base):
    """The ``embeddings`` stage: image vectors, each with the model that produced it.

    ``vector``: float16 little-endian, ``dim`` values, L2-normalised (``model_id``, e.g.
    ``mobilenet_v2-imagenet@e673a87cc9e9``). ``class_scores``: ImageNet class index (as a string) ->
    probability, for the classes at or above 0.005 (what the ``tags`` stage reads).
    ``colours``: colour name -> fraction of the frame. ``clip_*``: the user's CLIP/SigLIP image
    embedding (same layout) when one is configured; ``clip_error`` says why it is absent when it is set but
    unusable.
    """

    __tablename__ = "embeddings"
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.asset_id"), primary_key=True)
    model_id: Mapped[str] = mapped_column(String(128), index=True)
    dim: Mapped[int]
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    class_scores: Mapped[dict] = mapped_column(JSONDoc(), default=dict)
    colours: Mapped[dict] = mapped_column(JSONDoc(), default=dict)
    clip_model_id: Mapped[str | None] = mapped_column(String(128))
    clip_dim: Mapped[int | None]
    clip_vector: Mapped[bytes | None] = mapped_column(LargeBinary)
    clip_error: Mapped[str | None] = mapped_column(Text)


class AssetTags(Base):
    """The ``tags`` stage: every tag of an asset as ``[{"tag", "score", "source", "model_id"}]``,
    ``source`` one of ``auto`` (a model; ``score`` 0-1), ``file`` (keywords read from the file or its
    sidecar; score 1) and ``manual`` (the user's; score 1). Auto-tags the user removed are never
    written back (they are kept in ``user_overrides`` as ``tags_removed``)."""

    __tablename__ = "asset_tags"
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.asset_id"), primary_key=True)
    tags: Mapped[list] = mapped_column(JSONDoc(), default=list)


class Description(Base):
    """The ``descriptions`` stage: one sentence per asset. ``source``: ``model`` (a vision-language
    model's caption; ``model_id`` names it) or ``template`` (built from tags, place, date, camera).
    ``text_vector``: float16 (``text_dim``) embedding of the sentence by ``text_model_id``."""

    __tablename__ = "descriptions"
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.asset_id"), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16))
    model_id: Mapped[str | None] = mapped_column(String(128))
    text_model_id: Mapped[str | None] = mapped_column(String(128))
    text_dim: Mapped[int | None]
    text_vector: Mapped[bytes | None] = mapped_column(LargeBinary)


class EmbeddingPair(Base):
    """The ``embedding_pairs`` stage: cosine distance of image embeddings for each verified duplicate
    (member to keeper), each burst (consecutive frames) and each ``derivative`` pair found through
    embedding neighbours that duplicate detection did not group. ``asset_a`` < ``asset_b``."""

    __tablename__ = "embedding_pairs"
    asset_a: Mapped[str] = mapped_column(String(64), primary_key=True)
    asset_b: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    relation: Mapped[str] = mapped_column(String(16), primary_key=True)  # duplicate | burst | derivative
    distance: Mapped[float] = mapped_column(Float)
    model_id: Mapped[str] = mapped_column(String(128))


class ChangeLog(Base):
    """One row per change to a table the planner reads, written by database triggers (migration
    0019): the proof that nothing changed since a run found nothing due (``lumina.pipeline.watermark``)."""

    __tablename__ = "change_log"
    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    __table_args__ = {"sqlite_autoincrement": True}


class PlanMark(Base):
    """For one list of stages (``+``-joined), the change log (row count and last id) and the
    settings' fingerprint when a run of those stages last found nothing due."""

    __tablename__ = "plan_marks"
    stages: Mapped[str] = mapped_column(String(400), primary_key=True)
    changes: Mapped[int] = mapped_column(BigInteger)
    last_change_id: Mapped[int] = mapped_column(BigInteger)
    fingerprint: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime]


class GapProfile(Base):
    """One distinct combination of what the gap report reads about an asset (``lumina.analysis.gaps``):
    ``profile`` is its JSON object (column name -> value), ``profile_key`` the SHA-256 of that text."""

    __tablename__ = "gap_profiles"
    profile_id: Mapped[int] = mapped_column(RowId, primary_key=True)
    profile_key: Mapped[str] = mapped_column(String(64), unique=True)
    profile: Mapped[str] = mapped_column(Text)


class GapAssetProfile(Base):
    """The gap report's summary: every asset with a present file points at its ``GapProfile``, so the
    report is one GROUP BY over this narrow table. Derived data: rebuilt from ``gap_dirty``."""

    __tablename__ = "gap_asset_profiles"
    asset_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    profile_id: Mapped[int] = mapped_column(RowId, index=True)


class GapDirty(Base):
    """An asset whose rows changed since the gap summary last saw it, marked by database triggers on
    every table the report reads (migration 0018); ``marks`` only counts touches (see there)."""

    __tablename__ = "gap_dirty"
    asset_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    marks: Mapped[int] = mapped_column(Integer, server_default="0")
