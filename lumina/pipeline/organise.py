"""``lumina organise``: plan and apply copies or moves of a whole library into a date/place layout,
resumable after any interruption and undoable, with every byte verified.

The plan: every present catalogued file gets a destination ``TARGET/<layout>``; placeholders
(``PLACEHOLDERS``) come from the catalog (capture date, place, camera, asset id, file name). Names
that collide (two different files, or a different file already there) get ``-1``, ``-2``, ... before
the extension, in the order of their source paths, so the same catalog always gives the same plan.
A file already at its destination is skipped. A photo's sidecar goes with it (``NAME.EXT.xmp`` or
``NAME.xmp`` as it was). Rejected assets are trashed, skipped or organised (``--rejected``).

Apply follows the plan stored as a journal (``organise_plans`` / ``organise_ops``), one step at a time:
copy to a hidden part file, verify size + SHA-256 against the catalog's asset id (no re-hashing of the
source), rename into place, record the step and move the catalog's file row (``--move``) or add one
(copy), and only then remove the original (``--move``). Killed at any point, the same command finishes
the plan: a step whose copy is in place and verifies is not redone, an original is removed only once
its copy verifies, so no file is lost or doubled. A source that changed since the plan is skipped with
a reason. ``undo`` walks the journal backwards.
"""

from __future__ import annotations

import os
import shutil
import string
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, select, update

from lumina.catalog.db import Catalog
from lumina.catalog.models import (Asset, CaptureDate, CatalogState, FileInstance, Metadata, OrganiseOp, OrganisePlan,
                                   Place, SidecarWrite, Source, TrashEntry)
from lumina.errors import ConfigError, NotFoundError
from lumina.media.fileops import copy_verified, remove_verified, sha256_file, writable_folder
from lumina.pipeline.scan import display, now
from lumina.catalog.writes import upsert

PLACEHOLDERS = {
    "year": "capture year (4 digits)", "month": "capture month (01-12)", "day": "capture day (01-31)",
    "country": "ISO country code of the place", "region": "region of the place", "city": "city of the place",
    "camera": "camera make and model", "make": "camera make", "model": "camera model",
    "asset_id": "SHA-256 of the content", "short_id": "first 12 hex digits of the asset id",
    "name": "original file name with extension", "stem": "original file name without extension",
    "ext": "original extension without the dot",
}
UNKNOWN = b"unknown"
TARGETS_KEY = "organise.targets"
SPACE_MARGIN_BYTES = 64 << 20  # keep some room for the catalog's own writes on a shared disk
Progress = Callable[[str, int, int | None], None]


def check_layout(layout: str) -> list[tuple[str, str | None]]:
    """The layout as (literal, placeholder) pieces.

    Raises:
        ConfigError: unknown placeholder, format spec, absolute or parent-escaping layout.
    """
    try:
        parts = list(string.Formatter().parse(layout))
    except ValueError as exc:
        raise ConfigError(f"invalid layout {layout!r}: {exc}") from None
    out = []
    for literal, field, spec, conv in parts:
        if field is not None and (field not in PLACEHOLDERS or spec or conv):
            raise ConfigError(f"unknown placeholder {{{field}}} in layout; known: "
                              + ", ".join(f"{{{k}}}" for k in PLACEHOLDERS))
        out.append((literal, field))
    if layout.startswith("/") or ".." in layout.split("/") or not any(f for _, f in out):
        raise ConfigError(f"invalid layout {layout!r}: a relative path with placeholders, such as "
                          "\"{year}/{year}-{month}/{name}\"")
    return out


def _clean(value: Any) -> bytes:
    if value is None or value == "":
        return UNKNOWN
    raw = value if isinstance(value, bytes) else str(value).encode("utf-8")
    raw = raw.replace(b"/", b"_").replace(b"\0", b"_").strip()
    return raw if raw not in (b"", b".", b"..") else UNKNOWN


