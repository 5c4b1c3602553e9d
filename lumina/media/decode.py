"""One decoder for every supported file: an orientation-corrected 8-bit sRGB buffer at the largest
size any consumer needs.

* JPEG: shrink-on-load through libjpeg DCT scaling (Pillow ``draft()``), so a 200 MP panorama is
  decoded at 1/8 scale and never fully in memory.
* HEIC/HEIF/AVIF: pillow-heif (libheif applies ``irot``/``clap``). RAW: the embedded preview
  (rawpy ``extract_thumb``), a half-size demosaic only when there is none. Video: the first frame
  (PyAV, whose wheels carry FFmpeg), rotated by the stream's display matrix.
* Colour: embedded ICC profiles are converted to sRGB (LittleCMS via ``ImageCms``); CMYK without a
  profile uses Pillow's standard conversion (Adobe inverted CMYK handled by Pillow); 16-bit
  grayscale is scaled to 8 bits over its full range (never clipped); palette and transparent images
  are composited on neutral 50 % grey, never turned black.
* Resizing: one function, ``resize``, for the buffer and every smaller copy a stage asks for
  (``Decoded.resized``, computed once per size and reused by the thumbnail, hash, quality and
  embedding stages; copies smaller than ``WORKING_PX`` are made from the 512 px working copy).
  Lanczos-3 over a whole large buffer (the 1440 px fit, the 512 px hash copy) runs in libvips
  (pyvips; 2-3x faster than Pillow there), the small copies in Pillow (faster there, see
  ``resize``); Pillow's filters of the same names do everything when libvips is not installed or
  fails on a buffer, and ``Decoded.resizer`` then says ``"pillow"``. Decoding itself stays with
  Pillow's libjpeg-turbo DCT scaling: libvips' shrink-on-load was not faster on these files
  (benchmarks/bench_ingest.py prints both).
* Multi-frame files: the first frame only; later frames are never read.
* Pixel limit: ``max_image_pixels`` is judged on the real image size (from the header, before any
  pixel is decoded); above it the file fails with ``pixel_limit``. Below it JPEGs still decode
  through DCT scaling, so memory stays small. Pillow's own decompression-bomb check is replaced
  by this one.
"""

from __future__ import annotations

import errno
import io
import math
import os
import struct
import tempfile
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageCms, ImageFile, UnidentifiedImageError

from lumina.errors import error_text

Image.MAX_IMAGE_PIXELS = None  # replaced by max_image_pixels below, judged before decoding
ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file is a failure, never a silently grey half
NEUTRAL_BACKGROUND = (128, 128, 128)
_SRGB = ImageCms.createProfile("sRGB")
_heif_registered = False
RESIZERS = ("libvips", "pillow")
# The one small working copy (long edge, pixels), Lanczos-3 from the buffer: the hashes and the embedding
# input are taken from it, and every smaller copy (the 256 px grid, the 32 px ThumbHash input) is made
# from it rather than from the 1440 px buffer: a ninth of the source pixels per copy (issue 17; agreement
# with the one-step copies: tests/media/test_cascade.py). Quality keeps its own 512 px triangle copy.
WORKING_PX = 512
_PIL_FILTERS = {"lanczos3": Image.Resampling.LANCZOS, "linear": Image.Resampling.BILINEAR}


def _load_pyvips():
    """pyvips with libvips, or None when either is missing (Pillow then does all resizing)."""
    try:
        import pyvips
    except (ImportError, OSError):
        return None
    pyvips.cache_set_max(0)  # every buffer is new: libvips' operation cache would only hold memory
    pyvips.concurrency_set(1)  # one thread per worker process: the runner already runs one worker per core
    return pyvips


_pyvips = _load_pyvips()
DEFAULT_RESIZER = "libvips" if _pyvips is not None else "pillow"


class DecodeFailure(Exception):
    """A file that cannot be decoded; ``str()`` is ``"<kind>: <message>"``."""

    def __init__(self, kind: str, message: str):
        super().__init__(error_text(kind, message))
        self.kind = kind


