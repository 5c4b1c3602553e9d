"""Nearest neighbours by cosine distance over the catalog's image embeddings.

Index: FAISS flat indexes with inner product (J. Johnson, M. Douze, H. Jégou, "Billion-scale
similarity search with GPUs", 2017; faiss-cpu). The catalog stores vectors as float16.

* Below ``SQ8_MIN_VECTORS``: ``IndexScalarQuantizer(QT_fp16)``, which holds exactly the stored
  values: an exact scan at half the memory of float32.
* From ``SQ8_MIN_VECTORS`` on, a scan is bound by memory bandwidth (256 MB per query at 100k x
  1280 in fp16), so candidates come from an 8-bit scalar-quantised copy (a quarter of float32) and
  are re-ranked exactly on the stored float16 vectors: ``RERANK_FACTOR`` x the wanted number of
  candidates, at least ``RERANK_MIN``. Distances are always the exact ones; a true neighbour can be
  missed only when the 8-bit scores leave it out of the candidates (1 query of 150 at 100k random
  vectors, the worst case: their top-10 lie within a hair of each other). Measured interleaved with
  the fp16 scan at 100k: 1.33x faster, for 366 MiB held instead of 244.

Measured in ``benchmarks/bench_embeddings.py`` against an exact numpy scan (latency, agreement).
Cosine distance = 1 - inner product of L2-normalised vectors, 0 (same direction) to 2.
"""

from __future__ import annotations

import numpy as np

SQ8_MIN_VECTORS = 50_000  # below this the fp16 scan fits the caches: 1.4 ms at 10k vectors
RERANK_FACTOR = 4
RERANK_MIN = 64


class VectorIndex:
    """A cosine index over one model's vectors (exact distances; see the module docstring).

    Args:
        ids: asset ids, one per row.
        vectors: float16 or float32 (n, d), rows L2-normalised.
        model_id: the model that made every row.
        sq8_min_vectors: from this many rows on, candidates come from the 8-bit copy.
    """

    def __init__(self, ids: list[str], vectors: np.ndarray, model_id: str | None,
                 sq8_min_vectors: int = SQ8_MIN_VECTORS):
        import faiss

        # One query is one flat scan: on a busy 2-core machine OpenMP's threads made it slower, not
        # faster (p50 at 10k vectors 1.4 ms on one thread, 26 ms on two; benchmarks/bench_embeddings.py)
        faiss.omp_set_num_threads(1)
        self.ids, self.model_id = list(ids), model_id
        self.dim = int(vectors.shape[1]) if len(ids) else 0
        self.index = None
        self.exact: np.ndarray | None = None  # float16 rows for the re-rank of the 8-bit candidates
        if not self.ids:
            return
        x = np.ascontiguousarray(vectors, dtype=np.float32)
        if len(self.ids) >= sq8_min_vectors:
            self.index = faiss.IndexScalarQuantizer(self.dim, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
            self.index.train(x)
            self.exact = np.asarray(vectors, dtype=np.float16)
        else:
            self.index = faiss.IndexScalarQuantizer(self.dim, faiss.ScalarQuantizer.QT_fp16,
                                                    faiss.METRIC_INNER_PRODUCT)
        self.index.add(x)

    def __len__(self) -> int:
        return len(self.ids)

    def vector(self, row: int) -> np.ndarray:
        """The stored vector of ``row`` as float32 (d,)."""
        if self.exact is not None:
            return self.exact[row].astype(np.float32)
        return np.asarray(self.index.reconstruct(row), dtype=np.float32)

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
        q = np.asarray(query, dtype=np.float32)
        k = min(len(self.ids), limit + len(exclude))
        if self.exact is None:
            scores, rows = self.index.search(q[None, :], k)
            scored = zip(scores[0], rows[0])
        else:
            _, cand = self.index.search(q[None, :], min(len(self.ids), max(RERANK_MIN, RERANK_FACTOR * k)))
            cand = cand[0][cand[0] >= 0]
            exact = self.exact[cand].astype(np.float32) @ q
            order = np.argsort(-exact, kind="stable")[:k]
            scored = zip(exact[order], cand[order])
        out = [(self.ids[r], round(max(0.0, 1.0 - float(s)), 4)) for s, r in scored
               if r >= 0 and self.ids[r] not in exclude]
        return out[:limit]
