"""Ids of duplicate groups and bursts that survive re-runs.

Every run of a catalog-wide stage writes a new generation of rows (``lumina.pipeline.generations``),
so row ids change each time. The id users see is ``stable_id``:

* a new group takes the id of the previous generation's group of the same family with which it
  shares the most members (ties: the older id), one to one, so a group that merely gains or loses
  members keeps its id, and of two groups that merge the one with the larger share keeps its id;
* a group sharing no member with an unclaimed previous group gets a new id from a counter
  (``catalog_state['<kind>.next_id']``) that only grows, so an id never names two different groups;
* previous ids that no group claimed are retired (``retired_ids``) with their last members, so an
  old link is answered with where those members are now (``gone_message``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import func, select

from lumina.catalog.models import CatalogState, RetiredId
from lumina.pipeline.scan import now
from lumina.catalog.writes import upsert

GONE_LISTED = 10  # members named in a "no longer exists" message


def assign(session, kind: str, model: Any, previous: Sequence[tuple[int, str, set[str]]],
           new: Sequence[tuple[str, Sequence[str]]]) -> list[int]:
    """Stable ids for ``new`` groups, and retire the previous ones left over.

    Args:
        kind: ``duplicates`` or ``bursts`` (the id space).
        model: the row class with a ``stable_id`` column (to start the counter on older catalogs).
        previous: (stable id, family, member asset ids) of the previous generation.
        new: (family, member asset ids) of the new generation, in order.
    Returns:
        One stable id per new group, in order.
    """
    owners: dict[str, list[int]] = {}
    for x, (_, family, members) in enumerate(previous):
        for aid in members:
            owners.setdefault(aid, []).append(x)
    overlaps: dict[tuple[int, int], int] = {}
    for y, (family, members) in enumerate(new):
        for aid in set(members):
            for x in owners.get(aid, ()):
                if previous[x][1] == family:
                    overlaps[(x, y)] = overlaps.get((x, y), 0) + 1
    ids: list[int | None] = [None] * len(new)
    claimed: set[int] = set()
    for (x, y), _ in sorted(overlaps.items(), key=lambda kv: (-kv[1], previous[kv[0][0]][0], kv[0][1])):
        if x not in claimed and ids[y] is None:
            ids[y] = previous[x][0]
            claimed.add(x)
    key = f"{kind}.next_id"
    state = session.get(CatalogState, key)
    next_id = state.value if state is not None else 1 + max(
        session.scalar(select(func.max(model.stable_id))) or 0,
        session.scalar(select(func.max(RetiredId.stable_id)).where(RetiredId.kind == kind)) or 0)
    for y, value in enumerate(ids):
        if value is None:
            ids[y], next_id = next_id, next_id + 1
    upsert(session, CatalogState, [dict(key=key, value=next_id)])
    for x, (stable_id, _, members) in enumerate(previous):
        if x not in claimed:
            upsert(session, RetiredId, [dict(kind=kind, stable_id=stable_id, members=sorted(members), retired_at=now())])
    return [int(v) for v in ids]


def gone_message(session, kind: str, what: str, stable_id: int, where_now: Callable[[list[str]], dict[str, int]],
                 paths: Callable[[list[str]], dict[str, list[str]]]) -> str:
    """The 404 text for an id not in the current generation: when it existed, where its members are
    now (``where_now``: asset id -> current stable id of the group or burst holding it)."""
    row = session.get(RetiredId, (kind, stable_id))
    if row is None:
        return f"no {what} {stable_id}"
    now_in = where_now(row.members)
    names = paths(row.members)
    parts = []
    for aid in row.members[:GONE_LISTED]:
        name = (names.get(aid) or [aid[:12]])[0]
        parts.append(f"{name} is now in {what} {now_in[aid]}" if aid in now_in else f"{name} is in no {what}")
    return (f"{what} {stable_id} no longer exists (gone since {row.retired_at:%Y-%m-%d %H:%M} UTC, "
            f"when detection ran again): " + "; ".join(parts)
            + (f"; and {len(row.members) - GONE_LISTED:,} more" if len(row.members) > GONE_LISTED else ""))
