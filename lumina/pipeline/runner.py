"""The plain runner: plan each stage from stage records, run it in batches (worker processes for
stages that declare ``parallel``), and write results with one writer in one transaction per batch.

Planner rule for a stage S and an asset A (STYLE.md, "One stage interface"):
run when A has no record for S, the record's version or parameters hash differs from S's now,
a prerequisite's record is newer than it, or ``force``; a ``failed`` record is retried only with
``retry_failed`` (a changed file is a new asset, so it is planned anyway).
"""

from __future__ import annotations

import multiprocessing
import os
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

from sqlalchemy import inspect, select

from lumina.catalog.db import Catalog
from lumina.catalog.models import Asset, FileInstance, StageRecord, UserOverride
from lumina.errors import error_text
from lumina.pipeline.scan import Progress, now
from lumina.stages import STAGES, make_stage
from lumina.stages.base import AssetView, Stage, StageResult, topological_order


@dataclass(frozen=True)
class _Done:
    asset_id: str
    result: StageResult
    duration_ms: float


def asset_views(session) -> dict[str, AssetView]:
    """One view per asset that has a present file (the first path in byte order)."""
    rows = session.execute(
        select(FileInstance.asset_id, FileInstance.path_bytes, FileInstance.mtime_ns, FileInstance.sidecar_path_bytes,
               FileInstance.sidecar_signature, Asset.media_kind, Asset.file_type, Asset.size_bytes)
        .join(Asset, Asset.asset_id == FileInstance.asset_id)
        .where(FileInstance.status == "present")
        .order_by(FileInstance.path_bytes))
    views: dict[str, AssetView] = {}
    for r in rows:
        if r.asset_id not in views:
            views[r.asset_id] = AssetView(r.asset_id, r.path_bytes, r.media_kind, r.file_type, r.size_bytes,
                                          r.mtime_ns or 0, r.sidecar_path_bytes, r.sidecar_signature)
    return views


def plan(session, stage: Stage, views: dict[str, AssetView], force: bool = False,
         retry_failed: bool = False) -> list[str]:
    """Asset ids that need ``stage``, in byte order of their first path."""
    records = {r.asset_id: r for r in session.scalars(select(StageRecord).where(StageRecord.stage == stage.name))}
    prereq_time: dict[str, Any] = {}
    for req in stage.requires:
        for aid, t in session.execute(select(StageRecord.asset_id, StageRecord.finished_at)
                                      .where(StageRecord.stage == req)):
            if aid not in prereq_time or t > prereq_time[aid]:
                prereq_time[aid] = t
    due = []
    for aid, view in views.items():
        rec = records.get(aid)
        if force or rec is None:
            due.append(aid)
        elif rec.status == "failed" and not retry_failed:
            continue
        elif (rec.version != stage.version or rec.params_hash != stage.params_hash(view)
              or (aid in prereq_time and prereq_time[aid] > rec.finished_at)
              or rec.status == "failed"):
            due.append(aid)
    return due


def _with_inputs(session, stage: Stage, views: Sequence[AssetView]) -> list[AssetView]:
    """Attach the outputs of the stages ``stage`` requires (their table rows as dicts)."""
    inputs: dict[str, dict[str, Any]] = {v.asset_id: {} for v in views}
    for req in stage.requires:
        table = STAGES[req].table if req in STAGES else None
        if table is None:
            continue
        ids = [v.asset_id for v in views]
        cols = [c.key for c in inspect(table).mapper.column_attrs]
        for i in range(0, len(ids), 900):
            for row in session.scalars(select(table).where(table.asset_id.in_(ids[i:i + 900]))):
                inputs[row.asset_id][req] = {c: getattr(row, c) for c in cols}
    ids = [v.asset_id for v in views]
    for i in range(0, len(ids), 900):
        for o in session.scalars(select(UserOverride).where(UserOverride.asset_id.in_(ids[i:i + 900]))):
            inputs[o.asset_id].setdefault("overrides", {})[o.field] = o.value
    return [AssetView(**{**v.__dict__, "inputs": inputs[v.asset_id]}) for v in views]


