"""The ``thumbnails`` stage: a grid WebP, a preview JPEG and a ThumbHash from the shared buffer.

Files are content-addressed under the catalog folder:
``thumbnails/<aa>/<asset_id>-<settings>-grid.webp`` and ``…-preview.jpg`` where ``<settings>``
is 8 hex digits of the parameters hash, so changed settings give new files and unchanged ones are
never regenerated. Files are written to a temporary name and renamed (atomic on POSIX).
ThumbHash: Evan Wallace's placeholder format (evanw.github.io/thumbhash), via the ``thumbhash``
package (pure Python), from a copy at most ``THUMBHASH_PX`` on the long edge: the format keeps at
most 7 low-frequency coefficients per axis, so 32 px loses nothing visible and costs a tenth of the
100 px maximum (114 ms -> 11 ms per image here).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import thumbhash
from PIL import Image

from lumina.catalog.models import Thumbnail
from lumina.stages.base import AssetView, PixelStage, StageResult

THUMBHASH_PX = 32  # the encoder accepts up to 100x100; see the module docstring


# Encoder effort, measured by benchmarks/bench_ingest.py on ../shared/corpus/large: WebP method 2
# instead of 4 encodes a 256 px grid thumbnail 5x faster for 2 % more bytes; the preview JPEG keeps
# libjpeg's standard Huffman tables (no ``optimize`` pass): identical pixels, 2.6x faster, 2 % more bytes.
ENCODER_OPTIONS = {"WEBP": {"method": 2}, "JPEG": {"optimize": False}}


def _save_atomic(img: Image.Image, path: Path, fmt: str, quality: int) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        img.save(tmp, fmt, quality=quality, **ENCODER_OPTIONS[fmt])
        os.replace(tmp, path)
    except BaseException:  # a full disk or a stop: no half-written file stays behind
        tmp.unlink(missing_ok=True)
        raise
    return path.stat().st_size


def remove_partial_files(catalog_dir: str | os.PathLike) -> int:
    """Delete temporary thumbnail files left by a killed worker (``thumbnails/*/.*.tmp``); call only
    while holding the catalog's writer lock (no live worker writes then). Returns how many."""
    removed = 0
    for tmp in Path(catalog_dir, "thumbnails").glob("*/.*.tmp"):
        tmp.unlink(missing_ok=True)
        removed += 1
    return removed


class ThumbnailsStage(PixelStage):
    name = "thumbnails"
    version = 1
    setting_names = ("thumbnail_grid_px", "thumbnail_grid_quality", "thumbnail_preview_px",
                     "thumbnail_preview_quality")
    table = Thumbnail

    def stem(self, asset_id: str) -> Path:
        """``thumbnails/<aa>/<asset_id>-<settings>`` (relative to the catalog folder): the files are
        this plus ``-grid.webp`` and ``-preview.jpg``."""
        tag = hashlib.sha256(json.dumps(self.params(), sort_keys=True).encode()).hexdigest()[:8]
        return Path("thumbnails") / asset_id[:2] / f"{asset_id}-{tag}"

    def run_pixels(self, asset: AssetView, decoded) -> StageResult:
        catalog_dir = Path(self.settings["catalog_dir"])
        stem = self.stem(asset.asset_id)
        values = {}
        for kind, fmt, ext, size_key, q_key in (("grid", "WEBP", "webp", "thumbnail_grid_px", "thumbnail_grid_quality"),
                                                ("preview", "JPEG", "jpg", "thumbnail_preview_px",
                                                 "thumbnail_preview_quality")):
            img = decoded.resized(int(self.settings[size_key]))  # the preview is the buffer itself at 1440 px
            rel = stem.with_name(f"{stem.name}-{kind}.{ext}")
            target = catalog_dir / rel
            size = target.stat().st_size if target.exists() else _save_atomic(img, target, fmt, int(self.settings[q_key]))
            values.update({f"{kind}_path": str(rel), f"{kind}_width": img.width, f"{kind}_height": img.height,
                           f"{kind}_bytes": size})
        rgba = decoded.resized(THUMBHASH_PX, "linear").copy()
        rgba.putalpha(255)  # the buffer is opaque (transparency was composited by the decoder)
        values["thumbhash"] = bytes(thumbhash.rgba_to_thumb_hash(rgba.width, rgba.height, list(rgba.tobytes())))
        values["resizer"] = decoded.resizer  # after every resize: "pillow" when libvips failed on any of them
        return StageResult("ok", values)
