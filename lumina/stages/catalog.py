"""Catalog-wide stages: their declarations for the stage graph; the work is in
``lumina.pipeline.bursts_run`` and ``lumina.pipeline.duplicates_run`` (imported when first used)."""

from __future__ import annotations

from lumina.analysis import rules
from lumina.stages.base import CatalogStage


class BurstsStage(CatalogStage):
    name = "bursts"
    version = rules.BURSTS_RULE_VERSION
    requires = ("metadata", "geo", "dates", "hashes", "quality")
    setting_names = rules.BURSTS_SETTING_NAMES
    outputs = ("burst_generations", "bursts", "burst_frames")
    module, runner = "lumina.pipeline.bursts_run", "run_bursts"


class DuplicatesStage(CatalogStage):
    name = "duplicates"
    version = rules.DUPLICATES_RULE_VERSION
    requires = ("metadata", "dates", "hashes", "quality", "bursts")
    setting_names = rules.DUPLICATES_SETTING_NAMES
    outputs = ("duplicate_generations", "duplicate_groups", "duplicate_members")
    module, runner = "lumina.pipeline.duplicates_run", "run_duplicates"


class EmbeddingPairsStage(CatalogStage):
    name = "embedding_pairs"
    version = 1
    requires = ("embeddings", "duplicates", "bursts")
    setting_names = ("derivative_max_cosine_distance",)
    outputs = ("embedding_pairs",)
    module, runner = "lumina.pipeline.embedding_pairs_run", "run_embedding_pairs"
