"""Catalog-wide stages: their declarations for the stage graph; the work is in
``lumina.pipeline.bursts_run`` and ``lumina.pipeline.duplicates_run``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lumina.analysis import bursts, duplicates
from lumina.stages.base import CatalogStage


class BurstsStage(CatalogStage):
    name = "bursts"
    version = bursts.RULE_VERSION
    requires = ("metadata", "geo", "dates", "hashes", "quality")
    setting_names = bursts.SETTING_NAMES
    outputs = ("burst_generations", "bursts", "burst_frames")

    @classmethod
    def is_stale(cls, session, settings: Mapping[str, Any]) -> bool:
        from lumina.pipeline.bursts_run import is_stale

        return is_stale(session, dict(settings))

    @classmethod
    def generation_started(cls, session) -> Any:
        from lumina.pipeline.bursts_run import current_generation

        gen = current_generation(session)
        return gen.started_at if gen else None

    @classmethod
    def run(cls, catalog: Any, force: bool = False) -> dict[str, Any]:
        from lumina.pipeline.bursts_run import run_bursts

        return run_bursts(catalog, force)


class DuplicatesStage(CatalogStage):
    name = "duplicates"
    version = duplicates.RULE_VERSION
    requires = ("metadata", "dates", "hashes", "quality", "bursts")
    setting_names = ("duplicate_radius_bits", "duplicate_max_group", "burst_max_gap_s")
    outputs = ("duplicate_generations", "duplicate_groups", "duplicate_members")

    @classmethod
    def is_stale(cls, session, settings: Mapping[str, Any]) -> bool:
        from lumina.pipeline.duplicates_run import is_stale

        return is_stale(session, dict(settings))

    @classmethod
    def generation_started(cls, session) -> Any:
        from lumina.pipeline.duplicates_run import current_generation

        gen = current_generation(session)
        return gen.started_at if gen else None

    @classmethod
    def run(cls, catalog: Any, force: bool = False) -> dict[str, Any]:
        from lumina.pipeline.duplicates_run import run_duplicates

        return run_duplicates(catalog, force)
