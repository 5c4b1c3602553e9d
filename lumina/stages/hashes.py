"""The ``hashes`` stage: aHash, dHash, pHash and wHash of the shared, oriented buffer.

Definitions are the ``imagehash`` library's (J. Buchner), computed by it at hash_size 8 (64 bits):
aHash (mean of an 8x8 grey thumbnail), dHash (N. Krawetz, row gradients of 9x8), pHash (top-left
8x8 of the 32x32 DCT against its median), wHash (multi-level Haar wavelet, imagehash's default
image_scale: not the 16-bit variant). Bits are read row-major, first bit most significant, as
``int(str(imagehash_value), 16)``; stored as signed 64-bit integers (``to_signed``).

A 64x64 grey signature of the whole frame (squashed to a square, box-filtered) is stored with the
hashes for pixel verification of duplicate candidates without reopening files.

Degenerate images (flat or nearly flat: grey-level standard deviation below ``DEGENERATE_STD``; an
aHash with <= 2 bits differing from all-equal; or every row, or every column, alike: two-tone
splits and band patterns whose hashes say almost nothing) are flagged so that duplicate search
skips them instead of grouping every black frame; only byte-identical copies of them are grouped.
"""

from __future__ import annotations

import imagehash
import numpy as np
from PIL import Image

from lumina.catalog.models import PerceptualHash
from lumina.media.decode import WORKING_PX
from lumina.stages.base import AssetView, PixelStage, StageResult

# Hashes are taken from the shared buffer downscaled to 512 px on the long edge: every imagehash
# definition shrinks to 8x8..32x32 anyway (wHash to a power of two <= the short side). On the 251
# decodable corpus photos the four hashes equal imagehash's on the 1440 px buffer for 85 % of them
# and are within 2 bits for 235 of the 237 non-flat ones, at 1/14 of the time (11 ms vs 157 ms).
HASH_WORKING_PX = WORKING_PX  # the shared working copy (lumina.media.decode.WORKING_PX)
SIGNATURE_PX = 64  # the grey 64x64 thumbnail (4 KiB) duplicate verification compares pixel by pixel
DEGENERATE_STD = 2.0  # grey levels (0-255): below this the picture is flat for every hash
DEGENERATE_BITS = 2  # aHash with at most this many minority bits carries no structure
DEGENERATE_BANDS = 0.5  # grey levels, or 5 % of the grey spread if larger: mean deviation of rows (columns)
# from their mean row (column) below which every row (column) counts as alike


def to_signed(value: int) -> int:
    """Unsigned 64-bit -> signed 64-bit (SQLite and PostgreSQL BIGINT are signed)."""
    return value - (1 << 64) if value >= 1 << 63 else value


def to_unsigned(value: int) -> int:
    """Inverse of ``to_signed``."""
    return value + (1 << 64) if value < 0 else value


def hamming_distance(a: int, b: int) -> int:
    """Number of differing bits between two 64-bit hashes (signed or unsigned), 0-64."""
    return bin(to_unsigned(a) ^ to_unsigned(b)).count("1")


def image_hashes(image) -> dict[str, int]:
    """Unsigned 64-bit aHash/dHash/pHash/wHash of a PIL image, RGB or L (imagehash definitions)."""
    return {"ahash": int(str(imagehash.average_hash(image)), 16), "dhash": int(str(imagehash.dhash(image)), 16),
            "phash": int(str(imagehash.phash(image)), 16), "whash": int(str(imagehash.whash(image)), 16)}


class HashesStage(PixelStage):
    name = "hashes"
    version = 4
    table = PerceptualHash

    def run_pixels(self, asset: AssetView, decoded) -> StageResult:
        grey_image = decoded.resized(HASH_WORKING_PX).convert("L")  # the copy is shared with other stages
        hashes = image_hashes(grey_image)  # imagehash greys its input first: the same bits, one conversion
        grey = np.asarray(grey_image, dtype=np.float32)
        signature = np.asarray(grey_image.resize((SIGNATURE_PX, SIGNATURE_PX), Image.Resampling.BOX), dtype=np.uint8)
        sig = signature.astype(np.float32)
        ones = bin(hashes["ahash"]).count("1")
        reason = None
        if float(grey.std()) < DEGENERATE_STD:
            reason = f"flat image (grey standard deviation {grey.std():.2f} < {DEGENERATE_STD})"
        elif min(ones, 64 - ones) <= DEGENERATE_BITS:
            reason = f"near-flat aHash ({min(ones, 64 - ones)} minority bits)"
        elif float(np.abs(sig - sig.mean(axis=0)).mean()) < max(DEGENERATE_BANDS, 0.05 * float(sig.std())):
            reason = "every row alike (vertical bands only): the hashes carry almost no information"
        elif float(np.abs(sig - sig.mean(axis=1, keepdims=True)).mean()) < max(DEGENERATE_BANDS,
                                                                               0.05 * float(sig.std())):
            reason = "every column alike (horizontal bands only): the hashes carry almost no information"
        return StageResult("ok", {**{k: to_signed(v) for k, v in hashes.items()},
                                  "degenerate": reason is not None, "degenerate_reason": reason,
                                  "signature": signature.tobytes()})
