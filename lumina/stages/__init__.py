"""Per-asset stages, one module each, all implementing ``lumina.stages.base.Stage``."""

from __future__ import annotations

from typing import Any

from lumina.errors import StageError
from lumina.stages.base import Stage
from lumina.stages.dates import DatesStage
from lumina.stages.geo import GeoStage
from lumina.stages.hashes import HashesStage
from lumina.stages.metadata import MetadataStage
from lumina.stages.quality import QualityStage
from lumina.stages.thumbnails import ThumbnailsStage

# Implemented stages by name; the full declared graph (including stages to come) is base.GRAPH.
STAGES: dict[str, type[Stage]] = {cls.name: cls for cls in (MetadataStage, GeoStage, DatesStage,
                                                             ThumbnailsStage, HashesStage, QualityStage)}


# Catalog-wide stages (lumina.pipeline.duplicates_run, ...): run after the per-asset stages.
CATALOG_STAGES: tuple[str, ...] = ("bursts", "duplicates")


def make_stage(name: str, settings: dict[str, Any]) -> Stage:
    """An instance of the stage called ``name``.

    Raises:
        StageError: if no such stage is implemented.
    """
    if name not in STAGES:
        raise StageError(f"stage {name!r} is not available; available: {', '.join(STAGES)}")
    return STAGES[name](settings)
