"""Image and text encoders run through onnxruntime (never torch): the adapters behind the
``embeddings`` stage and text search.

* ``MobileNetV2Encoder`` (default): ``lumina/models/mobilenet_v2.onnx`` (torchvision's ImageNet
  MobileNetV2, exported by ``tools/export_models.py``): 1280-d pooled features, L2-normalised, and
  the 1000 ImageNet class probabilities. Preprocessing is torchvision's ImageNet evaluation
  transform (short side 256 px bilinear, centre crop 224 px, mean/std normalisation).
* ``ClipImageEncoder`` / ``ClipTextEncoder``: a user's own CLIP/SigLIP ONNX encoders from local
  paths (settings ``clip_image_model_path``, ``clip_text_model_path``, ``clip_tokenizer_path``).
  The image encoder takes float32 (N, 3, S, S) (S read from the model's input shape, CLIP's
  mean/std) and returns (N, d); the text encoder takes int64 ``input_ids`` (N, T) (plus
  ``attention_mask`` when it declares one) from a ``tokenizers`` tokenizer.json and returns (N, d).
* ``MiniLMTextEncoder``: ``lumina/models/minilm_l6_int8.onnx`` (all-MiniLM-L6-v2, mean pooling and
  L2 normalisation inside the graph), 384-d; maps queries onto tag names and descriptions.

Every encoder has a ``model_id`` (``name@<first 12 hex of the file's SHA-256>``) that travels with
each vector. One onnxruntime session per process, one intra-op thread (the pipeline already runs
one worker per core). A missing, truncated or wrongly shaped model raises ``ModelError`` with one
line saying which file and what next.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from lumina.errors import ConfigError
from lumina.media.fileops import sha256_file
from lumina.models import MODELS_DIR

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)  # torchvision ImageNet normalisation
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)  # OpenAI CLIP preprocessing
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)
MOBILENET_PATH = MODELS_DIR / "mobilenet_v2.onnx"
MINILM_PATH = MODELS_DIR / "minilm_l6_int8.onnx"
MINILM_TOKENIZER_PATH = MODELS_DIR / "minilm_tokenizer.json"
TEXT_MAX_TOKENS = 77  # CLIP's context length; also ample for tag names and one-sentence descriptions


class ModelError(ConfigError):
    """A model file is missing, unreadable, truncated or has the wrong inputs/outputs."""


def file_model_id(name: str, path: Path) -> str:
    """``name@<12 hex of SHA-256 of the file>``: changes whenever the weights change."""
    return f"{name}@{sha256_file(path)[:12]}"


def open_session(path: Path, what: str):
    """An onnxruntime CPU session for ``path`` with one intra-op thread.

    Raises:
        ModelError: missing file or a file onnxruntime cannot load (truncated, not ONNX).
    """
    import onnxruntime as ort

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{what} model not found at {path}; fix the path or clear the setting")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own untyped errors for bad files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{what} model {path} cannot be loaded (truncated or not ONNX?): {first}") from None


@dataclass
class ImageEncoding:
    """``embedding``: float32 (N, d), rows L2-normalised. ``probabilities``: float32 (N, 1000)
    ImageNet class probabilities, or None for encoders without a classifier."""

    embedding: np.ndarray
    probabilities: np.ndarray | None


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _square_crop(image: Image.Image, resize_px: int, crop_px: int) -> np.ndarray:
    """RGB uint8 (crop_px, crop_px, 3): short side to ``resize_px`` (bilinear), centre crop."""
    w, h = image.size
    scale = resize_px / min(w, h)
    img = image.convert("RGB").resize((max(crop_px, round(w * scale)), max(crop_px, round(h * scale))),
                                      Image.Resampling.BILINEAR)
    left, top = (img.width - crop_px) // 2, (img.height - crop_px) // 2
    return np.asarray(img.crop((left, top, left + crop_px, top + crop_px)), dtype=np.uint8)


class _OnnxImageEncoder:
    name: str
    path: Path
    mean: np.ndarray
    std: np.ndarray
    input_px = 224
    resize_px = 256

    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path else self.path
        self.session = open_session(self.path, self.name)
        self.model_id = file_model_id(self.name, self.path)
        self._check()

    def _check(self) -> None:
        shape = self.session.get_inputs()[0].shape
        if len(shape) != 4 or shape[1] != 3:
            raise ModelError(f"{self.name} model {self.path}: input shape {shape}, expected (N, 3, S, S)")

    def prepare(self, image: Image.Image) -> np.ndarray:
        """uint8 (S, S, 3) crop of a decoded buffer: what ``encode`` takes (about 150 KB at 224 px)."""
        return _square_crop(image, self.resize_px, self.input_px)

    def _run(self, crops: np.ndarray) -> list[np.ndarray]:
        x = (crops.astype(np.float32) / 255.0 - self.mean) / self.std
        return self.session.run(None, {self.session.get_inputs()[0].name: x.transpose(0, 3, 1, 2).copy()})


class MobileNetV2Encoder(_OnnxImageEncoder):
    """The default image encoder (see the module docstring); ``dim`` 1280."""

    name = "mobilenet_v2-imagenet"
    path = MOBILENET_PATH
    mean, std = IMAGENET_MEAN, IMAGENET_STD
    dim = 1280

    def encode(self, crops: np.ndarray) -> ImageEncoding:
        """Args: crops uint8 (N, 224, 224, 3) from ``prepare``. Returns an ``ImageEncoding``."""
        features, probabilities = self._run(crops)
        return ImageEncoding(_normalise(features), np.asarray(probabilities, dtype=np.float32))


class ClipImageEncoder(_OnnxImageEncoder):
    """A user's CLIP/SigLIP image encoder (ONNX, first output (N, d) image embeddings)."""

    name = "clip-image"
    mean, std = CLIP_MEAN, CLIP_STD

    def _check(self) -> None:
        super()._check()
        side = self.session.get_inputs()[0].shape[2]
        self.input_px = self.resize_px = side if isinstance(side, int) else 224
        out = self.session.get_outputs()[0].shape
        if len(out) != 2 or not isinstance(out[1], int):
            raise ModelError(f"{self.name} model {self.path}: output shape {out}, expected (N, d)")
        self.dim = out[1]

    def encode(self, crops: np.ndarray) -> ImageEncoding:
        return ImageEncoding(_normalise(self._run(crops)[0]), None)


