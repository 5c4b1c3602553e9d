"""Proof that a run of the stages has nothing to do, without planning them.

Planning every stage of a large library (``runner.plan`` per stage, the catalog-wide stages'
staleness checks, ``asset_views``) is most of an unchanged rescan. Its answer depends only on rows
of the tables the planner reads, on the settings and on the stages' code. So when a run of a list
of stages finds nothing due, ``record`` stores a *plan mark* for that list: the fingerprint of the
settings and stage versions, and an emptied change log. Database triggers (migration 0019) add a
``change_log`` row whenever any writer, in any process, inserts, deletes or updates a row of those
tables (``files`` except its ``last_seen_scan``, ``assets``, ``stage_records``, ``user_overrides``,
``catalog_state``, the duplicate and burst generations, ``duplicate_feedback``). The next run with
the same fingerprint, no ``force`` and no ``retry_failed`` skips planning while the change log is
still empty (``unchanged``): the planner would read the same rows and find nothing due again.

Concurrent writers (PostgreSQL): ``record`` deletes exactly the log rows it saw before the run
started, in one transaction with the mark, and gives up (no mark) when any other row appeared or
was committed meanwhile; a write committed after it adds a row, so the mark never outlives a change.
A table rebuilt without its trigger (an SQLite batch migration drops them) disables the skip:
``unchanged`` counts the triggers first.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select

from lumina.catalog.changes import triggers_present
from lumina.catalog.models import ChangeLog, PlanMark

@dataclass(frozen=True)
class LogState:
    """The change log as one run saw it before planning: row count and last id (0 when empty)."""

    changes: int
    last_change_id: int


def log_state(session) -> LogState:
    """The change log's row count and last id (one aggregate query)."""
    n, last = session.execute(select(func.count(), func.max(ChangeLog.id))).one()
    return LogState(int(n), int(last or 0))


def fingerprint(settings: Mapping[str, Any], stages: Sequence[str]) -> str:
    """64 hex chars of SHA-256 over Lumina's version, every setting, and for each of ``stages`` its
    version and parameters (per-asset stages: ``Stage.params()``, which includes model file ids;
    catalog-wide ones: their rule version). Any difference makes an earlier plan mark unusable."""
    from lumina import __version__
    from lumina.stages import CATALOG_STAGES, STAGES, make_stage

    doc: dict[str, Any] = {"lumina": __version__, "settings": dict(settings), "stages": {}}
    for name in stages:
        if name in STAGES:
            stage = make_stage(name, dict(settings))
            doc["stages"][name] = [stage.version, stage.params()]
            stage.close()
        elif name in CATALOG_STAGES:
            doc["stages"][name] = [getattr(CATALOG_STAGES[name]._run_module(), "RULE_VERSION", None)]
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def unchanged(session, stages: Sequence[str], fp: str) -> bool:
    """True when a run of ``stages`` found nothing due with fingerprint ``fp`` and nothing the
    planner reads has changed since (the change log is empty and its triggers exist)."""
    mark = session.get(PlanMark, "+".join(stages))
    if mark is None or mark.fingerprint != fp:
        return False
    return session.scalar(select(ChangeLog.id).limit(1)) is None and triggers_present(session)


def record(session, stages: Sequence[str], fp: str, before: LogState) -> bool:
    """After a run of ``stages`` that found nothing due, having seen the change log as ``before``
    when it started planning: empty the log and keep a plan mark, in one transaction (committed).
    Returns False, and changes nothing, when the log changed while the run planned (another writer):
    the next run plans again."""
    from lumina.pipeline.scan import now

    if log_state(session) != before:
        session.rollback()
        return False
    removed = session.execute(delete(ChangeLog).where(ChangeLog.id <= before.last_change_id)).rowcount
    if removed != before.changes:  # a row committed meanwhile under an older id (PostgreSQL)
        session.rollback()
        return False
    session.execute(delete(PlanMark))  # their log state is gone with the rows: each must plan again once
    session.add(PlanMark(stages="+".join(stages), changes=0, last_change_id=before.last_change_id,
                         fingerprint=fp, recorded_at=now()))
    session.commit()
    return True
