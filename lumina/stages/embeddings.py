"""The ``embeddings`` stage: an image vector per asset from the one shared decode, batched.

Each asset's decoded buffer is cropped to the encoder's input (``prepare_pixels``, 224x224x3
uint8, about 150 KB) while the buffer is in memory; crops of a batch (``batch_size`` assets) go
through the encoder ``model_batch`` at a time (``finish_batch``). One encoder session per worker
process, loaded on first use. Memory per worker: one decoded buffer plus ``batch_size`` crops.

Stored (``lumina.catalog.models.Embedding``): the default encoder's 1280-d L2-normalised vector as
float16 with its ``model_id``, ImageNet class probabilities >= ``CLASS_SCORE_MIN``, colour-name
fractions (``colour_fractions``), and, when ``clip_image_model_path`` is set, the CLIP vector with
its model id. The parameters hash includes the model ids, so a changed model file re-runs this
stage and, through ``requires``, what reads it (``tags``, ``descriptions``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from lumina.catalog.models import Embedding
from lumina.errors import error_text
from lumina.media.encoders import MOBILENET_PATH, ModelError, file_model_id, image_encoder
from lumina.stages.base import AssetView, PixelStage, StageResult

CLASS_SCORE_MIN = 0.005  # classes kept per asset; the softmax tail below it never makes a tag
# Colour names by hue (degrees, HSV): the eleven basic colour terms' chromatic ones (Berlin & Kay
# 1969) as hue ranges; a pixel counts when saturation >= 0.35 and value >= 0.25 (muted and dark
# pixels have no reliable hue).
HUE_NAMES = (("red", 0, 15), ("orange", 15, 40), ("yellow", 40, 70), ("green", 70, 170), ("blue", 170, 260),
             ("purple", 260, 300), ("pink", 300, 345), ("red", 345, 360))
COLOUR_MIN_SATURATION, COLOUR_MIN_VALUE = 0.35, 0.25
COLOURLESS_MAX = 0.01  # fraction of coloured pixels below which the frame is "black and white"


def colour_fractions(crop: np.ndarray) -> dict[str, float]:
    """Fraction of the frame (0-1, 3 decimals) per colour name; ``{"black and white": 1.0}`` when
    fewer than ``COLOURLESS_MAX`` of the pixels have a hue.

    Args:
        crop: uint8 RGB (H, W, 3).
    """
    hsv = np.asarray(Image.fromarray(crop).convert("HSV"), dtype=np.float32) / 255.0
    hue = hsv[..., 0] * 360.0
    coloured = (hsv[..., 1] >= COLOUR_MIN_SATURATION) & (hsv[..., 2] >= COLOUR_MIN_VALUE)
    if coloured.mean() < COLOURLESS_MAX:
        return {"black and white": 1.0}
    out: dict[str, float] = {}
    for name, lo, hi in HUE_NAMES:
        out[name] = out.get(name, 0.0) + float((coloured & (hue >= lo) & (hue < hi)).mean())
    return {k: round(v, 3) for k, v in out.items() if v > 0}


def to_blob(vector: np.ndarray) -> bytes:
    """float16 little-endian bytes of a 1-d vector."""
    return np.asarray(vector, dtype="<f2").tobytes()


def from_blob(blob: bytes) -> np.ndarray:
    """float32 1-d vector from ``to_blob`` bytes."""
    return np.frombuffer(blob, dtype="<f2").astype(np.float32)


class EmbeddingsStage(PixelStage):
    name = "embeddings"
    version = 1
    setting_names = ("clip_image_model_path",)
    table = Embedding
    batched = True
    # 8 assets per batch of the pixel group (one commit each), encoded 4 crops per onnxruntime call:
    # MobileNetV2's activations grow with the call's batch, and 4 per call is as fast per image as 8
    # (5.8-6.7 vs 6.3-7.5 ms CPU, one thread) for 40 MB less peak RSS per worker (160 vs 200 MB for
    # the session alone; benchmarks/bench_ingest.py prints the worker peak).
    batch_size = 8
    model_batch = 4

    def __init__(self, settings):
        super().__init__(settings)
        self._encoders: tuple | None = None
        self._error: str | None = None
        self._params: dict | None = None

    def params(self) -> dict[str, Any]:
        if self._params is None:
            p = super().params()
            p["model_id"] = file_model_id("mobilenet_v2-imagenet", MOBILENET_PATH) if MOBILENET_PATH.is_file() else "missing"
            clip = self.settings.get("clip_image_model_path")
            try:
                p["clip_model_id"] = file_model_id("clip-image", clip) if clip else None
            except OSError:
                p["clip_model_id"] = "missing"
            self._params = p
        return self._params

    def _load(self) -> tuple | None:
        """(default encoder, clip encoder or None, clip error or None), or None when the default fails."""
        if self._encoders is None and self._error is None:
            clip_error = None
            try:
                default, _ = image_encoder({})
            except ModelError as exc:
                self._error = error_text("model_error", str(exc))
                return None
            clip = None
            if self.settings.get("clip_image_model_path"):
                try:
                    _, clip = image_encoder(self.settings)
                except ModelError as exc:
                    clip_error = error_text("model_error", str(exc))
            self._encoders = (default, clip, clip_error)
        return self._encoders

    def preflight(self) -> None:
        """Loads the models once in the main process and prints one line for each unusable one;
        the stage then skips (default model) or stores no CLIP vector (CLIP model), nothing else."""
        enc = self._load()
        if enc is None:
            print(f"lumina: embeddings skipped: {self._error}", file=sys.stderr)
        elif enc[2]:
            print(f"lumina: CLIP embeddings skipped: {enc[2]}", file=sys.stderr)

    def prepare_pixels(self, asset: AssetView, decoded) -> Any:
        """The encoder inputs of one asset, taken from the shared 512 px working copy (the buffer when
        the copy's short side is below the encoder's resize size: panoramas); no second decode."""
        enc = self._load()
        if enc is None:
            return None
        default, clip, _ = enc
        return (default.prepare(decoded.source_for(default.resize_px)),
                clip.prepare(decoded.source_for(clip.resize_px)) if clip else None)

    def finish_batch(self, prepared: Sequence[tuple[AssetView, Any]]) -> list[StageResult]:
        """Encoder calls of ``model_batch`` crops per model; results in the order of ``prepared``."""
        enc = self._load()
        if enc is None:
            return [StageResult("skipped", reason=self._error) for _ in prepared]
        default, clip, clip_error = enc
        results = []
        for start in range(0, len(prepared), self.model_batch):
            results += self._encode(prepared[start:start + self.model_batch], default, clip, clip_error)
        return results

    def _encode(self, prepared: Sequence[tuple[AssetView, Any]], default, clip, clip_error) -> list[StageResult]:
        """One encoder call per model for at most ``model_batch`` assets."""
        out = default.encode(np.stack([p[0] for _, p in prepared]))
        clip_vectors = clip.encode(np.stack([p[1] for _, p in prepared])).embedding if clip else None
        results = []
        for i, (_, (crop, _)) in enumerate(prepared):
            probs = out.probabilities[i]
            keep = np.flatnonzero(probs >= CLASS_SCORE_MIN)
            values = {"model_id": default.model_id, "dim": default.dim, "vector": to_blob(out.embedding[i]),
                      "class_scores": {str(int(k)): round(float(probs[k]), 4) for k in keep},
                      "colours": colour_fractions(crop),
                      "clip_model_id": clip.model_id if clip else None, "clip_dim": clip.dim if clip else None,
                      "clip_vector": to_blob(clip_vectors[i]) if clip else None, "clip_error": clip_error}
            results.append(StageResult("ok", values))
        return results