_worker_stage: Stage | None = None


def _init_worker(name: str, settings: dict) -> None:
    global _worker_stage
    _worker_stage = make_stage(name, settings)


def _run_batch_in(stage: Stage, views: Sequence[AssetView]) -> list[_Done]:
    start = time.perf_counter()
    try:
        results = stage.run_batch(views)
        ms = (time.perf_counter() - start) * 1000 / max(1, len(views))
        return [_Done(v.asset_id, r, ms) for v, r in zip(views, results)]
    except Exception:  # a bug on one asset must not end the run: retry one by one, record the failure
        out = []
        for v in views:
            t = time.perf_counter()
            try:
                r = stage.run_batch([v])[0]
            except Exception as exc:
                tb = traceback.extract_tb(exc.__traceback__)[-1]
                r = StageResult("failed", reason=error_text(
                    "internal_error", f"{type(exc).__name__}: {exc} ({os.path.basename(tb.filename)}:{tb.lineno})"))
            out.append(_Done(v.asset_id, r, (time.perf_counter() - t) * 1000))
        return out


def _run_batch_worker(views: Sequence[AssetView]) -> list[_Done]:
    assert _worker_stage is not None
    return _run_batch_in(_worker_stage, views)


def write_results(session, stage: Stage, views: dict[str, AssetView], done: Sequence[_Done]) -> None:
    """Write a batch's values and stage records in one transaction (the single writer)."""
    finished = now()
    for d in done:
        if d.result.values and stage.table is not None:
            session.merge(stage.table(asset_id=d.asset_id, **d.result.values))
        session.merge(StageRecord(asset_id=d.asset_id, stage=stage.name, version=stage.version,
                                  params_hash=stage.params_hash(views[d.asset_id]), status=d.result.status,
                                  error=d.result.reason, duration_ms=d.duration_ms, finished_at=finished))
    session.commit()


def worker_count(settings: dict) -> int:
    n = int(settings["workers"])
    return n if n > 0 else (os.cpu_count() or 1)


def run_stage(catalog: Catalog, name: str, force: bool = False, retry_failed: bool = False,
              progress: Progress | None = None) -> dict[str, int]:
    """Run one stage on every asset that needs it; returns ``{"ok", "failed", "skipped"}`` counts."""
    stage = make_stage(name, catalog.settings)
    counts = {"ok": 0, "failed": 0, "skipped": 0}
    with catalog.session() as s:
        views = asset_views(s)
        due = plan(s, stage, views, force, retry_failed)
        if not due:
            return counts
        batches = [due[i:i + stage.batch_size] for i in range(0, len(due), stage.batch_size)]
        workers = min(worker_count(catalog.settings), len(batches)) if stage.parallel else 1
        done_n = 0

        def handle(done: list[_Done]) -> None:
            nonlocal done_n
            write_results(s, stage, views, done)
            for d in done:
                counts[d.result.status] += 1
            done_n += len(done)
            if progress:
                progress(name, done_n, len(due))

        if progress:
            progress(name, 0, len(due))
        if workers <= 1:
            try:
                for batch in batches:
                    handle(_run_batch_in(stage, _with_inputs(s, stage, [views[a] for a in batch])))
            finally:
                stage.close()
        else:
            ctx = multiprocessing.get_context("forkserver")
            with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                                     initargs=(name, catalog.settings)) as pool:
                futures = [pool.submit(_run_batch_worker, _with_inputs(s, stage, [views[a] for a in batch]))
                           for batch in batches]
                for fut in as_completed(futures):
                    handle(fut.result())
                # each worker's ExifTool exits by itself when the worker's pipe to it closes
    return counts


def run_pipeline(catalog: Catalog, stages: Sequence[str] | None = None, force: bool = False,
                 retry_failed: bool = False, progress: Progress | None = None) -> dict[str, dict[str, int]]:
    """Run the implemented stages (all, or ``stages`` and their prerequisites) in dependency order."""
    return {name: run_stage(catalog, name, force, retry_failed, progress)
            for name in topological_order(stages) if name in STAGES}
