"""The one interface every stage implements, and the declared stage graph.

A stage is a pure computation: it receives ``AssetView``s and returns one ``StageResult``
per asset. The pipeline decides which assets need the stage (from stage records), runs it,
and writes the returned values together with a stage record in one transaction.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from lumina.errors import StageError


@dataclass(frozen=True)
class StageResult:
    """Outcome of one stage on one asset.

    ``values`` are the columns the stage writes into its table (written for ``ok`` and, when
    given, for ``failed`` so that partial results such as a truncated file's metadata are kept);
    ``reason`` is ``"<error kind>: <message>"`` for failures or a skip reason.
    """

    status: Literal["ok", "skipped", "failed"]
    values: Mapping[str, Any] = field(default_factory=dict)
    reason: str | None = None


@dataclass(frozen=True)
class AssetView:
    """What a stage may read about one asset.

    ``path`` is one present file of the asset (bytes, exact file-system name); ``inputs`` holds
    the outputs of the stages named in ``requires`` (table rows as dicts, or ``None``).
    """

    asset_id: str
    path: bytes
    media_kind: str
    file_type: str
    size_bytes: int
    mtime_ns: int
    sidecar: bytes | None = None
    sidecar_signature: str | None = None
    inputs: Mapping[str, Any] = field(default_factory=dict)


class Stage:
    """Base class of per-asset stages.

    Class attributes: ``name`` (also the CLI/API/report name), ``version`` (bump when output
    for the same input changes), ``requires`` (stages whose outputs it reads), ``setting_names``
    (settings that feed the parameters hash), ``batch_size`` and ``parallel`` (whether batches
    may run in worker processes).
    """

    name: ClassVar[str]
    version: ClassVar[int]
    requires: ClassVar[tuple[str, ...]] = ()
    setting_names: ClassVar[tuple[str, ...]] = ()
    batch_size: ClassVar[int] = 256
    parallel: ClassVar[bool] = False
    table: ClassVar[Any] = None  # SQLAlchemy model the values go into (primary key asset_id)

    def __init__(self, settings: Mapping[str, Any]):
        self.settings = dict(settings)

    def params(self) -> dict[str, Any]:
        return {k: self.settings[k] for k in self.setting_names}

    def input_signature(self, asset: AssetView) -> str:
        """Extra per-asset input that, when changed, makes a record stale (e.g. a sidecar)."""
        return ""

    def params_hash(self, asset: AssetView) -> str:
        """16 hex chars of SHA-256 over the parameters and the asset's input signature."""
        doc = json.dumps({"p": self.params(), "i": self.input_signature(asset)}, sort_keys=True, default=str)
        return hashlib.sha256(doc.encode()).hexdigest()[:16]

    def preflight(self) -> None:
        """Check, before any asset is processed, that the stage can run at all (its tools exist).

        Raises:
            LuminaError: when it cannot; the run stops instead of failing every asset.
        """

    def run(self, asset: AssetView) -> StageResult:
        raise StageError(f"stage {self.name} implements neither run() nor run_batch()")

    def run_batch(self, assets: Sequence[AssetView]) -> list[StageResult]:
        """Results in the order of ``assets``; stages with a per-batch resource override this."""
        return [self.run(a) for a in assets]

    def close(self) -> None:
        """Release per-process resources (external processes)."""


class PixelStage(Stage):
    """A stage computed from the one decoded buffer of an asset (``lumina.media.decode``).

    The runner decodes each asset once and hands the same ``Decoded`` to every pixel stage
    that is due for it; a decode failure becomes each due stage's failure.
    """

    pixels: ClassVar[bool] = True
    parallel = True
    batch_size = 16
    decode_settings: ClassVar[tuple[str, ...]] = ("decode_max_edge_px", "max_image_pixels")

    def params(self) -> dict[str, Any]:
        return {k: self.settings[k] for k in self.decode_settings + self.setting_names}

    def run_pixels(self, asset: AssetView, decoded: Any) -> StageResult:
        raise StageError(f"pixel stage {self.name} does not implement run_pixels()")


@dataclass(frozen=True)
class StageSpec:
    """A node of the stage graph. ``scope`` is ``"asset"`` or ``"catalog"``."""

    name: str
    requires: tuple[str, ...]
    scope: str
    produces: str


# The declared graph of every stage Lumina has or will have; `lumina gaps` derives the job
# order from it, and the planner runs prerequisites first.
GRAPH: tuple[StageSpec, ...] = (
    StageSpec("metadata", (), "asset", "typed EXIF/XMP/IPTC/QuickTime values via ExifTool"),
    StageSpec("geo", ("metadata",), "asset", "validated GPS, geohash, place, IANA time zone"),
    StageSpec("dates", ("metadata", "geo"), "asset", "capture time with source, confidence, offset, flags"),
    StageSpec("thumbnails", (), "asset", "grid and preview thumbnails, ThumbHash"),
    StageSpec("hashes", (), "asset", "aHash, dHash, pHash, wHash"),
    StageSpec("quality", (), "asset", "pixel quality score and file fidelity"),
    StageSpec("embeddings", ("thumbnails",), "asset", "CLIP image embeddings"),
    StageSpec("tags", ("embeddings",), "asset", "tags and descriptions from embeddings"),
    StageSpec("bursts", ("metadata", "dates", "hashes", "quality"), "catalog", "burst stacks and best frames"),
    StageSpec("duplicates", ("metadata", "dates", "hashes", "quality", "bursts"), "catalog",
              "exact and near-duplicate groups with keepers"),
)
SPECS = {s.name: s for s in GRAPH}


def topological_order(names: Sequence[str] | None = None) -> list[str]:
    """Stage names with every prerequisite before its dependants (Kahn's algorithm, stable
    in declaration order). With ``names``, only those stages plus their prerequisites.

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
