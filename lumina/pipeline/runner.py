"""The plain runner: plan each stage from stage records, run it in batches (worker processes for
stages that declare ``parallel``), and write results with one writer in one transaction per batch.

Planner rule for a stage S and an asset A (STYLE.md, "One stage interface"):
run when A has no record for S, the record's version or parameters hash differs from S's now,
a prerequisite's record is newer than it, or ``force`` (True: every record; a time: every record
finished before it, so that a forced job resumed after a kill does not redo what it already
committed); a ``failed`` record is retried only with
``retry_failed`` (a changed file is a new asset, so it is planned anyway).
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, inspect, literal, or_, select
from sqlalchemy.orm import aliased

from lumina.catalog.db import Catalog
from lumina.catalog.models import Asset, FileInstance, StageRecord, UserOverride
from lumina.catalog.writes import upsert
from lumina.errors import MediaError, error_text, run_error
from lumina.media.decode import DecodeFailure, decode
from lumina.pipeline.scan import Progress, now
from lumina.pipeline import leases, watermark
from lumina.pipeline.executors import ThreadExecutor, make_executor
from lumina.pipeline.stopping import check_stop
from lumina.stages import CATALOG_STAGES, STAGES, make_stage, topological_order
from lumina.stages.base import AssetView, Stage, StageResult


@dataclass(frozen=True)
class _Done:
    asset_id: str
    result: StageResult
    duration_ms: float


def asset_views(session, ids: Sequence[str] | None = None) -> dict[str, AssetView]:
    """One view per asset that has a present file (the first path in byte order); with ``ids``
    (at most a batch), only those assets."""
    query = (select(FileInstance.asset_id, FileInstance.path_bytes, FileInstance.mtime_ns, FileInstance.sidecar_path_bytes,
                    FileInstance.sidecar_signature, Asset.media_kind, Asset.file_type, Asset.size_bytes)
             .join(Asset, Asset.asset_id == FileInstance.asset_id)
             .where(FileInstance.status == "present")
             .order_by(FileInstance.path_bytes))
    rows = session.execute(query if ids is None else query.where(FileInstance.asset_id.in_(list(ids))))
    views: dict[str, AssetView] = {}
    for r in rows:
        if r.asset_id not in views:
            views[r.asset_id] = AssetView(r.asset_id, r.path_bytes, r.media_kind, r.file_type, r.size_bytes,
                                          r.mtime_ns or 0, r.sidecar_path_bytes, r.sidecar_signature)
    return views


Force = bool | datetime  # see the module docstring


def forced(force: Force, finished_at: datetime | None) -> bool:
    """Whether ``force`` re-runs a result finished at ``finished_at`` (None: no result)."""
    if isinstance(force, datetime):
        return finished_at is None or finished_at < force
    return bool(force)


def plan(session, stage: Stage, views: dict[str, AssetView], force: Force = False,
         retry_failed: bool = False) -> list[str]:
    """Asset ids that need ``stage``, in byte order of their first path.

    The comparison runs in SQL (plain SQLAlchemy Core, any backend): one query for the stale records,
    one (an anti-join) for the present assets without a record, so an unchanged library returns no
    rows at all (an unchanged rescan of a large library is mostly this function; rows of records
    read into Python, as before, cost 5-10x more). A stage whose parameters hash depends on the asset
    (``input_signature``, e.g. metadata's sidecar) compares its hashes in Python, once per
    distinct signature."""
    if force is True:
        return list(views)
    rec = StageRecord
    per_asset = signed_by_sidecar(stage)
    stale = [rec.version != stage.version]
    if not per_asset and views:
        stale.append(rec.params_hash != stage.params_hash(next(iter(views.values()))))
    if stage.requires:  # a prerequisite's record newer than this one: its output changed
        req = aliased(StageRecord)
        stale.append(exists().where(req.asset_id == rec.asset_id, req.stage.in_(stage.requires),
                                    req.finished_at > rec.finished_at))
    from lumina.pipeline.overrides import OVERRIDE_READERS  # it imports this module

    fields = [f for f, readers in OVERRIDE_READERS.items() if stage.name in readers]
    if fields:  # a user override set after the record (even while a job ran) is an input that changed
        stale.append(exists().where(UserOverride.asset_id == rec.asset_id, UserOverride.field.in_(fields),
                                    UserOverride.set_at > rec.finished_at))
    due_when = [and_(rec.status != "failed", or_(*stale))]  # a failed record waits for --retry-failed
    if retry_failed:
        due_when.append(rec.status == "failed")
    if isinstance(force, datetime):  # forced: every record finished before the job started
        due_when += [rec.finished_at.is_(None), rec.finished_at < force]
    due = set(session.scalars(select(rec.asset_id).where(rec.stage == stage.name, or_(*due_when))))
    due.update(session.scalars(select(FileInstance.asset_id).where(  # present files of assets without a record
        FileInstance.status == "present",
        ~exists().where(rec.asset_id == FileInstance.asset_id, rec.stage == stage.name))))
    if per_asset:
        hashes: dict[str, str] = {}
        for aid, params_hash in session.execute(select(rec.asset_id, rec.params_hash)
                                                .where(rec.stage == stage.name, rec.status != "failed")):
            view = views.get(aid)
            if view is not None:
                signature = stage.input_signature(view)
                if signature not in hashes:
                    hashes[signature] = stage.params_hash(view)
                if params_hash != hashes[signature]:
                    due.add(aid)
    return [aid for aid in views if aid in due] if due else []


def plan_columns(stage: Stage, records: dict[str, Any], overridden: frozenset | None = None) -> dict[str, Any]:
    """``plan``'s rule for ``stage`` as SQL expressions over a query of ``Asset`` left-joined to
    ``records`` (stage name -> an aliased ``StageRecord`` of that stage joined on the asset id;
    ``stage.name`` among them): ``old_version``, ``newer`` (a prerequisite's record or a user
    override the stage reads is newer than the record) and ``params_hash`` (recorded). ``planned``
    finishes the rule once per distinct row; the gap report counts pending assets this way.
    ``overridden``: the override fields that exist in the catalog (None: any may), so that the
    EXISTS is left out where no override can be newer."""
    from lumina.pipeline.overrides import OVERRIDE_READERS  # it imports this module

    rec = records[stage.name]
    newer = [records[r].finished_at > rec.finished_at for r in stage.requires if r in records]
    fields = [f for f, readers in OVERRIDE_READERS.items() if stage.name in readers
              and (overridden is None or f in overridden)]
    if fields:
        newer.append(exists().where(UserOverride.asset_id == Asset.asset_id, UserOverride.field.in_(fields),
                                    UserOverride.set_at > rec.finished_at))
    return {"old_version": rec.version != stage.version, "newer": or_(*newer) if newer else literal(False),
            "params_hash": rec.params_hash}


def signed_by_sidecar(stage: Stage) -> bool:
    """Whether ``stage``'s parameters hash reads the asset (``input_signature``: today only the
    first present file's ``sidecar_signature``, with ``media_kind`` and ``file_type``)."""
    return type(stage).input_signature is not Stage.input_signature


def planned(stage: Stage, status: str | None, old_version: bool, newer: bool, params_hash: str | None,
            media_kind: str, file_type: str, sidecar_signature: str | None) -> bool:
    """``plan``'s rule (no force, no retry of failures) for an asset with a record in ``status``
    (None: no record) and the values of ``plan_columns``."""
    if status is None:
        return True
    if status == "failed":
        return False
    return bool(old_version or newer) or params_hash != stage.params_hash(
        AssetView("", b"", media_kind, file_type, 0, 0, None, sidecar_signature))


def _with_inputs(session, requires: Sequence[str], views: Sequence[AssetView]) -> list[AssetView]:
    """Attach the outputs of the stages in ``requires`` (their table rows as dicts) and user overrides."""
    inputs: dict[str, dict[str, Any]] = {v.asset_id: {} for v in views}
    for req in requires:
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


class StageGroup:
    """Stages run together on one asset at a time: a single stage, or every due pixel stage
    sharing one decode of the file (``PixelStage``)."""

    def __init__(self, names: Sequence[str], settings: dict):
        self.stages = {n: make_stage(n, settings) for n in names}
        self.settings = settings
        self.pixels = all(getattr(st, "pixels", False) for st in self.stages.values())
        self.decodes = 0  # files decoded by this group: one per asset, whatever the number of pixel stages

    def run(self, items: Sequence[tuple[AssetView, tuple[str, ...]]]) -> list[tuple[str, _Done]]:
        """Results ``(stage name, _Done)`` for each asset and each of its due stages."""
        catalog_dir = self.settings.get("catalog_dir")
        if not self.pixels:
            (name, stage), = self.stages.items()
            return [(name, d) for d in _run_batch_in(stage, [view for view, _ in items], catalog_dir)]
        out: list[tuple[str, _Done]] = []
        pending: dict[str, list[tuple[AssetView, Any, float]]] = {}  # batched stages: inputs taken from each decode
        for view, due in items:
            check_stop()  # run in the writer's process: a Ctrl-C drops this batch between assets
            start = time.perf_counter()
            self.decodes += 1
            try:
                decoded = decode(view.path, view.file_type, view.media_kind,
                                 int(self.settings["decode_max_edge_px"]), int(self.settings["max_image_pixels"]))
                failure = None
            except DecodeFailure as exc:
                decoded, failure = None, str(exc)
            except OSError as exc:
                if (transient := run_error(exc, catalog_dir)) is not None:
                    raise transient from exc
                decoded, failure = None, error_text("unreadable", exc.strerror or str(exc))
            share = (time.perf_counter() - start) * 1000 / len(due)
            for name in due:
                t = time.perf_counter()
                if decoded is None:
                    result = StageResult("failed", reason=failure)
                elif getattr(self.stages[name], "batched", False):
                    prepared = _guarded_value(lambda: self.stages[name].prepare_pixels(view, decoded), catalog_dir)
                    if not isinstance(prepared, StageResult):
                        pending.setdefault(name, []).append((view, prepared, share + (time.perf_counter() - t) * 1000))
                        continue
                    result = prepared
                else:
                    result = _guarded(lambda: self.stages[name].run_pixels(view, decoded), catalog_dir)
                out.append((name, _Done(view.asset_id, result, share + (time.perf_counter() - t) * 1000)))
            del decoded  # one buffer at a time: memory per worker stays bounded
        for name, batch in pending.items():  # one model call per batch (PixelStage.finish_batch)
            t = time.perf_counter()
            results = _guarded_value(lambda: self.stages[name].finish_batch([(v, p) for v, p, _ in batch]), catalog_dir)
            ms = (time.perf_counter() - t) * 1000 / len(batch)
            for i, (view, _, before_ms) in enumerate(batch):
                result = results if isinstance(results, StageResult) else results[i]
                out.append((name, _Done(view.asset_id, result, before_ms + ms)))
        return out

    def close(self) -> None:
        for stage in self.stages.values():
            stage.close()


def _guarded(fn, catalog_dir: str | None = None) -> StageResult:
    """Run one stage call; a bug becomes this asset's ``internal_error`` record, never the run's end.
    A missing tool (``MediaError``) or the machine's state (``RunError``: disk full, out of memory,
    catalog folder gone, see ``lumina.errors.run_error``) is not the asset's fault: it ends the run
    and nothing is recorded for the asset."""
    return _guarded_value(fn, catalog_dir)


def _guarded_value(fn, catalog_dir: str | None = None) -> Any:
    """``fn()``, or the ``internal_error`` ``StageResult`` of the bug it raised (see ``_guarded``)."""
    try:
        return fn()
    except MediaError:
        raise
    except Exception as exc:  # noqa: BLE001 - recorded with its type and place, see ERROR_KINDS
        if (transient := run_error(exc, catalog_dir)) is not None:
            raise transient from exc
        tb = traceback.extract_tb(exc.__traceback__)[-1]
        return StageResult("failed", reason=error_text(
            "internal_error", f"{type(exc).__name__}: {exc} ({os.path.basename(tb.filename)}:{tb.lineno})"))


def _run_batch_in(stage: Stage, views: Sequence[AssetView], catalog_dir: str | None = None) -> list[_Done]:
    start = time.perf_counter()
    try:
        results = stage.run_batch(views)
        ms = (time.perf_counter() - start) * 1000 / max(1, len(views))
        return [_Done(v.asset_id, r, ms) for v, r in zip(views, results)]
    except MediaError:
        raise
    except Exception as exc:  # a bug on one asset must not end the run: retry one by one, record the failure
        if (transient := run_error(exc, catalog_dir)) is not None:
            raise transient from exc
        out = []
        for v in views:
            t = time.perf_counter()
            r = _guarded(lambda: stage.run_batch([v])[0], catalog_dir)
            out.append(_Done(v.asset_id, r, (time.perf_counter() - t) * 1000))
        return out


def write_results(session, stage: Stage, views: dict[str, AssetView], done: Sequence[_Done]) -> None:
    """Write one stage's values and stage records, each table in bulk upserts (the caller commits:
    the single writer). Re-writing the same batch changes nothing (idempotent)."""
    finished = now()
    if stage.table is not None:
        rows: dict[tuple, list[dict]] = {}  # one statement per set of columns (a failed result may carry fewer)
        for d in done:
            if d.result.values:
                row = {"asset_id": d.asset_id, **d.result.values}
                rows.setdefault(tuple(row), []).append(row)
        for group in rows.values():
            upsert(session, stage.table, group)
    upsert(session, StageRecord, [dict(asset_id=d.asset_id, stage=stage.name, version=stage.version,
                                       params_hash=stage.params_hash(views[d.asset_id]), status=d.result.status,
                                       error=d.result.reason, duration_ms=d.duration_ms, finished_at=finished)
                                  for d in done])


class Reporter:
    """What a job learns from the runner (``lumina.pipeline.jobs.JobReporter``); this base ignores it.

    ``batch`` is called with the writer's session before each batch commits, so a job's counts and
    failures are committed in the same transaction as the results; ``check`` after each commit
    raises ``JobCancelled`` when the job was cancelled.
    """

    def planned(self, session, stage: str, count: int) -> None:
        """``count`` units of ``stage`` are due."""

    def batch(self, session, stage: str, views: dict[str, AssetView], done: Sequence[_Done]) -> None:
        """One batch of ``stage`` results is about to be committed."""

    def check(self, session) -> None:
        """Between batches: raise to stop the run."""


def run_group(catalog: Catalog, names: Sequence[str], force: Force = False, retry_failed: bool = False,
              progress: Progress | None = None, reporter: Reporter | None = None,
              views: dict[str, AssetView] | None = None, due: dict[str, int] | None = None) -> dict[str, dict[str, int]]:
    """Run stages that execute together (see ``StageGroup``) on every asset that needs any of them,
    in worker processes or on a Dask cluster (``lumina.pipeline.executors``), committing each
    batch with this process as the one writer.

    ``views``: ``asset_views()`` when the caller has them already (one query per run, not per group).
    ``due``: filled with the number of assets planned per stage.

    Returns:
        ``{stage: {"ok": n, "failed": n, "skipped": n}}``.
    """
    reporter = reporter or Reporter()
    group = StageGroup(names, catalog.settings)
    counts = {n: {"ok": 0, "failed": 0, "skipped": 0} for n in names}
    label = "+".join(names)
    job_id, me = getattr(reporter, "job_id", None), getattr(reporter, "worker", None)
    leases.reset_group(catalog, job_id, label)  # a new owner of a job re-plans from the records
    with catalog.session() as s:
        views = asset_views(s) if views is None else views
        due_by_stage = {n: set(plan(s, st, views, force, retry_failed)) for n, st in group.stages.items()}
        order = [a for a in views if any(a in d for d in due_by_stage.values())]
        for n, assets in due_by_stage.items():
            reporter.planned(s, n, len(assets))
            if due is not None:
                due[n] = len(assets)
        s.commit()
    if not order:
        return counts
    for stage in group.stages.values():
        stage.preflight()
    size = min(st.batch_size for st in group.stages.values())
    batches = [[[a, [n for n in names if a in due_by_stage[n]]] for a in order[i:i + size]]
               for i in range(0, len(order), size)]
    claims = leases.BatchClaims(catalog, me, job_id, label, batches)
    return run_batches(catalog, group, claims, reporter, progress, views, counts, len(order))


def run_batches(catalog: Catalog, group: StageGroup, claims: leases.BatchClaims, reporter: Reporter,
                progress: Progress | None = None, views: dict[str, AssetView] | None = None,
                counts: dict[str, dict[str, int]] | None = None, total: int = 0) -> dict[str, dict[str, int]]:
    """Run the batches ``claims`` hands out (the planning worker's, or those a helping worker
    claims: ``lumina.pipeline.leases``), committing each batch's results, the job's counts and the
    batch's ``done`` mark in one transaction. Returns ``{stage: {"ok", "failed", "skipped"}}``."""
    names = list(group.stages)
    counts = counts or {n: {"ok": 0, "failed": 0, "skipped": 0} for n in names}
    views = {} if views is None else views
    label = "+".join(names)
    requires = tuple(dict.fromkeys(r for st in group.stages.values() for r in st.requires))
    parallel = all(st.parallel for st in group.stages.values())
    executor = make_executor(catalog.settings, claims.count()) if parallel else None
    done_n = 0
    with catalog.session() as s:
        def items(batch: leases.Items) -> list[tuple[AssetView, tuple[str, ...]]]:
            missing = [a for a, _ in batch if a not in views]
            if missing:  # a helping worker reads only its batch's assets
                views.update(asset_views(s, missing))
            due = {a: tuple(stages) for a, stages in batch if a in views}  # a file gone since: left to a rescan
            with_inputs = _with_inputs(s, requires, [views[a] for a in due])
            return [(v, due[v.asset_id]) for v in with_inputs]

        def handle(results: list[tuple[str, _Done]]) -> None:
            nonlocal done_n
            if not claims.settle(s, list(dict.fromkeys(d.asset_id for _, d in results))):
                s.rollback()  # the batch was taken over: its new worker writes it
                return
            for name, stage in group.stages.items():
                mine = [d for n, d in results if n == name]
                write_results(s, stage, views, mine)
                reporter.batch(s, name, views, mine)
                for d in mine:
                    counts[name][d.result.status] += 1
            s.commit()
            reporter.check(s)
            check_stop()  # after the commit: the batch being written is kept whole
            done_n += len({d.asset_id for _, d in results})
            if progress:
                progress(label, done_n, total or done_n)

        if progress:
            progress(label, 0, total)
        try:
            with executor or ThreadExecutor(group) as ex:
                while True:
                    for results in ex.run(names, catalog.settings, (items(b) for b in claims)):
                        handle(results)
                    if claims.finished():  # other workers' last batches are done
                        break
        finally:
            group.close()
    return counts


def stage_groups(names: Sequence[str]) -> list[list[str]]:
    """Implemented stages in dependency order, the pixel stages merged into one group (one decode)."""
    groups: list[list[str]] = []
    pixel_group: list[str] | None = None
    for name in names:
        if getattr(STAGES[name], "pixels", False):
            if pixel_group is None:
                pixel_group = []
                groups.append(pixel_group)
            pixel_group.append(name)
        else:
            groups.append([name])
    return groups


def run_pipeline(catalog: Catalog, stages: Sequence[str] | None = None, force: Force = False,
                 retry_failed: bool = False, progress: Progress | None = None,
                 reporter: Reporter | None = None) -> dict[str, dict[str, int]]:
    """Run the implemented stages (all, or ``stages`` and their prerequisites) in dependency order:
    per-asset stages first (the pixel stages together, one decode), then the catalog-wide ones.
    What is up to date is skipped (see the module docstring), so a second run does nothing. A run
    that finds nothing due leaves a plan mark; while nothing the planner reads changes (and without
    ``force`` or ``retry_failed``), the next run of the same stages with the same settings returns at
    once without planning (``lumina.pipeline.watermark``).

    Raises:
        StageError: unknown stage. CatalogError: another writer holds the catalog.
        JobCancelled: the reporter's job was cancelled (between batches; committed work stays).
    """
    out: dict[str, dict[str, Any]] = {}
    order = topological_order(stages)
    reporter = reporter or Reporter()
    groups = stage_groups([n for n in order if n in STAGES])
    wide = [n for n in order if n in CATALOG_STAGES]
    with catalog.writer():
        fp = watermark.fingerprint(catalog.settings, order)
        with catalog.session() as s:
            if not force and not retry_failed and watermark.unchanged(s, order, fp):
                for name in order:  # nothing the planner reads changed since it last found nothing due
                    reporter.planned(s, name, 0)
                    out[name] = {"ok": 0, "failed": 0, "skipped": 0}
                s.commit()
                job_id = getattr(reporter, "job_id", None)
                for names in groups:
                    leases.reset_group(catalog, job_id, "+".join(names))
                return out
            before = watermark.log_state(s)
            views = asset_views(s)  # per-asset stages never add or remove files: one read serves every group
        due: dict[str, int] = {}
        for names in groups:
            out.update(run_group(catalog, names, force, retry_failed, progress, reporter, views, due))
        for name in wide:
            check_stop()
            with catalog.session() as s:
                gen_started = CATALOG_STAGES[name].generation_started(s)
                due[name] = int(forced(force, gen_started) or CATALOG_STAGES[name].is_stale(s, catalog.settings))
                reporter.planned(s, name, due[name])
                s.commit()
            if not due[name]:
                out[name] = {"ok": 0, "failed": 0, "skipped": 0}
                continue
            CATALOG_STAGES[name].run(catalog, force=True)  # under its advisory lock (leases.catalog_wide)
            out[name] = {"ok": 1, "failed": 0, "skipped": 0}  # one catalog-wide run
            with catalog.session() as s:
                reporter.batch(s, name, {}, [_Done("", StageResult("ok"), 0.0)])
                s.commit()
                reporter.check(s)
        if not any(due.values()):  # a run with force or retry_failed plans the same way: its mark holds too
            with catalog.session() as s:
                watermark.record(s, order, fp, before)
    return out