@dataclass
class Decoded:
    """The shared pixel buffer of one asset.

    ``image``: PIL RGB image, oriented for display, long edge <= max_edge_px.
    ``width``/``height``: displayed size of the full image in pixels. ``method``: ``"full"``,
    ``"draft"`` (DCT-scaled JPEG), ``"raw_preview"``, ``"raw_demosaic"`` or ``"video_frame"``.
    ``jpeg_quantization``: JPEG quantisation tables (for quality estimation), else ``None``.
    ``resizer``: ``"libvips"`` (libvips made the large resizes) or ``"pillow"`` (Pillow made all of
    them: libvips missing, not chosen, or failed on this asset).
    """

    image: Image.Image
    width: int
    height: int
    format: str
    method: str
    has_alpha: bool = False
    icc_converted: bool = False
    jpeg_quantization: dict | None = None
    warnings: list[str] = field(default_factory=list)
    resizer: str = DEFAULT_RESIZER
    _copies: dict = field(default_factory=dict, repr=False)

    def resized(self, edge_px: int, kernel: str = "lanczos3") -> Image.Image:
        """The buffer shrunk to fit ``edge_px`` x ``edge_px`` (aspect kept; never enlarged), made
        once per (size, kernel) and shared by every stage that asks: treat it as read-only.

        Args:
            edge_px: long edge of the copy in pixels (>= 1).
            kernel: ``"lanczos3"`` or ``"linear"`` (see ``resize``).
        Returns:
            RGB PIL image; the buffer itself when it already fits.
        """
        key = (edge_px, kernel)
        if key not in self._copies:  # a fixed cascade: a copy never depends on which stages ran
            source = self.image
            if edge_px < WORKING_PX < max(self.image.size):
                source = self.resized(WORKING_PX)
            size = fit_size(self.image.width, self.image.height, edge_px)  # the buffer's rounding, not the copy's
            self._copies[key], self.resizer = resize(source, edge_px, kernel, self.resizer, size=size)
        return self._copies[key]

    def source_for(self, short_edge_px: int) -> Image.Image:
        """The smallest shared copy whose short side still covers ``short_edge_px`` (the working copy,
        else the buffer): what a consumer that resizes by the short side (the embedding encoders'
        256 px) starts from, so it never enlarges a copy the buffer could have served."""
        work = self.resized(WORKING_PX)
        return work if min(work.size) >= short_edge_px else self.image


def _register_heif() -> None:
    global _heif_registered
    if not _heif_registered:
        import pillow_heif

        pillow_heif.register_heif_opener()
        _heif_registered = True


def to_rgb8(img: Image.Image) -> tuple[Image.Image, bool]:
    """8-bit RGB from any Pillow mode; returns (image, had_alpha)."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or a.max() > 255 else 255.0
        if img.mode == "F":
            top = max(1.0, float(a.max()))
        a = np.clip(a / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(a, "L").convert("RGB"), False
    has_alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info
    if has_alpha:
        rgba = img.convert("RGBA")
        base = Image.new("RGBA", rgba.size, NEUTRAL_BACKGROUND + (255,))
        return Image.alpha_composite(base, rgba).convert("RGB"), True
    if img.mode == "RGB":
        return img, False
    return img.convert("RGB"), False  # also drops any palette entry marked transparent above


def _to_srgb(img: Image.Image, icc: bytes | None) -> tuple[Image.Image, bool]:
    if not icc or img.mode not in ("RGB", "CMYK", "L"):
        return img, False
    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return ImageCms.profileToProfile(img, src, _SRGB, outputMode="RGB"), True
    except (ImageCms.PyCMSError, OSError, ValueError):
        return img, False  # a broken profile: keep the pixels as they are


def fit_size(width: int, height: int, edge_px: int) -> tuple[int, int]:
    """Size of a ``width`` x ``height`` image shrunk to fit ``edge_px`` x ``edge_px``, rounded as
    Pillow's ``Image.thumbnail`` rounds (the side nearest the aspect ratio, at least 1 px)."""
    if width <= edge_px and height <= edge_px:
        return width, height
    aspect = width / height
    if aspect >= 1:
        h = edge_px / aspect
        return edge_px, max(1, min(math.floor(h), math.ceil(h), key=lambda n: abs(aspect - edge_px / n) if n else 1e9))
    w = edge_px * aspect
    return max(1, min(math.floor(w), math.ceil(w), key=lambda n: abs(aspect - n / edge_px))), edge_px


