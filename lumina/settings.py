"""Every setting Lumina reads, defined once.

Precedence: defaults < ``lumina.toml`` in the catalog folder < ``LUMINA_<NAME>`` environment
variables < explicit overrides (CLI flags). Unknown keys in the TOML file are errors.
Stage settings feed the stage's parameters hash, so changing one re-runs exactly that stage.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lumina.errors import ConfigError


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str
    minimum: float | None = None


SETTINGS: tuple[Setting, ...] = (
    Setting("workers", 0, "Worker processes for per-asset stages; 0 means one per CPU core", minimum=0),
    Setting("dask_scheduler", "", "Dask distributed scheduler address (tcp://HOST:8786); empty runs stages in local worker processes"),
    Setting("dask_path_map", "", "Path prefixes as Dask workers see them: '/local=/worker;...' (library and catalog folders)"),
    Setting("settle_s", 2.0, "A file modified less than this many seconds ago is unsettled and left for a later scan", minimum=0),
    Setting("exiftool_path", "exiftool", "ExifTool executable (install libimage-exiftool-perl)"),
    Setting("exiftool_config", "", "ExifTool config file (user-defined tags); empty for none"),
    Setting("exiftool_batch_files", 32, "Files sent to one ExifTool -stay_open process per request", minimum=1),
    Setting("exiftool_timeout_s", 60.0, "Longest wait for one ExifTool batch before it is killed and retried file by file", minimum=0.1),
    Setting("hash_chunk_bytes", 1 << 20, "Read size when computing SHA-256 asset ids", minimum=4096),
    Setting("decode_max_edge_px", 1440, "Long edge of the one decoded buffer all pixel stages share", minimum=64),
    Setting("max_image_pixels", 250_000_000, "Largest image decoded (judged on the real size); beyond: shrink-on-load or pixel_limit", minimum=1),
    Setting("thumbnail_grid_px", 256, "Long edge of the grid thumbnail (WebP)", minimum=16),
    Setting("thumbnail_grid_quality", 80, "WebP quality of the grid thumbnail (0-100)", minimum=1),
    Setting("thumbnail_preview_px", 1440, "Long edge of the preview (JPEG)", minimum=64),
    Setting("thumbnail_preview_quality", 85, "JPEG quality of the preview (0-100)", minimum=1),
    Setting("quality_working_px", 512, "Long edge at which sharpness, exposure and noise are measured", minimum=32),
    Setting("duplicate_radius_bits", 10, "Hamming radius (bits) of the pHash/aHash candidate search; alias similarity_threshold", minimum=0),
    Setting("duplicate_max_group", 50, "Largest duplicate group; bigger clusters are split", minimum=2),
    Setting("burst_max_gap_s", 2.0, "Largest gap between frames of one burst (seconds)", minimum=0),
    Setting("burst_min_frames", 2, "Fewest frames that make a burst", minimum=2),
    Setting("burst_continuity_bits", 16, "Largest dHash distance (bits) between consecutive burst frames", minimum=0),
    Setting("burst_continuity_mad", 24.0, "Largest mean grey-level difference of 32x32 signatures between consecutive burst frames", minimum=0),
    Setting("burst_max_distance_m", 100.0, "Largest distance (metres, haversine) between consecutive burst frames when both have GPS", minimum=0),
    Setting("date_min_year", 1826, "Earliest plausible capture year (Niepce, the oldest surviving photograph)", minimum=1),
    Setting("date_conflict_s", 86400.0, "Strong capture-time sources further apart than this are flagged conflicting", minimum=0),
    Setting("gps_conflict_m", 1000.0, "A sidecar position further than this from the file's is flagged conflicting", minimum=0),
    Setting("geohash_precision", 12, "Characters of the stored geohash (12 = about 3.7 cm x 1.9 cm)", minimum=1),
    Setting("trash_dir", "", "Trash folder of commands that remove files (verified copies, undoable); empty: <catalog>/trash"),
    Setting("sidecars_write_on_change", False, "Write an asset's XMP sidecar at once whenever a catalog edit changes its decisions"),
    Setting("watch_poll_s", 0.5, "How often `lumina watch` checks pending files for settling (seconds)", minimum=0.05),
    Setting("watch_rescan_s", 30.0, "Rescan period of `lumina watch` where change events are not available (network mounts)", minimum=1),
    Setting("serve_watch", False, "`lumina serve` also watches the catalog's sources (as `lumina watch` does)"),
    Setting("clip_image_model_path", "", "A CLIP/SigLIP image encoder (ONNX, (N,3,S,S) -> (N,d)); with the text encoder it enables text-to-image search"),
    Setting("clip_text_model_path", "", "The matching CLIP/SigLIP text encoder (ONNX, input_ids (N,T) -> (N,d))"),
    Setting("clip_tokenizer_path", "", "tokenizer.json (Hugging Face tokenizers format) of the CLIP text encoder"),
    Setting("description_endpoint", "", "Ollama-compatible server for photo captions (http://HOST:11434); empty writes template sentences"),
    Setting("description_model", "llava", "Vision-language model name sent to description_endpoint"),
    Setting("description_timeout_s", 60.0, "Longest wait for one caption request before it is retried", minimum=0.1),
    Setting("description_retries", 2, "Retries of a failed caption request (then the asset gets a template sentence and a recorded reason)", minimum=0),
    Setting("description_concurrency", 4, "Caption requests in flight at once", minimum=1),
    Setting("derivative_max_cosine_distance", 0.17, "Embedding neighbours this close (cosine distance) that duplicate detection did not group are reported as derivatives", minimum=0),
    Setting("search_max_distance", 0.5, "Default cut-off of text search: hits with a cosine distance (1 - similarity) above it are not shown", minimum=0),
    Setting("lease_s", 60.0, "PostgreSQL catalogs: a worker's lease on its job and batches; renewed every third of it, taken over by another worker when it expires", minimum=1),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def _coerce(setting: Setting, value: Any) -> Any:
    kind = type(setting.default)
    try:
        if kind is bool:
            return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes", "on")
        out = kind(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting {setting.name}: {value!r} is not a valid {kind.__name__}") from exc
    if setting.minimum is not None and out < setting.minimum:
        raise ConfigError(f"setting {setting.name}: {out!r} is below its minimum {setting.minimum:g}")
    if setting.name == "geohash_precision" and out > 12:
        raise ConfigError("setting geohash_precision: at most 12 characters")
    return out


def coerce(values: dict[str, Any]) -> dict[str, Any]:
    """Validated values for known settings (None values dropped).

    Raises:
        ConfigError: an unknown name or an invalid value.
    """
    out = {}
    for key, raw in values.items():
        if raw is None:
            continue
        if key not in _BY_NAME:
            raise ConfigError(f"unknown setting {key!r}; known: {', '.join(sorted(_BY_NAME))}")
        out[key] = _coerce(_BY_NAME[key], raw)
    return out


def load_settings(catalog_dir: Path | None = None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Resolve every setting.

    Args:
        catalog_dir: folder whose ``lumina.toml`` is read, if it exists.
        overrides: values from the command line; ``None`` values are ignored.
    Returns:
        A dict with one entry per name in ``SETTINGS``.
    Raises:
        ConfigError: for unknown keys, unparsable values or an unreadable TOML file.
    """
    values = {s.name: s.default for s in SETTINGS}
    layers: list[dict[str, Any]] = []
    if catalog_dir is not None and (catalog_dir / "lumina.toml").is_file():
        try:
            layers.append(tomllib.loads((catalog_dir / "lumina.toml").read_text()))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{catalog_dir / 'lumina.toml'}: {exc}") from exc
    layers.append({s.name: os.environ[f"LUMINA_{s.name.upper()}"] for s in SETTINGS
                   if f"LUMINA_{s.name.upper()}" in os.environ})
    layers.append({k: v for k, v in (overrides or {}).items() if v is not None})
    for layer in layers:
        values.update(coerce(layer))
    return values
