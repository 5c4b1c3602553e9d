"""The one interface every stage implements, and the declared stage graph.

A stage is a pure computation: it receives ``AssetView``s and returns one ``StageResult``
per asset. The pipeline decides which assets need the stage (from stage records), runs it,
and writes the returned values together with a stage record in one transaction.
"""

from __future__ import annotations

import hashlib
import importlib
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

    batched: ClassVar[bool] = False  # True: prepare_pixels per asset, then finish_batch per batch

    def run_pixels(self, asset: AssetView, decoded: Any) -> StageResult:
        raise StageError(f"pixel stage {self.name} does not implement run_pixels()")

    def prepare_pixels(self, asset: AssetView, decoded: Any) -> Any:
        """Batched stages: what ``finish_batch`` needs from this asset's buffer (kept small: the
        buffer itself is freed before the next asset is decoded)."""
        raise StageError(f"pixel stage {self.name} does not implement prepare_pixels()")

    def finish_batch(self, prepared: Sequence[tuple[AssetView, Any]]) -> list[StageResult]:
        """Batched stages: one result per ``(asset, prepare_pixels output)``, in that order."""
        raise StageError(f"pixel stage {self.name} does not implement finish_batch()")


class CatalogStage:
    """Base class of catalog-wide stages (bursts, duplicates): one run over the whole catalog,
    written as a generation and swapped in atomically.

    Class attributes as for ``Stage``; ``outputs`` names the tables written; ``module`` is the
    pipeline module doing the work (imported when first used), which provides ``is_stale``,
    ``current_generation`` and the function named ``runner``.
    """

    name: ClassVar[str]
    version: ClassVar[int]
    requires: ClassVar[tuple[str, ...]] = ()
    setting_names: ClassVar[tuple[str, ...]] = ()
    outputs: ClassVar[tuple[str, ...]] = ()
    module: ClassVar[str]
    runner: ClassVar[str]

    @classmethod
    def _run_module(cls) -> Any:
        return importlib.import_module(cls.module)

    @classmethod
    def is_stale(cls, session, settings: Mapping[str, Any]) -> bool:
        """True when the current generation is missing or older than its inputs."""
        return cls._run_module().is_stale(session, dict(settings))

    @classmethod
    def generation_started(cls, session) -> Any:
        """When the current generation's run started (None when there is none)."""
        gen = cls._run_module().current_generation(session)
        return gen.started_at if gen else None

    @classmethod
    def run(cls, catalog: Any, force: bool = False) -> dict[str, Any]:
        """Run over the whole catalog; returns stats (``{"skipped": why}`` when up to date)."""
        return getattr(cls._run_module(), cls.runner)(catalog, force)


@dataclass(frozen=True)
class StageSpec:
    """A node of the stage graph: ``scope`` is ``"asset"`` or ``"catalog"``; ``version`` is None
    for a stage declared but not implemented yet."""

    name: str
    requires: tuple[str, ...]
    scope: str
    produces: str
    version: int | None = None
    settings: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