def render(pieces: list[tuple[str, str | None]], values: dict[str, bytes]) -> bytes:
    """The relative destination of one file (bytes: a file name is carried over exactly)."""
    out = b"".join(literal.encode("utf-8") + (values[field] if field else b"") for literal, field in pieces)
    if not any(f in ("name", "ext") for _, f in pieces) and values["ext"] != UNKNOWN:
        out += b"." + values["ext"]  # keep the extension: other programs go by it
    return out


def _values(row, name: bytes) -> dict[str, bytes]:
    stem, ext = os.path.splitext(name)
    when = row.capture_time or ""
    camera = " ".join(p for p in (row.camera_make, row.camera_model) if p)
    return {"year": _clean(when[0:4]), "month": _clean(when[5:7]), "day": _clean(when[8:10]),
            "country": _clean(row.country_code), "region": _clean(row.region), "city": _clean(row.city),
            "camera": _clean(camera), "make": _clean(row.camera_make), "model": _clean(row.camera_model),
            "asset_id": row.asset_id.encode(), "short_id": row.asset_id[:12].encode(),
            "name": name, "stem": stem or name, "ext": _clean(ext[1:]) if ext else UNKNOWN}


def _with_suffix(path: bytes, n: int) -> bytes:
    folder, name = os.path.split(path)
    stem, ext = os.path.splitext(name)
    return os.path.join(folder, b"%s-%d%s" % (stem or name, n, ext))


def _sidecar_dst(photo_src: bytes, sidecar_src: bytes, photo_dst: bytes) -> bytes:
    """Keep the sidecar's form: ``NAME.EXT.xmp`` follows the new name, ``NAME.xmp`` its stem."""
    tail = sidecar_src[len(photo_src):] if sidecar_src.startswith(photo_src) else None
    if tail is not None:
        return photo_dst + tail
    return os.path.splitext(photo_dst)[0] + os.path.splitext(sidecar_src)[1]


def _sidecar_on_disk(path: bytes, known: bytes | None) -> bytes | None:
    """The photo's sidecar as it is now: the one the catalog knows, else ``NAME.EXT.xmp`` or ``NAME.xmp``
    written since the last scan (the order the scan uses)."""
    stem = os.path.splitext(path)[0]
    for candidate in (known, path + b".xmp", path + b".XMP", stem + b".xmp", stem + b".XMP"):
        if candidate and candidate != path and os.path.isfile(candidate):
            return candidate
    return None


def _sources(session) -> tuple[list[bytes], list[bytes]]:
    state = session.get(CatalogState, TARGETS_KEY)
    targets = [os.fsencode(t) for t in ((state.value if state else None) or [])]
    return [p for p in session.scalars(select(Source.path_bytes)) if p not in targets], targets


def check_target(session, target: bytes) -> None:
    """Refuse a target inside (or holding) a library folder.

    Raises:
        ConfigError: naming the source.
    """
    real = os.path.realpath(target)
    sources, _ = _sources(session)
    for src in sources:
        rsrc = os.path.realpath(src)
        if real == rsrc or real.startswith(rsrc.rstrip(b"/") + b"/"):
            raise ConfigError(f"target {display(target)} is inside the library folder {display(src)}; "
                              "choose a folder outside every scanned source")
        if rsrc.startswith(real.rstrip(b"/") + b"/"):
            raise ConfigError(f"target {display(target)} holds the library folder {display(src)}; "
                              "choose a folder outside every scanned source")


