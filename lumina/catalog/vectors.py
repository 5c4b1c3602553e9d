"""Vector storage behind one interface: the catalog's embedding vectors as one matrix.

On SQLite (this module) the vectors are float16 blobs in ``embeddings`` and the search index is
built in memory from them (``lumina.analysis.similar``); a PostgreSQL catalog can answer the same
two calls from pgvector. A matrix only ever holds vectors of one model.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from sqlalchemy import func, select

from lumina.catalog.models import Embedding, FileInstance, StageRecord


def default_model_id(session, column: str = "vector") -> str | None:
    """The model id most vectors in ``column`` (``vector`` or ``clip_vector``) were made with."""
    model = Embedding.model_id if column == "vector" else Embedding.clip_model_id
    counts = Counter(dict(session.execute(select(model, func.count()).where(model.is_not(None)).group_by(model)).all()))
    return counts.most_common(1)[0][0] if counts else None


def vectors_version(session) -> tuple:
    """Changes whenever an embedding is added or replaced (count, latest stage record time)."""
    return tuple(session.execute(select(func.count(), func.max(StageRecord.finished_at))
                                 .where(StageRecord.stage == "embeddings")).one())


def load_vectors(session, model_id: str, column: str = "vector") -> tuple[list[str], np.ndarray]:
    """Asset ids and their vectors made by ``model_id``, for assets with a present file.

    Returns:
        (ids, float16 matrix (len(ids), d), rows L2-normalised as stored).
    """
    blob = getattr(Embedding, column)
    model = Embedding.model_id if column == "vector" else Embedding.clip_model_id
    present = select(FileInstance.asset_id).where(FileInstance.status == "present")
    rows = session.execute(select(Embedding.asset_id, blob).where(model == model_id, blob.is_not(None),
                                                                  Embedding.asset_id.in_(present))
                           .order_by(Embedding.asset_id)).all()
    if not rows:
        return [], np.zeros((0, 0), dtype=np.float16)
    return [r[0] for r in rows], np.stack([np.frombuffer(r[1], dtype="<f2") for r in rows])


def asset_vector(session, asset_id: str, column: str = "vector") -> tuple[str, np.ndarray] | None:
    """(model id, float32 vector) of one asset, or None when it has none."""
    row = session.get(Embedding, asset_id)
    if row is None or getattr(row, column) is None:
        return None
    model = row.model_id if column == "vector" else row.clip_model_id
    return model, np.frombuffer(getattr(row, column), dtype="<f2").astype(np.float32)
