"""The ``quality`` stage: a 0-100 pixel quality score with stored components, and file fidelity.

Measured on the shared buffer resized to ``quality_working_px`` on the long edge, grey levels 0-255:

* sharpness: variance of the 3x3 Laplacian (Pech-Pacheco et al., "Diatom autofocusing in
  brightfield microscopy", ICPR 2000); sub-score ``log1p(var) / log1p(SHARP_VAR)`` capped at 1.
* exposure: fractions of clipped highlights (>= 250) and shadows (<= 5) and mean luminance;
  sub-score ``1 - 2*(highlights + shadows) - |mean - 0.5|``, clipped to 0..1.
* noise: sigma by Immerkær's fast noise variance estimation (J. Immerkær, "Fast Noise Variance
  Estimation", CVIU 64(2), 1996); sub-score ``1 - sigma / NOISE_SIGMA_MAX``.
* resolution: megapixels of the full image; sub-score ``MP / RESOLUTION_MP`` capped at 1.
* compression: JPEG quality estimated from the luminance quantisation table against the IJG
  standard table and libjpeg's quality scaling (jcparam.c); 100 for lossless formats.

``score = 100 * (0.40 sharpness + 0.25 exposure + 0.15 noise + 0.10 resolution + 0.10 compression)``;
the weights are Lumina's choice (sharpness first, as for picking a burst's best frame).

File fidelity (used to choose which copy of a duplicate to keep, not a pixel measure):
``format_rank`` (RAW 4, lossless TIFF/PNG/BMP 3, JPEG/HEIC/AVIF/WebP/JPEG XL 2, GIF and video 1),
pixels, bytes per pixel and metadata richness (count of capture date, camera, lens, GPS, exposure
present), combined as ``fidelity_score = 100 * (0.4 format + 0.3 pixels + 0.1 bytes/pixel + 0.2 metadata)``.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from lumina.catalog.models import Quality
from lumina.media.decode import resize
from lumina.stages.base import AssetView, PixelStage, StageResult

QUALITY_KERNEL = "linear"  # triangle filter, as Pillow's BILINEAR the scores were calibrated on
SHARP_VAR = 2000.0  # Laplacian variance treated as fully sharp at 512 px
NOISE_SIGMA_MAX = 10.0  # grey levels; noisier than this scores 0
RESOLUTION_MP = 12.0  # megapixels treated as full resolution
WEIGHTS = {"sharpness": 0.40, "exposure": 0.25, "noise": 0.15, "resolution": 0.10, "compression": 0.10}
# IJG standard luminance quantisation table (ITU-T T.81 Annex K, Table K.1), zig-zag order irrelevant for means
IJG_LUMINANCE = np.array([16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69,
                          56, 14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104,
                          113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], dtype=np.float64)
FORMAT_RANK = {"raw": 4, "tiff": 3, "png": 3, "bmp": 3, "psd": 3, "jpeg": 2, "heic": 2, "heif": 2, "avif": 2,
               "webp": 2, "jxl": 2, "jpeg2000": 2, "gif": 1}


def laplacian_variance(grey: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian of a 2-D float array (>= 3x3)."""
    lap = grey[1:-1, :-2] + grey[1:-1, 2:] + grey[:-2, 1:-1] + grey[2:, 1:-1] - 4 * grey[1:-1, 1:-1]
    return float(lap.var())


def noise_sigma(grey: np.ndarray) -> float:
    """Immerkær (1996) noise standard deviation of a 2-D float array, in its grey-level units."""
    h, w = grey.shape
    if h < 3 or w < 3:
        return 0.0
    conv = (grey[:-2, :-2] - 2 * grey[:-2, 1:-1] + grey[:-2, 2:]
            - 2 * grey[1:-1, :-2] + 4 * grey[1:-1, 1:-1] - 2 * grey[1:-1, 2:]
            + grey[2:, :-2] - 2 * grey[2:, 1:-1] + grey[2:, 2:])
    return float(math.sqrt(math.pi / 2) * np.abs(conv).sum() / (6 * (w - 2) * (h - 2)))