def plan(catalog: Catalog, target: str | os.PathLike, layout: str, move: bool = False,
         rejected: str = "trash") -> dict[str, Any]:
    """Plan organising every present catalogued file (nothing is written).

    Args:
        target: the folder to organise into.
        layout: a relative path with placeholders (``PLACEHOLDERS``), e.g. ``"{year}/{year}-{month}/{name}"``.
        move: move (copy, verify, remove the original) instead of copy.
        rejected: ``trash`` (rejected assets go to the trash), ``skip`` (left in place) or ``include``.
    Returns:
        ``{"target", "layout", "mode", "rejected", "ops": [{"seq", "kind", "action", "src", "dst", "size_bytes",
        "reason", ...}], "totals": {...}}``; ops hold bytes paths under ``src_bytes``/``dst_bytes``.
    Raises:
        ConfigError: bad layout or ``rejected`` value, or a target inside a source.
    """
    if rejected not in ("trash", "skip", "include"):
        raise ConfigError("--rejected must be trash, skip or include")
    pieces = check_layout(layout)
    root = os.path.abspath(os.fsencode(os.path.expanduser(os.fsdecode(target))))
    with catalog.session() as s:
        check_target(s, root)
        rows = s.execute(
            select(FileInstance.id, FileInstance.path_bytes, FileInstance.size_bytes, FileInstance.mtime_ns,
                   FileInstance.sidecar_path_bytes, FileInstance.asset_id, Asset.status, CaptureDate.capture_time,
                   Place.country_code, Place.region, Place.city, Metadata.camera_make, Metadata.camera_model)
            .join(Asset, Asset.asset_id == FileInstance.asset_id)
            .outerjoin(CaptureDate, CaptureDate.asset_id == FileInstance.asset_id)
            .outerjoin(Place, Place.asset_id == FileInstance.asset_id)
            .outerjoin(Metadata, Metadata.asset_id == FileInstance.asset_id)
            .where(FileInstance.status == "present").order_by(FileInstance.path_bytes)).all()
    ops: list[dict[str, Any]] = []
    claimed: dict[bytes, str | None] = {}  # destination -> asset id of a file already in place there
    sidecar_sources: dict[bytes, dict[str, Any]] = {}
    action = "move" if move else "copy"
    for r in rows:
        base = {"file_id": r.id, "asset_id": r.asset_id, "src_bytes": r.path_bytes, "size_bytes": r.size_bytes,
                "mtime_ns": r.mtime_ns, "sha256": r.asset_id, "kind": "photo", "reason": None}
        try:
            st = os.stat(r.path_bytes)
        except OSError as exc:
            ops.append({**base, "action": "skip", "dst_bytes": None, "reason": f"cannot read: {exc.strerror}"})
            continue
        if (st.st_size, st.st_mtime_ns) != (r.size_bytes, r.mtime_ns):
            ops.append({**base, "action": "skip", "dst_bytes": None,
                        "reason": "changed since the last scan; run `lumina scan` first"})
            continue
        if r.status == "rejected" and rejected != "include":
            ops.append({**base, "action": "trash" if rejected == "trash" else "skip", "dst_bytes": None,
                        "reason": "rejected"})
            continue
        dst = os.path.join(root, render(pieces, _values(r, os.path.basename(r.path_bytes))))
        if dst == r.path_bytes:
            ops.append({**base, "action": "skip", "dst_bytes": dst, "reason": "already in place"})
            claimed[dst] = r.asset_id
            continue
        if claimed.get(dst) == r.asset_id or (not move and dst not in claimed and os.path.lexists(dst)
                                              and _same(dst, r.size_bytes, r.asset_id)):
            # organised before (a copy): the same content is there already
            ops.append({**base, "action": "skip", "dst_bytes": dst, "reason": "already organised (same content there)"})
            claimed.setdefault(dst, r.asset_id)
            continue
        n, candidate = 0, dst
        while candidate in claimed or (os.path.lexists(candidate) and not _same(candidate, r.size_bytes, r.asset_id)):
            n += 1
            candidate = _with_suffix(dst, n)
        claimed.setdefault(candidate, None)
        op = {**base, "action": action, "dst_bytes": candidate,
              "reason": f"renamed: {display(os.path.basename(dst))} is taken" if n else None}
        sidecar = _sidecar_on_disk(r.path_bytes, r.sidecar_path_bytes)
        if sidecar:
            side_dst = _sidecar_dst(r.path_bytes, sidecar, candidate)
            claimed.setdefault(side_dst, None)
            sst = os.stat(sidecar)
            ops.append({"file_id": r.id, "asset_id": None, "src_bytes": sidecar, "dst_bytes": side_dst,
                        "size_bytes": sst.st_size, "mtime_ns": sst.st_mtime_ns, "sha256": sha256_file(sidecar),
                        "kind": "sidecar", "action": "copy", "reason": None})
            if move:
                sidecar_sources[sidecar] = ops[-1]
        ops.append(op)
    for sidecar, op in sidecar_sources.items():  # a moved sidecar's original goes once all its photos are done
        ops.append({**op, "action": "remove", "file_id": None, "reason": "sidecar moved with its photo"})
    for i, op in enumerate(ops):
        op["seq"] = i
    totals: dict[str, Any] = {}
    for op in ops:
        t = totals.setdefault(op["action"], {"files": 0, "bytes": 0})
        t["files"] += 1
        t["bytes"] += op["size_bytes"] or 0
    totals["renamed"] = sum(1 for op in ops if (op["reason"] or "").startswith("renamed"))
    return {"target": display(root), "target_bytes": root, "layout": layout, "mode": action, "rejected": rejected,
            "ops": ops, "totals": totals}


