"""Catalog-wide stages: their declarations for the stage graph; the work is in
``lumina.pipeline.bursts_run`` and ``lumina.pipeline.duplicates_run`` (imported when first used)."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, ClassVar

from lumina.analysis import bursts, duplicates
from lumina.stages.base import CatalogStage


class _Delegating(CatalogStage):
    """A catalog stage whose run module provides ``is_stale``, ``current_generation`` and ``runner``."""

    module: ClassVar[str]
    runner: ClassVar[str]

    @classmethod
    def _run_module(cls) -> Any:
        return importlib.import_module(cls.module)

    @classmethod
    def is_stale(cls, session, settings: Mapping[str, Any]) -> bool:
        return cls._run_module().is_stale(session, dict(settings))

    @classmethod
    def generation_started(cls, session) -> Any:
        gen = cls._run_module().current_generation(session)
        return gen.started_at if gen else None

    @classmethod
    def run(cls, catalog: Any, force: bool = False) -> dict[str, Any]:
        return getattr(cls._run_module(), cls.runner)(catalog, force)


class BurstsStage(_Delegating):
    name = "bursts"
    version = bursts.RULE_VERSION
    requires = ("metadata", "geo", "dates", "hashes", "quality")
    setting_names = bursts.SETTING_NAMES
    outputs = ("burst_generations", "bursts", "burst_frames")
    module, runner = "lumina.pipeline.bursts_run", "run_bursts"


class DuplicatesStage(_Delegating):
    name = "duplicates"
    version = duplicates.RULE_VERSION
    requires = ("metadata", "dates", "hashes", "quality", "bursts")
    setting_names = duplicates.SETTING_NAMES
    outputs = ("duplicate_generations", "duplicate_groups", "duplicate_members")
    module, runner = "lumina.pipeline.duplicates_run", "run_duplicates"