class _OnnxTextEncoder:
    name: str

    def __init__(self, path: Path, tokenizer_path: Path):
        from tokenizers import Tokenizer

        self.path = Path(path)
        self.session = open_session(self.path, self.name)
        if not Path(tokenizer_path).is_file():
            raise ModelError(f"{self.name} tokenizer not found at {tokenizer_path}; fix the path or clear the setting")
        try:
            self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        except Exception as exc:  # noqa: BLE001 - tokenizers raises a bare Exception for bad JSON
            raise ModelError(f"{self.name} tokenizer {tokenizer_path} cannot be read: {exc}") from None
        self.tokenizer.enable_truncation(max_length=TEXT_MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=self.tokenizer.token_to_id("[PAD]") or 0)
        self.model_id = file_model_id(self.name, self.path)
        self.inputs = [i.name for i in self.session.get_inputs()]
        out = self.session.get_outputs()[0].shape
        if len(out) != 2 or not isinstance(out[1], int):
            raise ModelError(f"{self.name} model {self.path}: output shape {out}, expected (N, d)")
        self.dim = out[1]

    def encode(self, texts: list[str]) -> np.ndarray:
        """float32 (len(texts), dim), rows L2-normalised; in batches of 64."""
        out = []
        for i in range(0, len(texts), 64):
            enc = self.tokenizer.encode_batch(texts[i:i + 64])
            feed = {"input_ids": np.array([e.ids for e in enc], dtype=np.int64),
                    "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
                    "token_type_ids": np.array([e.type_ids for e in enc], dtype=np.int64)}
            out.append(self.session.run(None, {k: v for k, v in feed.items() if k in self.inputs})[0])
        return _normalise(np.concatenate(out)) if out else np.zeros((0, self.dim), np.float32)


class MiniLMTextEncoder(_OnnxTextEncoder):
    """all-MiniLM-L6-v2 (int8), 384-d: the text side of search without CLIP."""

    name = "all-minilm-l6-v2-int8"

    def __init__(self):
        super().__init__(MINILM_PATH, MINILM_TOKENIZER_PATH)


class ClipTextEncoder(_OnnxTextEncoder):
    """A user's CLIP/SigLIP text encoder (ONNX, first output (N, d) text embeddings)."""

    name = "clip-text"


def image_encoder(settings: dict):
    """The image encoders a catalog's settings ask for: ``(default, clip or None)``.

    Raises:
        ModelError: a model that is set but unusable.
    """
    clip = ClipImageEncoder(Path(settings["clip_image_model_path"])) if settings.get("clip_image_model_path") else None
    return MobileNetV2Encoder(), clip


_TEXT: dict[tuple, object] = {}


def text_encoder(settings: dict, clip: bool):
    """The text encoder (cached per process): CLIP's when ``clip`` and configured, else MiniLM.

    Raises:
        ModelError: a model that is set but unusable.
    """
    key = (clip, settings.get("clip_text_model_path"), settings.get("clip_tokenizer_path"))
    if key not in _TEXT:
        _TEXT[key] = (ClipTextEncoder(Path(key[1]), Path(key[2])) if clip else MiniLMTextEncoder())
    return _TEXT[key]