def _same(path: bytes, size_bytes: int, sha256: str) -> bool:
    try:
        return os.path.getsize(path) == size_bytes and sha256_file(path) == sha256
    except OSError:
        return False


def _check_space(root: bytes, ops: list[dict[str, Any]]) -> None:
    why = writable_folder(root)
    if why:
        raise ConfigError(f"cannot write to target {display(root)}: {why}; nothing was moved")
    dev = os.stat(root).st_dev
    need = 0
    for op in ops:
        if op["action"] == "copy":
            need += op["size_bytes"]
        elif op["action"] == "move":  # on the same disk a move frees what it copies, one file at a time
            same = os.stat(op["src_bytes"]).st_dev == dev
            need = max(need, op["size_bytes"]) if same else need + op["size_bytes"]
    free = shutil.disk_usage(root).free
    if need + SPACE_MARGIN_BYTES > free:
        raise ConfigError(f"not enough space on {display(root)}: the plan needs {need / 2**20:.0f} MiB "
                          f"(+{SPACE_MARGIN_BYTES >> 20} MiB margin), {free / 2**20:.0f} MiB free; nothing was moved")


def apply(catalog: Catalog, target: str | os.PathLike, layout: str, move: bool = False, rejected: str = "trash",
          progress: Progress | None = None) -> dict[str, Any]:
    """Apply the plan (or finish the interrupted one with the same parameters).

    Returns:
        ``{"plan": id, "resumed": bool, "done": n, "skipped": [{"src", "reason"}], "totals"}``.
    Raises:
        ConfigError: see ``plan``; the target is not writable or lacks space; another plan is unfinished.
        CatalogError: another writer holds the catalog; a copy does not verify (the run stops there,
        the original untouched; the same command resumes).
    """
    with catalog.writer(exclusive=True):
        with catalog.session() as s:
            root = os.path.abspath(os.fsencode(os.path.expanduser(os.fsdecode(target))))
            pending = s.scalar(select(OrganisePlan).where(OrganisePlan.status == "applying"))
            resumed = pending is not None
            if pending is not None and (pending.target_bytes, pending.layout, pending.mode, pending.rejected) != \
                    (root, layout, "move" if move else "copy", rejected):
                raise ConfigError(f"organise plan {pending.id} (to {pending.target}, layout {pending.layout!r}, "
                                  f"{pending.mode}) was interrupted; finish it with the same options, or "
                                  "`lumina organise --undo`")
            if pending is None:
                doc = plan(catalog, target, layout, move, rejected)
                _check_space(root, doc["ops"])
                pending = OrganisePlan(target_bytes=root, target=doc["target"], layout=layout, mode=doc["mode"],
                                       rejected=rejected, status="applying", totals=doc["totals"], created_at=now())
                s.add(pending)
                s.flush()
                for op in doc["ops"]:
                    s.add(OrganiseOp(plan_id=pending.id, status="skipped" if op["action"] == "skip" else "planned",
                                     **{k: op[k] for k in ("seq", "file_id", "asset_id", "kind", "action", "src_bytes",
                                                           "dst_bytes", "size_bytes", "mtime_ns", "sha256", "reason")}))
                _register_target(s, root)
                s.commit()
            plan_id = pending.id
            ops = s.scalars(select(OrganiseOp).where(OrganiseOp.plan_id == plan_id).order_by(OrganiseOp.seq)).all()
            source_id = s.scalar(select(Source.id).where(Source.path_bytes == root))
            for i, op in enumerate(ops):
                if progress:
                    progress("organise", i, len(ops))
                if op.status in ("planned", "copied"):
                    _step(catalog, s, op, ops, source_id, plan_id)
            pending.status, pending.finished_at = "applied", now()
            s.commit()
            if progress:
                progress("organise", len(ops), len(ops))
            skipped = [{"src": display(op.src_bytes), "reason": op.reason} for op in ops if op.status == "skipped"]
            done = sum(1 for op in ops if op.status == "done")
            return {"plan": plan_id, "resumed": resumed, "done": done, "skipped": skipped, "totals": pending.totals}


