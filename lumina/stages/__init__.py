"""Every stage, one module each, and the stage graph derived from their declarations.

Per-asset stages implement ``lumina.stages.base.Stage``; catalog-wide stages
``lumina.stages.base.CatalogStage``. ``GRAPH`` adds the stages declared but not implemented yet,
so that ``lumina gaps`` can show the whole job order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lumina.errors import StageError
from lumina.stages.base import CatalogStage, Stage, StageSpec
from lumina.stages.catalog import BurstsStage, DuplicatesStage, EmbeddingPairsStage
from lumina.stages.dates import DatesStage
from lumina.stages.descriptions import DescriptionsStage
from lumina.stages.embeddings import EmbeddingsStage
from lumina.stages.geo import GeoStage
from lumina.stages.hashes import HashesStage
from lumina.stages.metadata import MetadataStage
from lumina.stages.quality import QualityStage
from lumina.stages.tags import TagsStage
from lumina.stages.thumbnails import ThumbnailsStage

STAGES: dict[str, type[Stage]] = {cls.name: cls for cls in (MetadataStage, GeoStage, DatesStage,
                                                             ThumbnailsStage, HashesStage, QualityStage,
                                                             EmbeddingsStage, TagsStage, DescriptionsStage)}
CATALOG_STAGES: dict[str, type[CatalogStage]] = {cls.name: cls for cls in (BurstsStage, DuplicatesStage,
                                                                            EmbeddingPairsStage)}

_PRODUCES = {
    "metadata": "typed EXIF/XMP/IPTC/QuickTime values via ExifTool",
    "geo": "validated GPS, geohash, place, IANA time zone",
    "dates": "capture time with source, confidence, offset, flags",
    "thumbnails": "grid and preview thumbnails, ThumbHash",
    "hashes": "aHash, dHash, pHash, wHash, 64x64 signature",
    "quality": "pixel quality score and file fidelity",
    "bursts": "burst stacks and best frames",
    "duplicates": "exact and near-duplicate groups with keepers",
    "embeddings": "image embeddings (MobileNetV2; CLIP when configured), class scores, colours",
    "tags": "tags with score, source (auto, file, manual) and model",
    "descriptions": "one sentence per photo (a vision-language model, or a template)",
    "embedding_pairs": "embedding distances of duplicate and burst pairs; derivatives from embedding neighbours",
}


def _spec(cls: Any, scope: str) -> StageSpec:
    outputs = cls.outputs if scope == "catalog" else ((cls.table.__tablename__,) if cls.table is not None else ())
    return StageSpec(cls.name, tuple(cls.requires), scope, _PRODUCES[cls.name], cls.version,
                     tuple(cls.setting_names), outputs)


# Declaration order is the tie-break of the topological order.
GRAPH: tuple[StageSpec, ...] = (
    *(_spec(c, "asset") for c in STAGES.values()),
    *(_spec(c, "catalog") for c in CATALOG_STAGES.values()),
)
SPECS: dict[str, StageSpec] = {s.name: s for s in GRAPH}


def topological_order(names: Sequence[str] | None = None) -> list[str]:
    """Stage names with every prerequisite before its dependants (Kahn's algorithm, stable in
    declaration order). With ``names``, only those stages plus their prerequisites.

    Raises:
        StageError: on an unknown name or a cycle.
    """
    wanted: set[str] = set()

    def add(n: str) -> None:
        if n not in SPECS:
            raise StageError(f"unknown stage {n!r}; stages: {', '.join(SPECS)}")
        if n not in wanted:
            wanted.add(n)
            for r in SPECS[n].requires:
                add(r)

    for n in names if names is not None else list(SPECS):
        add(n)
    order: list[str] = []
    while len(order) < len(wanted):
        ready = [s.name for s in GRAPH if s.name in wanted and s.name not in order
                 and all(r in order for r in s.requires)]
        if not ready:
            raise StageError("the stage graph has a cycle")
        order.append(ready[0])
    return order


def dependants(name: str) -> list[str]:
    """Stages that read ``name``'s output, directly or through others, in topological order."""
    out: set[str] = set()
    changed = True
    while changed:
        changed = False
        for s in GRAPH:
            if s.name not in out and (name in s.requires or out & set(s.requires)):
                out.add(s.name)
                changed = True
    return [n for n in topological_order() if n in out]


def make_stage(name: str, settings: dict[str, Any]) -> Stage:
    """An instance of the per-asset stage called ``name``.

    Raises:
        StageError: if no such stage is implemented.
    """
    if name not in STAGES:
        raise StageError(f"stage {name!r} is not available; available: {', '.join(STAGES)}")
    return STAGES[name](settings)