def resize(img: Image.Image, edge_px: int, kernel: str = "lanczos3", resizer: str = DEFAULT_RESIZER,
           reducing_gap: float = 2.0, size: tuple[int, int] | None = None) -> tuple[Image.Image, str]:
    """Shrink an RGB or L image to fit ``edge_px`` x ``edge_px`` (never enlarged).

    Args:
        img: PIL image, mode ``RGB`` or ``L``.
        edge_px: long edge of the result in pixels.
        kernel: ``"lanczos3"`` (Lanczos, a = 3) or ``"linear"`` (triangle), both widened by the
            shrink factor (antialiased), in libvips and in Pillow alike.
        resizer: ``"libvips"`` or ``"pillow"``; with libvips, Pillow still does the resizes it is
            faster at (see below), and the ones libvips fails on or cannot do (not installed).
        reducing_gap: shrink by an integer box first while the remaining factor stays >= this
            (Pillow's ``reducing_gap``, libvips' ``gap``; 2.0 is ``Image.thumbnail``'s default).
        size: the exact result size, when the source is itself a copy of a larger image whose
            ``fit_size`` it must keep (default: ``fit_size`` of ``img``).
    Returns:
        (image, ``resizer`` unless libvips failed: then ``"pillow"``); ``img`` itself when it fits.
    """
    size = size or fit_size(img.width, img.height, edge_px)
    if size == img.size:
        return img, resizer
    # libvips' Lanczos is 2-3x faster than Pillow's when the filter runs over the whole source (shrink
    # factor below 2 x reducing_gap: the 1440 px fit, the 512 px hash copy). Above it Pillow first
    # box-reduces by an integer factor and has little left to do, while libvips' fixed cost per call
    # (the buffer copied in and out, ~10 ms) dominates; the triangle filter is as fast in Pillow.
    # Medians per 8-20 MP camera JPEG, one thread: fit 45 vs 121 ms, 512 px 28 vs 45 ms, 256 px
    # 26 vs 10 ms, 32 px linear 14 vs 1 ms (benchmarks/bench_ingest.py prints the pixel profile).
    vips_wins = kernel == "lanczos3" and max(img.size) / edge_px < 2 * reducing_gap
    if resizer == "libvips" and vips_wins and _pyvips is not None and img.mode in ("RGB", "L"):
        try:
            bands = len(img.mode)
            src = _pyvips.Image.new_from_memory(img.tobytes(), img.width, img.height, bands, "uchar")
            out = src.resize(size[0] / img.width, vscale=size[1] / img.height, kernel=kernel, gap=reducing_gap)
            if (out.width, out.height) == size:
                return Image.frombytes(img.mode, size, out.write_to_memory()), "libvips"
        except _pyvips.Error:
            resizer = "pillow"  # e.g. libvips out of memory: Pillow below produces the same size
        else:
            resizer = "pillow"  # a size libvips rounded differently: never a stage output of another size
    return img.resize(size, _PIL_FILTERS[kernel], reducing_gap=reducing_gap), resizer


def _fit(img: Image.Image, max_edge: int, resizer: str = DEFAULT_RESIZER) -> tuple[Image.Image, str]:
    return resize(img, max_edge, "lanczos3", resizer, reducing_gap=3.0)  # 3.0: closer to a true Lanczos