def _register_target(s, root: bytes) -> None:
    if s.scalar(select(Source.id).where(Source.path_bytes == root)) is None:
        s.add(Source(path_bytes=root, path=display(root), added_at=now()))
    state = s.get(CatalogState, TARGETS_KEY)
    targets = list((state.value if state else None) or [])
    if display(root) not in targets:
        upsert(s, CatalogState, [dict(key=TARGETS_KEY, value=targets + [os.fsdecode(root)])])


def _step(catalog: Catalog, s, op: OrganiseOp, ops: list[OrganiseOp], source_id: int, plan_id: int) -> None:
    """One journal step, resumable from whatever state a kill left it in."""
    if op.action == "trash":
        if not os.path.lexists(op.src_bytes):
            entry = s.scalar(select(TrashEntry).where(TrashEntry.original_path_bytes == op.src_bytes,
                                                      TrashEntry.status == "trashed").order_by(TrashEntry.id.desc()))
            op.status, op.trash_entry_id = ("done", entry.id) if entry else ("skipped", None)
            op.reason = op.reason if entry else "source vanished"
        elif _unchanged(op):
            from lumina.pipeline.trash import trash_paths

            entry = trash_paths(catalog, [op.src_bytes], f"organise plan {plan_id}: rejected", with_sidecars=False)[0]
            op.status, op.trash_entry_id = "done", entry["id"]
        else:
            op.status, op.reason = "skipped", "changed since the plan"
        s.commit()
        return
    if op.action == "remove":  # a moved sidecar: its copies are all in place
        copies = [o for o in ops if o.kind == "sidecar" and o.action == "copy" and o.src_bytes == op.src_bytes]
        if all(o.status == "done" for o in copies) and os.path.lexists(op.src_bytes):
            remove_verified(op.src_bytes, copies[0].dst_bytes, op.sha256)
            s.execute(update(SidecarWrite).where(SidecarWrite.path_bytes == op.src_bytes)
                      .values(path_bytes=copies[0].dst_bytes))
        op.status = "done" if all(o.status == "done" for o in copies) else "skipped"
        s.commit()
        return
    if op.status == "planned":
        src_there = os.path.lexists(op.src_bytes)
        dst_ok = os.path.lexists(op.dst_bytes) and _same(op.dst_bytes, op.size_bytes, op.sha256)
        if not src_there and not dst_ok:
            op.status, op.reason = "skipped", "source vanished"
            s.commit()
            return
        if src_there and not _unchanged(op):
            op.status, op.reason = "skipped", "changed since the plan"
            s.commit()
            return
        if not dst_ok:
            if os.path.lexists(op.dst_bytes):
                op.status, op.reason = "skipped", "destination taken by another file since the plan"
                s.commit()
                return
            copy_verified(op.src_bytes, op.dst_bytes, op.sha256, op.size_bytes)
        if op.kind == "photo":
            _follow(s, op, source_id)
        op.status = "copied" if op.action == "move" and src_there else "done"
        s.commit()
    if op.status == "copied":
        if os.path.lexists(op.src_bytes):
            remove_verified(op.src_bytes, op.dst_bytes, op.sha256)
        op.status = "done"
        s.commit()


