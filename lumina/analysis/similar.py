"""Nearest neighbours by cosine distance over the catalog's image embeddings.

Index: FAISS ``IndexScalarQuantizer`` with ``QT_fp16`` and inner product (J. Johnson, M. Douze,
H. Jégou, "Billion-scale similarity search with GPUs", 2017; faiss-cpu). The catalog stores
vectors as float16, so the fp16 index holds exactly the stored values: the search is exact (a
flat scan, no training, no recall loss) at half the memory of float32 (100k x 1280 = 256 MB).
Measured in ``benchmarks/bench_embeddings.py`` against an exact numpy scan.
Cosine distance = 1 - inner product of L2-normalised vectors, 0 (same direction) to 2.
"""

from __future__ import annotations

import numpy as np


class VectorIndex:
    """An exact cosine index over one model's vectors.

    Args:
        ids: asset ids, one per row.
        vectors: float16 or float32 (n, d), rows L2-normalised.
        model_id: the model that made every row.
    """

    def __init__(self, ids: list[str], vectors: np.ndarray, model_id: str | None):
        import faiss

        # One query is one flat scan: on a busy 2-core machine OpenMP's threads made it slower, not
        # faster (p50 at 10k vectors 1.4 ms on one thread, 26 ms on two; benchmarks/bench_embeddings.py)
        faiss.omp_set_num_threads(1)
        self.ids, self.model_id = list(ids), model_id
        self.dim = int(vectors.shape[1]) if len(ids) else 0
        self.index = None
        if self.ids:
            self.index = faiss.IndexScalarQuantizer(self.dim, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
            self.index.add(np.ascontiguousarray(vectors, dtype=np.float32))

    def __len__(self) -> int:
        return len(self.ids)

    def search(self, query: np.ndarray, limit: int, exclude: set[str] = frozenset()) -> list[tuple[str, float]]:
        """The ``limit`` nearest rows to ``query`` (float32 (d,)), nearest first, ``exclude`` left out.

        Returns:
            ``[(asset_id, cosine distance rounded to 4 decimals)]``.
        Raises:
            ValueError: a query of another dimension than the index.
        """
        if self.index is None or limit <= 0:
            return []
        if query.shape != (self.dim,):
            raise ValueError(f"query has {query.shape} values, the index {self.dim}")
        k = min(len(self.ids), limit + len(exclude))
        scores, rows = self.index.search(np.asarray(query, dtype=np.float32)[None, :], k)
        out = [(self.ids[r], round(max(0.0, 1.0 - float(s)), 4)) for s, r in zip(scores[0], rows[0])
               if r >= 0 and self.ids[r] not in exclude]
        return out[:limit]