def _classify(exc: Exception) -> DecodeFailure:
    text = str(exc) or type(exc).__name__
    low = text.lower()
    if isinstance(exc, UnidentifiedImageError) or "cannot identify" in low:
        return DecodeFailure("unsupported_format", text)
    if "truncated" in low or "premature end" in low or "unexpected end" in low:
        return DecodeFailure("truncated", text)
    return DecodeFailure("decode_error", f"{type(exc).__name__}: {text}")


def draft_scale(width: int, height: int, max_edge_px: int) -> int:
    """Denominator (1, 2, 4 or 8) of the JPEG DCT scale ``draft()`` decodes a ``width`` x ``height``
    JPEG at: the smallest scale whose long edge still covers ``max_edge_px`` (the 1440 px preview,
    the largest output), so the preview is never upscaled. Pillow rounds the request down to a power
    of two. Measured (benchmarks/bench_ingest.py, 8 camera JPEGs of 6-22 MP): 1/2 scale costs only
    1.3-1.6x the 1/8 scale a 256 px thumbnail needs, as entropy decoding, which no scale skips,
    dominates; libjpeg-turbo's M/8 scales (3/8 for a 3888 px Canon frame) save a further ~7 %."""
    return max(1, min(8, max(width, height) // max_edge_px))


def _decode_pillow(source, max_edge: int, max_pixels: int, fmt_hint: str, resizer: str = DEFAULT_RESIZER) -> Decoded:
    with Image.open(source) as img:
        fmt = (img.format or fmt_hint).lower()
        w, h = img.size
        if w * h <= 0:
            raise DecodeFailure("decode_error", f"image has no pixels ({w}x{h})")
        orientation, warnings = _orientation(img)
        if w * h > max_pixels:
            raise DecodeFailure("pixel_limit", f"{w}x{h} = {w * h / 1e6:.0f} MP exceeds max_image_pixels "
                                               f"({max_pixels / 1e6:.0f} MP)")
        method = "full"
        quant = getattr(img, "quantization", None)
        if fmt in ("jpeg", "mpo"):
            scale = draft_scale(w, h, max_edge)
            requested = (max(1, w // scale), max(1, h // scale))
            img.draft(img.mode if img.mode in ("RGB", "L", "CMYK") else "RGB", requested)
            method = "draft" if img.size != (w, h) else "full"
        img.load()  # first frame only: later frames of GIF/WebP/TIFF are never touched
        if img.mode == "RGB" and "transparency" not in img.info:
            # fitted first, then converted to sRGB: LittleCMS costs ~14 ns per pixel (76 ms on a ½-scale
            # 22 MP frame, 19 ms at 1440 px), and the fit leaves a quarter to a half of the pixels
            rgb, used = _fit(img, max_edge, resizer)
            rgb, icc = _to_srgb(rgb, img.info.get("icc_profile"))
            alpha = False
        else:
            frame, icc = _to_srgb(img, img.info.get("icc_profile"))
            rgb, alpha = to_rgb8(frame)
            rgb, used = _fit(rgb, max_edge, resizer)
        for op in _TRANSPOSE.get(orientation, ()):
            rgb = rgb.transpose(op)
        if orientation in (5, 6, 7, 8):
            w, h = h, w
        return Decoded(rgb, w, h, fmt, method, alpha, icc, dict(quant) if quant else None, warnings, used)


# EXIF Orientation -> the transposition that displays it upright (the table of ImageOps.exif_transpose)
_T = Image.Transpose
_TRANSPOSE = {2: (_T.FLIP_LEFT_RIGHT,), 3: (_T.ROTATE_180,), 4: (_T.FLIP_TOP_BOTTOM,), 5: (_T.TRANSPOSE,),
              6: (_T.ROTATE_270,), 7: (_T.TRANSVERSE,), 8: (_T.ROTATE_90,)}


def repair_exif(blob: bytes | None) -> tuple[bytes | None, bool]:
    """An Exif block Pillow can parse: some HEIC writers store the JPEG APP1 marker and length
    (``FF E1 nn nn``) in front of ``Exif\\0\\0``; they are cut off. Returns (blob, repaired)."""
    if blob and blob[:2] == b"\xff\xe1" and blob[4:10] == b"Exif\x00\x00":
        return blob[4:], True
    return blob, False


def _orientation(img: Image.Image) -> tuple[int, list[str]]:
    """EXIF Orientation (1-8) of an opened image; HEIF transforms are already applied by libheif."""
    if (img.format or "").upper() in ("HEIF", "AVIF"):
        return 1, []
    warnings: list[str] = []
    try:
        value = img.getexif().get(0x0112, 1)
    except (SyntaxError, ValueError, OSError, struct.error):
        blob, repaired = repair_exif(img.info.get("exif"))
        value = 1
        if repaired:
            exif = Image.Exif()
            exif.load(blob)
            value = exif.get(0x0112, 1)
            warnings.append("exif_repaired: APP1 marker in front of the Exif block")
        else:
            warnings.append("exif_unreadable: orientation assumed 1")
    return (value if value in range(1, 9) else 1), warnings


def _decode_raw(path: bytes, max_edge: int, max_pixels: int, resizer: str) -> Decoded:
    import rawpy

    try:
        with rawpy.imread(os.fsdecode(path)) as raw:
            w, h = raw.sizes.width, raw.sizes.height
            flip = raw.sizes.flip
            try:
                thumb = raw.extract_thumb()
            except (rawpy.LibRawNoThumbnailError, rawpy.LibRawUnsupportedThumbnailError):
                thumb = None
            if thumb is not None and thumb.format == rawpy.ThumbFormat.JPEG:
                d = _decode_pillow(io.BytesIO(thumb.data), max_edge, max_pixels, "jpeg", resizer)
                d.method, d.format = "raw_preview", "raw"
            else:
                if w * h > max_pixels:
                    raise DecodeFailure("pixel_limit", f"{w}x{h} RAW without a preview exceeds max_image_pixels")
                rgb = raw.postprocess(half_size=True, use_camera_wb=True, output_bps=8)
                small, used = _fit(Image.fromarray(rgb), max_edge, resizer)
                d = Decoded(small, w, h, "raw", "raw_demosaic", resizer=used)
            if flip in (5, 6):  # LibRaw's flip: 5 = 90 ccw, 6 = 90 cw; the preview is stored unrotated
                d.image = d.image.rotate(90 if flip == 5 else -90, expand=True)
                d.width, d.height = h, w
            elif flip == 3:
                d.image = d.image.rotate(180)
            return d
    except DecodeFailure:
        raise
    except rawpy.LibRawError as exc:
        raise DecodeFailure("decode_error", f"{type(exc).__name__}: {exc}") from None


def _decode_video(path: bytes, max_edge: int, resizer: str) -> Decoded:
    import av

    try:
        with av.open(os.fsdecode(path)) as container:
            if not container.streams.video:
                raise DecodeFailure("unsupported_format", "no video stream")
            for frame in container.decode(video=0):
                img = frame.to_image()
                rotation = getattr(frame, "rotation", 0) or 0
                if rotation:
                    img = img.rotate(rotation, expand=True)  # display-matrix angle, counter-clockwise
                w, h = img.size
                small, used = _fit(img.convert("RGB"), max_edge, resizer)
                return Decoded(small, w, h, "video", "video_frame", resizer=used)
    except DecodeFailure:
        raise
    except (av.error.FFmpegError, ValueError, IndexError, OSError) as exc:
        raise DecodeFailure("decode_error", f"{type(exc).__name__}: {exc}") from None
    raise DecodeFailure("decode_error", "no decodable video frame")


_stderr_lock = threading.Lock()
_capture_fd: int | None = None  # one temporary file per process, emptied before each use


@contextmanager
def c_stderr() -> Iterator[list[str]]:
    """Collect what C libraries print on file descriptor 2 within the block (libtiff's
    "TIFFFetchNormalTag: Incorrect value…", libjpeg's "Bogus Huffman table definition") as lines,
    instead of letting it reach the terminal. The ``lumina`` executable points ``sys.stderr`` at a
    copy of the terminal's descriptor (``lumina.cli.entry``), so its own messages are never caught;
    one block at a time per process (a lock)."""
    global _capture_fd
    lines: list[str] = []
    with _stderr_lock:
        if _capture_fd is None:
            _capture_fd = os.open(tempfile.gettempdir(), os.O_TMPFILE | os.O_RDWR, 0o600)  # no name: gone with us
        os.ftruncate(_capture_fd, 0)
        os.lseek(_capture_fd, 0, os.SEEK_SET)
        saved = os.dup(2)
        os.dup2(_capture_fd, 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            size = os.lseek(_capture_fd, 0, os.SEEK_CUR)
            text = os.pread(_capture_fd, min(size, 65536), 0).decode("utf-8", "replace")
            lines.extend(line.strip() for line in text.splitlines() if line.strip())


def decode(path: bytes, file_type: str, media_kind: str, max_edge_px: int = 1440,
           max_image_pixels: int = 250_000_000, resizer: str = DEFAULT_RESIZER) -> Decoded:
    """Decode one file for every pixel stage.

    Args:
        path: file path (bytes).
        file_type / media_kind: from the catalog (``lumina.media.detect``).
        max_edge_px: long edge of the returned buffer (pixels).
        max_image_pixels: largest image decoded, judged on the real size (pixels).
        resizer: ``"libvips"`` (default when pyvips is installed) or ``"pillow"`` (see ``resize``).
    Returns:
        ``Decoded`` with an RGB image, oriented for display.
    Raises:
        DecodeFailure: kind ``empty``, ``unsupported_format``, ``truncated``, ``decode_error`` or ``pixel_limit``.
        OSError: the file cannot be read (the caller records ``unreadable``).
    """
    if os.path.getsize(path) == 0:
        raise DecodeFailure("empty", "the file is empty (0 bytes)")
    try:
        with warnings.catch_warnings(record=True) as caught, c_stderr() as printed:  # decoder warnings are data
            warnings.simplefilter("always")
            decoded = _decode_any(path, file_type, media_kind, max_edge_px, max_image_pixels, resizer)
    except DecodeFailure as exc:
        if not printed:
            raise
        raise DecodeFailure(exc.kind, f"{str(exc).split(': ', 1)[1]} (decoder: {printed[0]})") from None
    messages = [str(w.message) for w in caught] + printed
    decoded.warnings += sorted({f"decoder_warning: {m}" for m in messages})[:5]
    return decoded


def _decode_any(path: bytes, file_type: str, media_kind: str, max_edge_px: int, max_image_pixels: int,
                resizer: str) -> Decoded:
    if resizer not in RESIZERS:
        raise ValueError(f"resizer must be one of {RESIZERS}, not {resizer!r}")
    try:
        if media_kind == "video":
            return _decode_video(path, max_edge_px, resizer)
        if file_type in ("heic", "heif", "avif"):
            _register_heif()
        if file_type == "raw":
            with open(path, "rb") as f:
                head = f.read(3)
            if head != b"\xff\xd8\xff":  # some ".nef" files are JPEG exports: Pillow reads those
                return _decode_raw(path, max_edge_px, max_image_pixels, resizer)
        return _decode_pillow(os.fsdecode(path), max_edge_px, max_image_pixels, file_type, resizer)
    except DecodeFailure:
        raise
    except (FileNotFoundError, PermissionError):
        raise
    except (OSError, SyntaxError, ValueError, EOFError, TypeError, IndexError, KeyError,
            ZeroDivisionError, struct.error) as exc:  # MemoryError is the machine's state, not the file's: it ends the run
        if isinstance(exc, OSError) and exc.errno in (errno.ENOMEM, errno.ENOSPC):
            raise
        raise _classify(exc) from None