def _unchanged(op: OrganiseOp) -> bool:
    try:
        st = os.stat(op.src_bytes)
    except OSError:
        return False
    return (st.st_size, st.st_mtime_ns) == (op.size_bytes, op.mtime_ns)


def _follow(s, op: OrganiseOp, source_id: int) -> None:
    """The catalog follows a copied or moved photo: same asset, no re-hashing, analysis kept."""
    st = os.stat(op.dst_bytes)
    sidecar = next((o.dst_bytes for o in s.scalars(select(OrganiseOp).where(
        OrganiseOp.plan_id == op.plan_id, OrganiseOp.file_id == op.file_id, OrganiseOp.kind == "sidecar",
        OrganiseOp.action == "copy"))), None)
    row = s.get(FileInstance, op.file_id)
    existing = s.scalar(select(FileInstance).where(FileInstance.path_bytes == op.dst_bytes))
    if op.action == "move" and row is not None:
        if existing is not None and existing.id != row.id:
            s.delete(existing)
            s.flush()
        target = row
        if row.sidecar_path_bytes and sidecar:
            s.execute(update(SidecarWrite).where(SidecarWrite.path_bytes == row.sidecar_path_bytes)
                      .values(path_bytes=sidecar))
    else:
        target = existing or FileInstance(first_seen_at=now(), status="present", warnings=list(row.warnings or [])
                                          if row else [])
        if existing is None:
            s.add(target)
    signature = None
    if sidecar and os.path.isfile(sidecar):
        sst = os.stat(sidecar)
        signature = f"{sst.st_size}:{sst.st_mtime_ns}"
    target.path_bytes, target.path, target.source_id = op.dst_bytes, display(op.dst_bytes), source_id
    target.asset_id, target.status, target.error = op.asset_id, "present", None
    target.size_bytes, target.mtime_ns, target.inode, target.device = st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev
    target.sidecar_path_bytes, target.sidecar_signature = sidecar, signature


def undo(catalog: Catalog, plan_id: int | None = None, progress: Progress | None = None) -> dict[str, Any]:
    """Reverse the latest applied (or interrupted) plan, newest step first: moved files are copied back
    and verified before their new copy is removed, copies removed once verified, trashed files restored.

    Returns:
        ``{"plan": id, "undone": n, "problems": [{"path", "reason"}]}``.
    Raises:
        NotFoundError: no plan to undo. CatalogError: a copy does not verify (the run stops; re-run to go on).
    """
    from lumina.pipeline.trash import restore

    with catalog.writer(exclusive=True), catalog.session() as s:
        q = select(OrganisePlan).where(OrganisePlan.status.in_(("applied", "applying", "undoing")))
        p = s.scalar(q.where(OrganisePlan.id == plan_id) if plan_id else q.order_by(OrganisePlan.id.desc()))
        if p is None:
            raise NotFoundError("no applied organise plan to undo" + (f" with id {plan_id}" if plan_id else ""))
        p.status = "undoing"
        s.commit()
        ops = s.scalars(select(OrganiseOp).where(OrganiseOp.plan_id == p.id).order_by(OrganiseOp.seq.desc())).all()
        problems, undone = [], 0
        for i, op in enumerate(ops):
            if progress:
                progress("undo", i, len(ops))
            if op.status not in ("done", "copied"):
                continue
            if op.action == "trash":
                if op.trash_entry_id and s.get(TrashEntry, op.trash_entry_id).status == "trashed":
                    restore(catalog, [op.trash_entry_id])
            elif op.action == "remove":
                copy = next((o for o in ops if o.kind == "sidecar" and o.action == "copy"
                             and o.src_bytes == op.src_bytes and os.path.lexists(o.dst_bytes)), None)
                if copy is None:
                    problems.append({"path": display(op.src_bytes), "reason": "no copy left to restore it from"})
                    continue
                if not os.path.lexists(op.src_bytes):
                    copy_verified(copy.dst_bytes, op.src_bytes, op.sha256, op.size_bytes)
            else:
                if not _undo_copy(s, op, problems):
                    continue
            op.status = "undone"
            undone += 1
            s.commit()
        p.status, p.finished_at = "undone", now()
        s.commit()
        _prune(p.target_bytes, [op.dst_bytes for op in ops if op.dst_bytes])
        return {"plan": p.id, "undone": undone, "problems": problems}


