"""Decisions that leave the catalog: XMP sidecars written through ExifTool, and read back by scans.

``write_sidecars`` writes each chosen file's decisions into its sidecar (``name.ext.xmp``, or the
``name.xmp`` the file already has): capture time with offset, GPS, rating (-1 when rejected, the
Lightroom/darktable reject), keywords, title, description, and Lumina's own namespace (status,
identity, which values are user overrides, duplicate and burst decisions; ``lumina.media.xmp``).

Safety rules:
* An existing sidecar is merged: only the tags in ``OWNED_TAGS`` that change are edited. ExifTool writes
  their new values into a fresh packet that replaces just those properties in the original text, so every
  other byte stays (``lumina.media.xmp.splice``), checked by reading it back; where that check fails,
  ExifTool's own merge is used (every other tag keeps its value; the packet is re-serialised).
* A value edited outside Lumina since Lumina last wrote it (``sidecar_writes``), or since the scan
  read the sidecar when Lumina never wrote it, is a conflict: reported and left as it is.
* A sidecar ExifTool does not read as XMP is reported (``invalid_xmp``) and left untouched.
* Writes are atomic: ExifTool edits a copy in a private folder, the copy is read back and compared
  with what was meant, then written next to the photo under a hidden name and renamed over the
  sidecar, unless the sidecar changed meanwhile (a conflict).
* Originals are written only with ``into_originals``, each backed up in the trash first.

``restore_decisions`` is the way back: after a scan, Lumina's namespace in a sidecar the catalog did
not write (a fresh catalog) gives back reject status, user overrides of capture time and GPS, and
duplicate keeper and burst choices; rating, keywords, title and description come back through the
``metadata`` stage, which prefers sidecar values.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from lumina.catalog.db import Catalog
from lumina.catalog.models import (Asset, CatalogState, FileInstance, Metadata, SidecarWrite, StageRecord,
                                   UserOverride)
from lumina.catalog.queries import describe
from lumina.errors import ConfigError, LuminaError, NotFoundError, error_text
from lumina.media.fileops import fsync_folder, part_path, sha256_file, writable_folder
from lumina.media.xmp import XmpWriter, normalise, owned_values, splice
from lumina.pipeline.scan import display, now
from lumina.catalog.writes import upsert

OWNED_TAGS = (
    "XMP-exif:DateTimeOriginal", "XMP-photoshop:DateCreated",
    "XMP-exif:GPSLatitude", "XMP-exif:GPSLongitude", "XMP-exif:GPSAltitude", "XMP-exif:GPSAltitudeRef",
    "XMP-xmp:Rating", "XMP-dc:Subject", "XMP-lr:HierarchicalSubject", "XMP-dc:Title", "XMP-dc:Description",
    "XMP-lumina:LuminaAssetID", "XMP-lumina:LuminaStatus", "XMP-lumina:LuminaCaptureTimeSource",
    "XMP-lumina:LuminaGPSSource", "XMP-lumina:LuminaDuplicateRole", "XMP-lumina:LuminaDuplicateKeeper",
    "XMP-lumina:LuminaBurstRole", "XMP-lumina:LuminaBurstBest",
)
Progress = Callable[[str, int, int | None], None]


def xmp_datetime(capture_time: str, utc_offset_minutes: int | None) -> str:
    """``YYYY:MM:DD HH:MM:SS[.fff][+HH:MM]`` (ExifTool's XMP date form) from the catalog's ISO time."""
    date, _, clock = capture_time.partition("T")
    out = date.replace("-", ":") + " " + clock
    if utc_offset_minutes is not None:
        sign = "-" if utc_offset_minutes < 0 else "+"
        out += f"{sign}{abs(utc_offset_minutes) // 60:02d}:{abs(utc_offset_minutes) % 60:02d}"
    return out


def group_roles(session) -> dict[str, dict[str, Any]]:
    """Lumina's duplicate and burst tags of every asset in a current group or burst (read once per run)."""
    from lumina.pipeline import generations
    from lumina.pipeline.bursts_run import CHOICES_KEY, bursts_report
    from lumina.pipeline.duplicates_run import duplicates_report

    out: dict[str, dict[str, Any]] = {}
    for g in duplicates_report(session)["groups"]:
        if g["class"] == "exact":  # one asset, several files: no decision between assets
            continue
        keeper = g["keeper"]["asset_id"]
        for m in g["members"]:
            out.setdefault(m["asset_id"], {}).update({
                "XMP-lumina:LuminaDuplicateRole": "keeper" if m["asset_id"] == keeper else "duplicate",
                "XMP-lumina:LuminaDuplicateKeeper": keeper})
    choices = generations.state(session, CHOICES_KEY, None) or {}
    for b in bursts_report(session)["bursts"]:
        best = b["best"]["asset_id"]
        for f in b["frames"]:
            role = ("best" if f["asset_id"] == best else "frame") + (":user" if best in choices else "")
            out.setdefault(f["asset_id"], {}).update({"XMP-lumina:LuminaBurstRole": role,
                                                      "XMP-lumina:LuminaBurstBest": best})
    return out


def decisions(session, asset_id: str, roles: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The values Lumina writes for one asset: ``"Group1:Tag"`` -> value (``None``: not known, the tag
    is removed when Lumina wrote it before, else left alone). Keys are exactly ``OWNED_TAGS``.

    Args:
        roles: ``group_roles(session)``, computed once for many assets; computed here when ``None``.
    """
    doc = describe(session, asset_id)
    meta = doc["metadata"] or {}
    rejected = doc["status"] == "rejected"
    rating = doc["rating"] if isinstance(doc["rating"], int) and doc["rating"] >= 0 else None
    out: dict[str, Any] = dict.fromkeys(OWNED_TAGS)
    if doc["capture_time"]:
        when = xmp_datetime(doc["capture_time"], doc["utc_offset_minutes"])
        out["XMP-exif:DateTimeOriginal"] = out["XMP-photoshop:DateCreated"] = when
        out["XMP-lumina:LuminaCaptureTimeSource"] = "user" if doc["capture_time_source"] == "user" else "file"
    place = doc["place"] or {}
    if place.get("gps_latitude") is not None:
        out["XMP-exif:GPSLatitude"], out["XMP-exif:GPSLongitude"] = place["gps_latitude"], place["gps_longitude"]
        if place.get("gps_altitude_m") is not None:
            out["XMP-exif:GPSAltitude"] = abs(place["gps_altitude_m"])
            out["XMP-exif:GPSAltitudeRef"] = 1 if place["gps_altitude_m"] < 0 else 0
        out["XMP-lumina:LuminaGPSSource"] = "user" if place.get("gps_source") == "user" else "file"
    out["XMP-xmp:Rating"] = -1 if rejected else rating
    keywords = list(doc["keywords"] or [])
    out["XMP-dc:Subject"] = out["XMP-lr:HierarchicalSubject"] = keywords or None
    out["XMP-dc:Title"], out["XMP-dc:Description"] = meta.get("title"), meta.get("description")
    out["XMP-lumina:LuminaAssetID"], out["XMP-lumina:LuminaStatus"] = asset_id, doc["status"]
    out.update((group_roles(session) if roles is None else roles).get(asset_id, {}))
    return {t: normalise(t, v) for t, v in out.items()}


def sidecar_target(row: FileInstance) -> bytes:
    """The sidecar of a file: the one the scan found (``name.ext.xmp`` or ``name.xmp``) when it is still
    there, else ``name.ext.xmp`` (darktable, digiKam and Immich read that form)."""
    if row.sidecar_path_bytes and os.path.isfile(row.sidecar_path_bytes):
        return row.sidecar_path_bytes
    return row.path_bytes + b".xmp"


def _files(session, refs: Sequence[str], all_files: bool) -> list[FileInstance]:
    q = select(FileInstance).where(FileInstance.status == "present", FileInstance.asset_id.is_not(None))
    rows = list(session.scalars(q.order_by(FileInstance.path_bytes)))
    if all_files:
        return rows
    out: list[FileInstance] = []
    for ref in refs:
        raw = os.path.abspath(os.fsencode(ref))
        matched = [r for r in rows if r.path_bytes == raw or r.path_bytes.startswith(raw.rstrip(b"/") + b"/")
                   or r.asset_id == ref or (len(ref) >= 8 and r.asset_id.startswith(ref.lower()))]
        if not matched:
            raise NotFoundError(f"{ref!r} matches no present catalogued file or asset")
        out.extend(r for r in matched if r not in out)
    return out


def write_sidecars(catalog: Catalog, refs: Sequence[str] = (), all_files: bool = False, dry_run: bool = False,
                   into_originals: bool = False, progress: Progress | None = None) -> dict[str, Any]:
    """Write the catalog's decisions into the XMP sidecars of some files.

    Args:
        refs: files, folders (every file under them) or asset ids (unique prefixes of >= 8).
        all_files: every present catalogued file instead of ``refs``.
        dry_run: only report what would change.
        into_originals: write the same tags into the photos themselves, each backed up in the trash.
    Returns:
        ``{"written": [{"path", "sidecar", "tags"}], "unchanged": [...], "conflicts": [{"path", "sidecar",
        "tag", "catalog", "sidecar_value"}], "failed": [{"path", "sidecar", "error"}], "dry_run": bool}``.
        Failures are per file (``not_writable``, ``invalid_xmp``, ``exiftool_error``); the run goes on.
    Raises:
        ConfigError / NotFoundError: nothing to write. ExifToolError: ExifTool missing.
        CatalogError: another writer holds the catalog.
    """
    if not refs and not all_files:
        raise ConfigError("give files, folders or asset ids, or --all")
    report: dict[str, Any] = {"written": [], "unchanged": [], "conflicts": [], "failed": [], "dry_run": dry_run}
    not_writable: dict[bytes, str | None] = {}
    with catalog.writer(exclusive=True), catalog.session() as s, XmpWriter(catalog.settings["exiftool_path"],
                                                             float(catalog.settings["exiftool_timeout_s"])) as xmp, \
            tempfile.TemporaryDirectory(prefix="lumina-xmp-") as tmp:
        rows = _files(s, refs, all_files)
        cache: dict[str, dict[str, Any]] = {}
        roles = group_roles(s)
        for i, row in enumerate(rows):
            if progress:
                progress("sidecars", i, len(rows))
            if row.asset_id not in cache:
                cache[row.asset_id] = decisions(s, row.asset_id, roles)
            target = sidecar_target(row)
            folder = os.path.dirname(target)
            if folder not in not_writable:
                not_writable[folder] = None if dry_run else writable_folder(folder)
            entry = {"path": display(row.path_bytes), "sidecar": display(target)}
            if not_writable[folder]:
                report["failed"].append({**entry, "error": error_text("not_writable",
                                                                      f"{display(folder)}: {not_writable[folder]}")})
                continue
            try:
                _write_one(s, xmp, os.fsencode(tmp), row, target, cache[row.asset_id], entry, report, dry_run)
                if into_originals and not dry_run:
                    _write_original(catalog, xmp, os.fsencode(tmp), row, cache[row.asset_id], entry, report)
            except LuminaError as exc:
                report["failed"].append({**entry, "error": f"exiftool_error: {exc}"})
            except OSError as exc:
                report["failed"].append({**entry, "error": error_text("not_writable", exc.strerror or str(exc))})
        if progress:
            progress("sidecars", len(rows), len(rows))
    return report


def _write_one(s, xmp: XmpWriter, tmp: bytes, row: FileInstance, target: bytes, want: dict[str, Any],
               entry: dict[str, Any], report: dict[str, Any], dry_run: bool) -> None:
    work = os.path.join(tmp, b"work.xmp")
    if os.path.lexists(work):
        os.unlink(work)
    before_sha = None
    current: dict[str, Any] = dict.fromkeys(OWNED_TAGS)
    tags: dict[str, Any] = {}
    if os.path.isfile(target):
        shutil.copyfile(target, work)
        before_sha = sha256_file(work)
        tags = xmp.read(os.fsdecode(work))
        if tags.get("File:FileType") != "XMP" or tags.get("ExifTool:Error"):
            why = tags.get("ExifTool:Error") or f"read as {tags.get('File:FileType') or 'unknown'}"
            report["failed"].append({**entry, "error": error_text("invalid_xmp", f"not a valid XMP sidecar ({why}); left untouched")})
            return
        current = owned_values(tags, OWNED_TAGS)
    last = s.get(SidecarWrite, target)
    seen_by_scan = row.sidecar_path_bytes == target and row.sidecar_signature == _signature(target)
    assignments: dict[str, Any] = {}
    conflicted: list[str] = []
    for tag in OWNED_TAGS:
        if current[tag] == want[tag]:
            continue
        if last is not None:
            edited = last.values.get(tag) != current[tag]
        else:  # never written by Lumina: what the scan read is the catalog's knowledge
            edited = before_sha is not None and current[tag] is not None and not seen_by_scan
        if edited:
            report["conflicts"].append({**entry, "tag": tag, "catalog": want[tag], "sidecar_value": current[tag]})
            conflicted.append(tag)
            continue
        if want[tag] is None and last is None:
            continue  # not Lumina's value to remove
        assignments[tag] = want[tag]
    if not assignments:
        if last is None and before_sha is not None and not dry_run:  # a baseline to detect later outside edits
            upsert(s, SidecarWrite, [dict(path_bytes=target, asset_id=row.asset_id, sha256=before_sha, written_at=now(),
                                 values={**current, **dict.fromkeys(conflicted)})])
            s.commit()
        report["unchanged"].append(entry)
        return
    if dry_run:
        report["written"].append({**entry, "tags": sorted(assignments)})
        return
    if before_sha is None or not _splice_into(xmp, tmp, work, tags, {**current, **assignments}, assignments):
        error = xmp.write(os.fsdecode(work), assignments)  # a new sidecar, or one splicing cannot edit
        if error:
            report["failed"].append({**entry, "error": f"exiftool_error: {error}"})
            return
    after = owned_values(xmp.read(os.fsdecode(work)), OWNED_TAGS)
    wrong = [t for t, v in assignments.items() if after[t] != v]
    if wrong:
        report["failed"].append({**entry, "error": f"exiftool_error: read back differs for {', '.join(wrong)}; "
                                                   "the sidecar was left as it was"})
        return
    now_sha = sha256_file(target) if os.path.isfile(target) else None
    if now_sha != before_sha:
        report["conflicts"].append({**entry, "tag": "*", "catalog": None,
                                    "sidecar_value": "the sidecar changed while Lumina was writing it"})
        return
    _install(work, target)
    if row.sidecar_path_bytes != target:  # the photo has this sidecar now (organise takes it along); the next
        row.sidecar_path_bytes = target   # scan sees a new signature and re-reads it
    # a conflict stays one until the user settles it: Lumina's last value (or none) stays the baseline
    after.update({t: last.values.get(t) if last else None for t in conflicted})
    upsert(s, SidecarWrite, [dict(path_bytes=target, asset_id=row.asset_id, values=after, sha256=sha256_file(target),
                         written_at=now())])
    s.commit()
    report["written"].append({**entry, "tags": sorted(assignments)})


UNOWNED_SKIP = ("SourceFile", "System:", "File:", "ExifTool:", "XMP-x:XMPToolkit")


def foreign_tags(tags: dict[str, Any]) -> dict[str, Any]:
    """The tags of a sidecar that Lumina does not own (file-system facts and the toolkit name left out)."""
    return {k: v for k, v in tags.items() if not k.startswith(UNOWNED_SKIP) and k not in OWNED_TAGS}


def _splice_into(xmp: XmpWriter, tmp: bytes, work: bytes, before: dict[str, Any], expected: dict[str, Any],
                 assignments: dict[str, Any]) -> bool:
    """Edit ``work`` (a copy of an existing sidecar) so that every byte outside Lumina's changed properties
    stays as it was: ExifTool writes the new values into a fresh packet, whose descriptions replace the
    old properties (``lumina.media.xmp.splice``). Kept only when ExifTool reads the result back with
    the expected values and every other tag unchanged; ``False`` leaves ``work`` for ExifTool's own merge."""
    fresh = os.path.join(tmp, b"fresh.xmp")
    spliced = os.path.join(tmp, b"spliced.xmp")
    for p in (fresh, spliced):
        if os.path.lexists(p):
            os.unlink(p)
    values = {t: v for t, v in assignments.items() if v is not None}
    if values and xmp.write(os.fsdecode(fresh), values):
        return False
    try:
        with open(work, "rb") as f:
            original = f.read().decode("utf-8")
        with open(fresh, "rb") if values else open(os.devnull, "rb") as f:
            new = splice(original, f.read().decode("utf-8"), list(assignments))
    except (OSError, UnicodeDecodeError):
        return False
    if new is None:
        return False
    with open(spliced, "wb") as f:
        f.write(new.encode("utf-8"))
    back = xmp.read(os.fsdecode(spliced))
    if back.get("File:FileType") != "XMP" or back.get("ExifTool:Error") or \
            owned_values(back, OWNED_TAGS) != expected or foreign_tags(back) != foreign_tags(before):
        return False
    os.replace(spliced, work)
    return True


def _signature(path: bytes) -> str | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return f"{st.st_size}:{st.st_mtime_ns}"


def _install(work: bytes, target: bytes) -> None:
    """Put ``work``'s bytes at ``target`` atomically (hidden part file in the same folder, fsync, rename)."""
    part = part_path(target)
    try:
        with open(work, "rb") as fin, open(part, "wb") as fout:
            shutil.copyfileobj(fin, fout)
            fout.flush()
            os.fsync(fout.fileno())
        os.replace(part, target)
    except BaseException:
        if os.path.lexists(part):
            os.unlink(part)
        raise
    fsync_folder(os.path.dirname(target))


def _write_original(catalog: Catalog, xmp: XmpWriter, tmp: bytes, row: FileInstance, want: dict[str, Any],
                    entry: dict[str, Any], report: dict[str, Any]) -> None:
    """Write the decisions into the photo itself: edit a copy, verify it, back the original up in the
    trash (verified), then put the edited copy in its place (verified)."""
    from lumina.media.fileops import copy_verified
    from lumina.pipeline.trash import trash_paths

    ext = os.path.splitext(row.path_bytes)[1].decode("ascii", "ignore")[:10]
    work = os.path.join(tmp, b"original" + ext.encode())
    if os.path.lexists(work):
        os.unlink(work)
    shutil.copy2(row.path_bytes, work)
    assignments = {t: v for t, v in want.items() if v is not None}
    error = xmp.write(os.fsdecode(work), assignments)
    if error:
        report["failed"].append({**entry, "error": f"exiftool_error: writing into the original: {error}"})
        return
    after = owned_values(xmp.read(os.fsdecode(work)), OWNED_TAGS)
    if any(after[t] != v for t, v in assignments.items()):
        report["failed"].append({**entry, "error": "exiftool_error: the original does not read back as written; untouched"})
        return
    (backup,) = [e for e in trash_paths(catalog, [row.path_bytes], "sidecars write --into-originals (backup)",
                                        with_sidecars=False)]
    copy_verified(work, row.path_bytes, sha256_file(work), os.path.getsize(work))
    report.setdefault("originals", []).append({**entry, "backup": backup["trash_path"], "trash_entry": backup["id"]})


def restore_decisions(catalog: Catalog, since: datetime | None = None) -> dict[str, int]:
    """Take back the decisions in sidecars the catalog did not write (see the module docstring).

    Args:
        since: only assets whose ``metadata`` record was written at or after this time (this scan's).
    Returns:
        Counts: ``rejected``, ``overrides``, ``duplicate_keepers``, ``burst_choices``.
    """
    from lumina.pipeline import generations
    from lumina.pipeline.bursts_run import CHOICES_KEY, run_bursts
    from lumina.pipeline.duplicates_run import KEEP_KEY, run_duplicates
    from lumina.pipeline.overrides import OVERRIDE_READERS
    from lumina.pipeline.runner import run_pipeline

    counts = {"rejected": 0, "overrides": 0, "duplicate_keepers": 0, "burst_choices": 0}
    with catalog.writer(), catalog.session() as s:
        q = select(Metadata.asset_id, Metadata.sidecar_tags, Metadata.sidecar_path).where(
            Metadata.sidecar_tags.is_not(None))
        if since is not None:
            q = q.join(StageRecord, (StageRecord.asset_id == Metadata.asset_id) & (StageRecord.stage == "metadata")) \
                .where(StageRecord.finished_at >= since)
        rows = [r for r in s.execute(q) if r.sidecar_tags and "XMP:LuminaStatus" in r.sidecar_tags]
        if not rows:
            return counts
        ids = [r.asset_id for r in rows]
        written = set(s.scalars(select(FileInstance.asset_id).join(
            SidecarWrite, SidecarWrite.path_bytes == FileInstance.sidecar_path_bytes).where(FileInstance.asset_id.in_(ids))))
        keepers = dict(generations.state(s, KEEP_KEY, None) or {})
        choices = dict(generations.state(s, CHOICES_KEY, None) or {})
        stale: set[tuple[str, str]] = set()
        for r in rows:
            if r.asset_id in written:
                continue  # Lumina wrote it from this catalog: the catalog is the reference
            tags = r.sidecar_tags
            if tags.get("XMP:LuminaStatus") == "rejected":
                counts["rejected"] += s.execute(update(Asset).where(Asset.asset_id == r.asset_id,
                                                                    Asset.status != "rejected")
                                                .values(status="rejected")).rowcount
            if tags.get("XMP:LuminaCaptureTimeSource") == "user" and tags.get("XMP:DateTimeOriginal") \
                    and s.get(UserOverride, (r.asset_id, "capture_time")) is None:
                value = _override_time(str(tags["XMP:DateTimeOriginal"]))
                s.add(UserOverride(asset_id=r.asset_id, field="capture_time", value=value, set_at=now()))
                stale.update((r.asset_id, st) for st in OVERRIDE_READERS["capture_time"])
                counts["overrides"] += 1
            if tags.get("XMP:LuminaGPSSource") == "user" and tags.get("XMP:GPSLatitude") is not None \
                    and s.get(UserOverride, (r.asset_id, "gps")) is None:
                alt = tags.get("XMP:GPSAltitude")
                if alt is not None and str(tags.get("XMP:GPSAltitudeRef")) == "1":
                    alt = -abs(float(alt))
                s.add(UserOverride(asset_id=r.asset_id, field="gps", set_at=now(), value={
                    "latitude": float(tags["XMP:GPSLatitude"]), "longitude": float(tags["XMP:GPSLongitude"]),
                    "altitude_m": float(alt) if alt is not None else None}))
                stale.update((r.asset_id, st) for st in OVERRIDE_READERS["gps"])
                counts["overrides"] += 1
            if tags.get("XMP:LuminaDuplicateRole") == "keeper" and r.asset_id not in keepers:
                keepers[r.asset_id] = "keep"
                counts["duplicate_keepers"] += 1
            if str(tags.get("XMP:LuminaBurstRole", "")) == "best:user" and r.asset_id not in choices:
                choices[r.asset_id] = now().isoformat()
                counts["burst_choices"] += 1
        for asset_id, stage in stale:
            s.execute(update(StageRecord).where(StageRecord.asset_id == asset_id, StageRecord.stage == stage)
                      .values(params_hash="stale"))
        upsert(s, CatalogState, [dict(key=KEEP_KEY, value=keepers)])
        upsert(s, CatalogState, [dict(key=CHOICES_KEY, value=choices)])
        s.commit()
        if stale:
            run_pipeline(catalog, ["dates", "geo"])
        if counts["burst_choices"]:
            run_bursts(catalog, force=True)
        if counts["duplicate_keepers"] or counts["burst_choices"]:
            run_duplicates(catalog, force=True)
    return counts


def _override_time(xmp_value: str) -> dict[str, Any]:
    """``{"value", "utc_offset_minutes"}`` (as ``lumina set-date`` stores it) from an XMP date."""
    from lumina.pipeline.overrides import parse_capture_time

    date, _, rest = xmp_value.partition(" ")
    return parse_capture_time(date.replace(":", "-") + "T" + rest)


def write_on_change(catalog: Catalog, asset_ids: Sequence[str]) -> dict[str, Any] | None:
    """With ``sidecars_write_on_change``, write the sidecars of assets a catalog edit just changed
    (``None`` when the setting is off). Per-file failures are in the returned report, never raised."""
    if not catalog.settings.get("sidecars_write_on_change") or not asset_ids:
        return None
    with catalog.session() as s:  # files trashed by the same edit have no sidecar to write
        present = set(s.scalars(select(FileInstance.asset_id).where(FileInstance.asset_id.in_(list(asset_ids)),
                                                                  FileInstance.status == "present")))
    refs = [a for a in dict.fromkeys(asset_ids) if a in present]
    return write_sidecars(catalog, refs) if refs else None
