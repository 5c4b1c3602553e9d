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
* Multi-frame files: the first frame only; later frames are never read.
* Pixel limit: ``max_image_pixels`` is judged on the real image size (from the header, before any
  pixel is decoded); above it the file fails with ``pixel_limit``. Below it JPEGs still decode
  through DCT scaling, so memory stays small. Pillow's own decompression-bomb check is replaced
  by this one.
"""

from __future__ import annotations

import errno
import io
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


def _to_srgb(img: Image.Image) -> tuple[Image.Image, bool]:
    icc = img.info.get("icc_profile")
    if not icc or img.mode not in ("RGB", "CMYK", "L"):
        return img, False
    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return ImageCms.profileToProfile(img, src, _SRGB, outputMode="RGB"), True
    except (ImageCms.PyCMSError, OSError, ValueError):
        return img, False  # a broken profile: keep the pixels as they are


def _fit(img: Image.Image, max_edge: int) -> Image.Image:
    if max(img.size) > max_edge:
        img.thumbnail((max_edge, max_edge), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return img


def _classify(exc: Exception) -> DecodeFailure:
    text = str(exc) or type(exc).__name__
    low = text.lower()
    if isinstance(exc, UnidentifiedImageError) or "cannot identify" in low:
        return DecodeFailure("unsupported_format", text)
    if "truncated" in low or "premature end" in low or "unexpected end" in low:
        return DecodeFailure("truncated", text)
    return DecodeFailure("decode_error", f"{type(exc).__name__}: {text}")


def _decode_pillow(source, max_edge: int, max_pixels: int, fmt_hint: str) -> Decoded:
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
            # ask for the smallest DCT scale whose result still covers max_edge on the long side
            scale = max(1, min(8, max(w, h) // max_edge))
            requested = (max(1, w // scale), max(1, h // scale))
            img.draft(img.mode if img.mode in ("RGB", "L", "CMYK") else "RGB", requested)
            method = "draft" if img.size != (w, h) else "full"
        img.load()  # first frame only: later frames of GIF/WebP/TIFF are never touched
        frame, icc = _to_srgb(img)
        rgb, alpha = to_rgb8(frame)
        rgb = _fit(rgb, max_edge)
        for op in _TRANSPOSE.get(orientation, ()):
            rgb = rgb.transpose(op)
        if orientation in (5, 6, 7, 8):
            w, h = h, w
        return Decoded(rgb, w, h, fmt, method, alpha, icc, dict(quant) if quant else None, warnings)


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


def _decode_raw(path: bytes, max_edge: int, max_pixels: int) -> Decoded:
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
                d = _decode_pillow(io.BytesIO(thumb.data), max_edge, max_pixels, "jpeg")
                d.method, d.format = "raw_preview", "raw"
            else:
                if w * h > max_pixels:
                    raise DecodeFailure("pixel_limit", f"{w}x{h} RAW without a preview exceeds max_image_pixels")
                rgb = raw.postprocess(half_size=True, use_camera_wb=True, output_bps=8)
                d = Decoded(_fit(Image.fromarray(rgb), max_edge), w, h, "raw", "raw_demosaic")
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


def _decode_video(path: bytes, max_edge: int) -> Decoded:
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
                return Decoded(_fit(img.convert("RGB"), max_edge), w, h, "video", "video_frame")
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
           max_image_pixels: int = 250_000_000) -> Decoded:
    """Decode one file for every pixel stage.

    Args:
        path: file path (bytes).
        file_type / media_kind: from the catalog (``lumina.media.detect``).
        max_edge_px: long edge of the returned buffer (pixels).
        max_image_pixels: largest image decoded, judged on the real size (pixels).
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
            decoded = _decode_any(path, file_type, media_kind, max_edge_px, max_image_pixels)
    except DecodeFailure as exc:
        if not printed:
            raise
        raise DecodeFailure(exc.kind, f"{str(exc).split(': ', 1)[1]} (decoder: {printed[0]})") from None
    messages = [str(w.message) for w in caught] + printed
    decoded.warnings += sorted({f"decoder_warning: {m}" for m in messages})[:5]
    return decoded


def _decode_any(path: bytes, file_type: str, media_kind: str, max_edge_px: int, max_image_pixels: int) -> Decoded:
    try:
        if media_kind == "video":
            return _decode_video(path, max_edge_px)
        if file_type in ("heic", "heif", "avif"):
            _register_heif()
        if file_type == "raw":
            with open(path, "rb") as f:
                head = f.read(3)
            if head != b"\xff\xd8\xff":  # some ".nef" files are JPEG exports: Pillow reads those
                return _decode_raw(path, max_edge_px, max_image_pixels)
        return _decode_pillow(os.fsdecode(path), max_edge_px, max_image_pixels, file_type)
    except DecodeFailure:
        raise
    except (FileNotFoundError, PermissionError):
        raise
    except (OSError, SyntaxError, ValueError, EOFError, TypeError, IndexError, KeyError,
            ZeroDivisionError, struct.error) as exc:  # MemoryError is the machine's state, not the file's: it ends the run
        if isinstance(exc, OSError) and exc.errno in (errno.ENOMEM, errno.ENOSPC):
            raise
        raise _classify(exc) from None