def _undo_copy(s, op: OrganiseOp, problems: list[dict[str, Any]]) -> bool:
    if not os.path.lexists(op.dst_bytes):
        problems.append({"path": display(op.dst_bytes), "reason": "the organised copy is gone"})
        return False
    if op.action == "move" and not os.path.lexists(op.src_bytes):
        copy_verified(op.dst_bytes, op.src_bytes, op.sha256, op.size_bytes)
    if not os.path.lexists(op.src_bytes) or not _same(op.src_bytes, op.size_bytes, op.sha256):
        problems.append({"path": display(op.src_bytes), "reason": "the original is missing or differs; copy kept"})
        return False
    remove_verified(op.dst_bytes, op.src_bytes, op.sha256)
    if op.kind == "photo":
        row = s.scalar(select(FileInstance).where(FileInstance.path_bytes == op.dst_bytes))
        if row is not None and op.action == "move":
            st = os.stat(op.src_bytes)
            row.path_bytes, row.path = op.src_bytes, display(op.src_bytes)
            row.size_bytes, row.mtime_ns, row.inode, row.device = st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev
            side = s.scalar(select(OrganiseOp.src_bytes).where(
                OrganiseOp.plan_id == op.plan_id, OrganiseOp.file_id == op.file_id, OrganiseOp.kind == "sidecar"))
            if row.sidecar_path_bytes and side:  # Lumina's record of what it wrote follows the sidecar back
                s.execute(update(SidecarWrite).where(SidecarWrite.path_bytes == row.sidecar_path_bytes)
                          .values(path_bytes=side))
            row.sidecar_path_bytes = side
            row.source_id = _source_of(s, op.src_bytes) or row.source_id
        elif row is not None:
            s.execute(delete(FileInstance).where(FileInstance.id == row.id))
    return True


def _source_of(s, path: bytes) -> int | None:
    for sid, root in s.execute(select(Source.id, Source.path_bytes)):
        if path.startswith(root.rstrip(b"/") + b"/"):
            return sid
    return None


def _prune(root: bytes, paths: list[bytes]) -> None:
    """Remove folders the plan created and undo emptied (never the target itself, never a non-empty one)."""
    for folder in sorted({os.path.dirname(p) for p in paths}, key=len, reverse=True):
        while folder.startswith(root.rstrip(b"/") + b"/"):
            try:
                os.rmdir(folder)
            except OSError:
                break
            folder = os.path.dirname(folder)


def latest_plans(catalog: Catalog) -> list[dict[str, Any]]:
    """Every organise plan, newest first (id, target, layout, mode, status, totals)."""
    with catalog.session() as s:
        return [{"id": p.id, "target": p.target, "layout": p.layout, "mode": p.mode, "status": p.status,
                 "totals": p.totals, "created_at": p.created_at.isoformat() + "Z"}
                for p in s.scalars(select(OrganisePlan).order_by(OrganisePlan.id.desc()))]

