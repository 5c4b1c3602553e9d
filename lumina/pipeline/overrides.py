"""User overrides: values the user sets, stored in the catalog (never in the library), that win
over everything read from files. Setting one marks the stages that read it stale and re-runs them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from lumina.catalog.db import Catalog
from lumina.catalog.models import StageRecord, UserOverride
from lumina.catalog.queries import describe
from lumina.errors import CatalogError, ConfigError
from lumina.pipeline.runner import run_pipeline
from lumina.pipeline.scan import now
from lumina.stages.dates import Rejected, parse_datetime
from lumina.catalog.writes import upsert

# field -> stages that read it (they are re-run when it changes)
OVERRIDE_READERS = {"capture_time": ("dates",), "gps": ("geo", "dates"),
                    "tags_manual": ("tags", "descriptions"), "tags_removed": ("tags", "descriptions")}


def set_override(catalog: Catalog, ref: str, field: str, value: Any | None) -> dict[str, Any]:
    """Set (or with ``value=None`` clear) a user override and re-run its readers.

    Args:
        ref: a catalogued file path or asset id.
        field: ``"capture_time"`` (value ``{"value": ISO 8601, "utc_offset_minutes": int | None}``) or
            ``"gps"`` (value ``{"latitude", "longitude", "altitude_m"}``).
    Returns:
        The asset as ``lumina show`` describes it afterwards, plus ``pending_job``: None when the
        override is applied, else the id of the job queued to apply it (or None if one was running).
    Raises:
        ConfigError: unknown field or invalid value. NotFoundError: ref not in the catalog.
        CatalogError: the asset has no present file. While another scan or job writes, the
        override is stored and its readers are queued (``pending_job``) instead of refused.
    """
    if field not in OVERRIDE_READERS:
        raise ConfigError(f"cannot override {field!r}; fields: {', '.join(OVERRIDE_READERS)}")
    if field == "capture_time" and value is not None:
        try:
            _, _, offset = parse_datetime(value["value"], int(catalog.settings["date_min_year"]))
        except Rejected as exc:
            raise ConfigError(f"invalid capture time {value['value']!r}: {exc}") from None
        if value.get("utc_offset_minutes") is None:
            value = {**value, "utc_offset_minutes": offset}
    with catalog.session() as s:  # one SQLite transaction: waits for a running job's batch, never refused
        doc = describe(s, ref)
        asset_id = doc["asset_id"]
        if asset_id is None:
            raise CatalogError(f"{ref!r} is catalogued but is not an asset (see `lumina show`)")
        if not doc["paths"]:
            raise CatalogError(f"no file of asset {asset_id[:12]}… is present on disk; rescan its folder first")
        existing = s.get(UserOverride, (asset_id, field))
        if value is None:
            if existing is not None:
                s.delete(existing)
        else:
            upsert(s, UserOverride, [dict(asset_id=asset_id, field=field, value=value, set_at=now())])
        s.execute(update(StageRecord).where(StageRecord.asset_id == asset_id,
                                            StageRecord.stage.in_(OVERRIDE_READERS[field]))
                  .values(params_hash="stale"))
        s.commit()
        try:
            run_pipeline(catalog, list(OVERRIDE_READERS[field]))
        except CatalogError:  # a scan or job is writing: the readers run after it. The last reader's job
            # brings its prerequisites; a job already queued or running plans the stale records too
            from lumina.pipeline.jobs import submit_unless_active

            pending = submit_unless_active(catalog, OVERRIDE_READERS[field][-1])
            return {**describe(s, asset_id), "pending_job": pending}
        from lumina.pipeline.sidecars import write_on_change  # sidecars_write_on_change; with a job
        # writing, the sidecar is written by `lumina sidecars write` (or the next edit) instead

        write_on_change(catalog, [asset_id])
        return {**describe(s, asset_id), "pending_job": None}


def parse_capture_time(text: str, min_year: int = 1826) -> dict[str, Any]:
    """``{"value", "utc_offset_minutes"}`` from ``YYYY-MM-DDTHH:MM:SS[.fff][±HH:MM]``.

    Raises:
        ConfigError: when the text is not such a date-time.
    """
    try:
        local, subsec, offset = parse_datetime(text, min_year)
    except Rejected as exc:
        raise ConfigError(f"invalid capture time {text!r}: {exc}") from None
    iso = local.strftime("%Y-%m-%dT%H:%M:%S") + (f".{subsec}" if subsec else "")
    return {"value": iso, "utc_offset_minutes": offset}


__all__ = ["OVERRIDE_READERS", "parse_capture_time", "set_override"]
