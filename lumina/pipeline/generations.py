"""Catalog-wide results (duplicate groups, bursts) written as generations and swapped in atomically.

A run inserts its rows under a new generation with status ``building``; one transaction then marks
it ``complete`` and points ``catalog_state[KEY]`` at it. Until then, and if the run is interrupted,
readers keep seeing the previous generation. Older generations are deleted only after the swap
(the previous one is kept); their rows go with them (``ON DELETE CASCADE``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, select

from lumina.catalog.models import CatalogState, FileInstance, StageRecord
from lumina.pipeline.scan import now
from lumina.catalog.writes import upsert


def current(session, model: Any, key: str) -> Any | None:
    """The generation row ``catalog_state[key]`` points at, or None."""
    state = session.get(CatalogState, key)
    return session.get(model, state.value) if state is not None else None


def is_stale(session, gen: Any | None, rule_version: int, params: dict[str, Any], stages: Sequence[str],
             newer_than: Sequence[Any] = ()) -> bool:
    """True when there is no generation, its rule version or parameters differ, or a record of one of
    ``stages``, a newly seen file or one of the ``newer_than`` timestamps is newer than it, or the
    number of present files changed since."""
    if gen is None or gen.rule_version != rule_version or gen.params != params:
        return True
    # one max per stage: each is the last entry of the (stage, finished_at) index, where a max over
    # several stages at once read every record of them (45 s at 1M assets); likewise first_seen_at
    newest = max((t for t in (session.scalar(select(func.max(StageRecord.finished_at)).where(StageRecord.stage == st))
                              for st in stages) if t is not None), default=None)
    newest_file = session.scalar(select(func.max(FileInstance.first_seen_at)))
    if (gen.stats or {}).get("present_files") != present_files(session):
        return True  # files went missing (or came back): their groups and bursts must follow
    return any(t is not None and t > gen.started_at for t in (newest, newest_file, *newer_than))


def present_files(session) -> int:
    """How many files are present: recorded with each generation, so that a scan that finds files
    gone makes the generation stale."""
    return session.scalar(select(func.count()).select_from(FileInstance).where(FileInstance.status == "present"))


def begin(session, model: Any, rule_version: int, params: dict[str, Any]) -> Any:
    """A new generation with status ``building``, committed so that its id exists."""
    gen = model(status="building", rule_version=rule_version, started_at=now(), params=params, stats={})
    session.add(gen)
    session.commit()
    return gen


def publish(session, model: Any, key: str, gen: Any, stats: dict[str, Any]) -> None:
    """Swap ``gen`` in (one transaction with the rows the session holds), then drop all but it and
    the previous generation."""
    session.flush()
    previous = session.get(CatalogState, key)
    keep = [gen.id] + ([previous.value] if previous is not None else [])
    gen.status, gen.finished_at, gen.stats = "complete", now(), {**stats, "present_files": present_files(session)}
    upsert(session, CatalogState, [dict(key=key, value=gen.id)])
    session.commit()
    session.execute(delete(model).where(model.id.not_in(keep)))
    session.commit()


def state(session, key: str, default: Any) -> Any:
    """A small value from ``catalog_state`` (user choices, ...)."""
    row = session.get(CatalogState, key)
    return row.value if row is not None else default