def jpeg_quality(quantization: dict | None) -> int | None:
    """Estimated IJG quality (1-100) from a JPEG's quantisation tables; ``None`` without tables."""
    if not quantization or 0 not in quantization:
        return None
    table = np.array(list(quantization[0])[:64], dtype=np.float64)
    scale = float(np.mean(table * 100.0 / IJG_LUMINANCE[:len(table)]))  # libjpeg: q_i = (T_i * S + 50) / 100
    quality = (200.0 - scale) / 2.0 if scale <= 100.0 else 5000.0 / scale
    return int(max(1, min(100, round(quality))))


def pixel_quality(image: Image.Image, width: int, height: int, quantization: dict | None,
                  working_px: int) -> dict:
    """Components and score for a decoded RGB image whose full size is ``width`` x ``height``."""
    small, _ = resize(image, working_px, QUALITY_KERNEL)
    grey = np.asarray(small.convert("L"), dtype=np.float64)
    sharp = laplacian_variance(grey) if min(grey.shape) >= 3 else 0.0
    highlights, shadows = float((grey >= 250).mean()), float((grey <= 5).mean())
    mean = float(grey.mean() / 255.0)
    sigma = noise_sigma(grey)
    mp = width * height / 1e6
    q = jpeg_quality(quantization)
    components = {
        "sharpness": min(1.0, math.log1p(sharp) / math.log1p(SHARP_VAR)),
        "exposure": max(0.0, min(1.0, 1.0 - 2.0 * (highlights + shadows) - abs(mean - 0.5))),
        "noise": max(0.0, 1.0 - sigma / NOISE_SIGMA_MAX),
        "resolution": min(1.0, mp / RESOLUTION_MP),
        "compression": (q if q is not None else 100) / 100.0,
    }
    score = 100.0 * sum(WEIGHTS[k] * v for k, v in components.items())
    return {"score": round(score, 2), "sharpness": round(sharp, 3), "clipped_highlights": round(highlights, 5),
            "clipped_shadows": round(shadows, 5), "mean_luminance": round(mean, 4), "noise_sigma": round(sigma, 4),
            "megapixels": round(mp, 3), "jpeg_quality": q,
            "components": {k: round(v, 4) for k, v in components.items()}}


def fidelity(file_type: str, media_kind: str, width: int, height: int, size_bytes: int,
             meta: dict | None) -> dict:
    """File fidelity values (see the module docstring)."""
    rank = 1 if media_kind == "video" else FORMAT_RANK.get(file_type, 1)
    pixels = width * height
    bpp = size_bytes / pixels if pixels else 0.0
    tags = (meta or {}).get("tags") or {}
    richness = sum([
        any(k in tags for k in ("EXIF:DateTimeOriginal", "QuickTime:CreationDate", "XMP:DateTimeOriginal")),
        bool((meta or {}).get("camera_make") or (meta or {}).get("camera_model")),
        bool((meta or {}).get("lens")),
        (meta or {}).get("gps_latitude") is not None,
        (meta or {}).get("exposure_time_s") is not None,
    ])
    score = 100 * (0.4 * rank / 4 + 0.3 * min(1.0, pixels / 24e6) + 0.1 * min(1.0, bpp / 3.0) + 0.2 * richness / 5)
    return {"fidelity_score": round(score, 2), "format_rank": rank, "bytes_per_pixel": round(bpp, 4),
            "metadata_richness": richness}


class QualityStage(PixelStage):
    name = "quality"
    version = 1
    requires = ("metadata",)
    setting_names = ("quality_working_px",)
    table = Quality

    def run_pixels(self, asset: AssetView, decoded) -> StageResult:
        working_px = int(self.settings["quality_working_px"])
        values = pixel_quality(decoded.resized(working_px, QUALITY_KERNEL), decoded.width, decoded.height,
                               decoded.jpeg_quantization, working_px)
        values.update(fidelity(asset.file_type, asset.media_kind, decoded.width, decoded.height, asset.size_bytes,
                               asset.inputs.get("metadata")))
        return StageResult("ok", values)
