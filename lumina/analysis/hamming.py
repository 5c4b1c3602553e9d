"""All pairs of 64-bit hashes within a Hamming radius, without an all-pairs loop.

Generalized pigeonhole search (J. Qin, C. Xiao, Y. Wang, W. Wang, X. Lin, Y. Ishikawa, G. Wang,
"Generalizing the Pigeonhole Principle for Similarity Search in Hamming Space", IEEE TKDE 2019/
arXiv 2018), which extends multi-index hashing (M. Norouzi, A. Punjani, D. Fleet, CVPR 2012):
the 64 bits are cut into m chunks and every chunk gets a flip threshold t_c, with
sum(t_c) = radius - m + 1 (t_c = -1: the chunk is never probed). Two hashes within the radius
differ in at most t_c bits in at least one chunk c, so probing, for every hash, its chunk value
with every flip mask of at most t_c bits in buckets of equal chunk values finds every pair.
Candidates are verified on all 64 bits. Exact: recall 1.0 by construction.

The inner loop is compiled with numba and runs in parallel over blocks of hashes. Each chunk's
buckets are contiguous runs of the hashes sorted by that chunk, and hashes are visited in that
order, so the probes of neighbouring hashes fall on the same cache lines. A pair is reported only
from its lower chunk value and only by the first chunk within its threshold, so never twice.
"""

from __future__ import annotations

from itertools import combinations
from math import comb

import numba
import numpy as np

MAX_CHUNK_BITS = 24  # largest bucket table: 2^24 + 1 int64 offsets = 128 MiB
BLOCK = 4096  # hashes per parallel task
# a bucket probe (a random read of the offsets) costs as much as ~5 verified candidates (a sequential
# read): fitted on benchmarks/bench_duplicates.py at 1M hashes, radius 10 (3 chunks 14.1 s, 4 chunks 6.1 s)
PROBE_COST = 5


def flip_masks(bits: int, max_flips: int) -> np.ndarray:
    """Every ``bits``-bit mask with at most ``max_flips`` ones (none when ``max_flips`` < 0), as int64."""
    masks = [sum(1 << b for b in combo) for k in range(max_flips + 1) for combo in combinations(range(bits), k)]
    return np.array(masks, dtype=np.int64)


def popcount64(x: np.ndarray) -> np.ndarray:
    """Bits set in each uint64."""
    return np.bitwise_count(x.view(np.uint64)).astype(np.int8)


def plan(n: int, radius: int) -> list[tuple[int, int, int]]:
    """Chunks ``(shift, bits, max_flips)`` covering the 64 bits, for ``n`` hashes and a radius.

    The chunk count m (3..16, so that bucket tables stay within ``MAX_CHUNK_BITS``) minimises the
    expected work on uniform hashes: probes (half of the flip masks, see ``_search_chunk``), each
    costing ``PROBE_COST`` candidates, plus candidates (probes times the mean bucket size
    n / 2^bits). Thresholds sum to radius - m + 1 and go to the widest chunks first. For radius 10
    and 1M hashes this gives 4 chunks of 16 bits with thresholds (2, 2, 2, 1).
    """
    best: tuple[float, list] = (float("inf"), [])
    for m in range(-(-64 // MAX_CHUNK_BITS), 17):
        widths = [64 // m + (c < 64 % m) for c in range(m)]
        spare = radius - m + 1
        flips = [spare // m + (c < spare % m) for c in range(m)]  # floor division: -1 when spare < 0
        cost = 0.0
        for bits, t in zip(widths, flips):
            masks = sum(comb(bits, k) for k in range(t + 1))
            cost += n * masks / 2 * (PROBE_COST + n / 2 ** bits)
        if cost < best[0]:
            shifts = np.cumsum([0] + widths[:-1]).tolist()
            best = (cost, list(zip(shifts, widths, flips)))
    return best[1]


@numba.njit(inline="always")
def _popcount(x):
    # SWAR popcount; LLVM turns it into one POPCNT instruction where the CPU has it
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return int((x * np.uint64(0x0101010101010101)) >> np.uint64(56))


@numba.njit(inline="always")
def _first_chunk(x, earlier):
    """Whether the pair whose XOR is x is not within the threshold of an earlier chunk (rows
    (shift, mask, max_flips)), which has found it already."""
    for e in range(earlier.shape[0]):
        if _popcount((x >> np.uint64(earlier[e, 0])) & np.uint64(earlier[e, 1])) <= earlier[e, 2]:
            return False
    return True


def _buckets(codes: np.ndarray, shift: int, bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One chunk's buckets: (chunk values int64 (N,), the order sorting them, bucket offsets int64
    (2^bits + 1,)): the hashes of chunk value v are order[starts[v]:starts[v + 1]]."""
    keys = ((codes >> np.uint64(shift)) & np.uint64((1 << bits) - 1)).astype(np.int64)
    order = np.argsort(keys, kind="stable")
    starts = np.zeros((1 << bits) + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys, minlength=1 << bits), out=starts[1:])
    return keys, order, starts


@numba.njit(inline="always")
def _scan(k, lo, hi, codes, ids, radius, earlier, b, cap, found, out_i, out_j, out_d):
    """Verify hash k against the sorted hashes lo..hi-1; returns the updated pair count."""
    x0 = codes[k]
    for q in range(lo, hi):
        x = x0 ^ codes[q]
        d = _popcount(x)
        if d > radius:
            continue
        if _first_chunk(x, earlier):
            if found < cap:
                at = b * cap + found
                out_i[at], out_j[at], out_d[at] = ids[k], ids[q], d
            found += 1
    return found


@numba.njit(parallel=True, cache=True)
def _search_chunk(keys, codes, ids, starts, masks, by_top, radius, earlier, cap, out_i, out_j, out_d, counts):
    """Pairs first found in one chunk. keys, codes, ids: the hashes sorted by chunk value (int64,
    uint64, int64); starts: int64 (2^bits + 1,) bucket offsets; masks: the non-zero flip masks
    sorted by their top bit, masks[by_top[h]:by_top[h + 1]] those whose top bit is h; earlier:
    int64 (k, 3) rows (shift, mask, max_flips) of the chunks already searched. Block b writes at
    most ``cap`` pairs from ``b * cap`` on and its full count to counts[b]."""
    n = len(keys)
    for b in numba.prange(len(counts)):
        found = 0
        for k in range(b * BLOCK, min(n, (b + 1) * BLOCK)):
            v = keys[k]
            found = _scan(k, k + 1, starts[v + 1], codes, ids, radius, earlier, b, cap, found, out_i, out_j, out_d)
            for h in range(len(by_top) - 1):
                if (v >> h) & 1:  # v ^ mask < v: the pair is probed from its lower chunk value
                    continue
                for m in range(by_top[h], by_top[h + 1]):
                    p = v ^ masks[m]
                    found = _scan(k, starts[p], starts[p + 1], codes, ids, radius, earlier, b, cap, found,
                                  out_i, out_j, out_d)
        counts[b] = found


def pairs_within(codes: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pair (i < j) with ``hamming(codes[i], codes[j]) <= radius``.

    Args:
        codes: uint64 (or int64, reinterpreted) array of shape (N,).
        radius: 0..63 bits.
    Returns:
        (i, j, distance) arrays of equal length, sorted by (i, j); i, j int64, distance int8.
    Raises:
        ValueError: if radius is outside 0..63.
    Source: generalized pigeonhole principle, Qin et al. (see the module docstring).
    """
    if not 0 <= radius <= 63:
        raise ValueError(f"radius must be 0..63 bits, got {radius}")
    codes = np.ascontiguousarray(codes).view(np.uint64)
    n = len(codes)
    found_i, found_j, found_d = [], [], []
    earlier = np.zeros((0, 3), dtype=np.int64)
    blocks = -(-n // BLOCK)
    for shift, bits, flips in plan(n, radius) if n > 1 else []:
        if flips >= 0:
            keys, order, starts = _buckets(codes, shift, bits)
            masks = sorted(flip_masks(bits, flips)[1:].tolist(), key=int.bit_length)
            by_top = np.searchsorted([m.bit_length() - 1 for m in masks], np.arange(bits + 1))
            masks = np.array(masks, dtype=np.int64)
            args = (keys[order], codes[order], order, starts, masks, by_top, radius, earlier)
            cap = 2 * BLOCK  # pairs per block; a block that overflows is searched again with room for all
            counts = np.zeros(blocks, dtype=np.int64)
            out_i, out_j = np.empty(blocks * cap, np.int64), np.empty(blocks * cap, np.int64)
            out_d = np.empty(blocks * cap, np.int8)
            _search_chunk(*args, cap, out_i, out_j, out_d, counts)
            if counts.max() > cap:
                cap = int(counts.max())
                out_i, out_j = np.empty(blocks * cap, np.int64), np.empty(blocks * cap, np.int64)
                out_d = np.empty(blocks * cap, np.int8)
                _search_chunk(*args, cap, out_i, out_j, out_d, counts)
            keep = (np.arange(cap) < counts[:, None]).ravel()
            found_i.append(out_i[keep])
            found_j.append(out_j[keep])
            found_d.append(out_d[keep])
        earlier = np.vstack([earlier, [[shift, (1 << bits) - 1, flips]]])
    if not found_i:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=np.int8)
    i, j, d = np.concatenate(found_i), np.concatenate(found_j), np.concatenate(found_d)
    i, j = np.minimum(i, j), np.maximum(i, j)
    order = np.lexsort((j, i))
    return i[order], j[order], d[order]


@numba.njit(inline="always")
def _offer(row, q, d, best_j, best_d, filled):
    """Insert neighbour q at distance d into row's sorted top list (nearest first, the first found
    of equal distances first); returns the row's new fill count."""
    k = best_j.shape[1]
    n = filled
    if n == k:
        if d >= best_d[row, k - 1]:
            return n
        n = k - 1
    p = n
    while p > 0 and best_d[row, p - 1] > d:
        best_j[row, p], best_d[row, p] = best_j[row, p - 1], best_d[row, p - 1]
        p -= 1
    best_j[row, p], best_d[row, p] = q, d
    return n + 1


@numba.njit(inline="always")
def _scan_nearest(k, lo, hi, codes, ids, radius, earlier, budget, seen, best_j, best_d, filled):
    """Offer the sorted hashes lo..hi-1 within the radius to hash k's top list, examining at most
    ``budget`` - seen of them; returns (seen, filled)."""
    x0, row = codes[k], ids[k]
    for q in range(lo, hi):
        if seen >= budget:
            return seen, filled
        if q == k:
            continue
        seen += 1
        x = x0 ^ codes[q]
        d = _popcount(x)
        if d > radius:
            continue
        if _first_chunk(x, earlier):
            filled = _offer(row, ids[q], d, best_j, best_d, filled)
    return seen, filled


@numba.njit(parallel=True, cache=True)
def _nearest_chunk(keys, codes, ids, starts, masks, radius, earlier, budget, best_j, best_d, fill, capped):
    """One chunk of ``nearest_within``: every hash probes its own bucket and every flip mask (both
    directions, so that each hash sees all its neighbours), examining at most ``budget`` hashes.
    Rows of best_j/best_d/fill/capped are indexed by the hash's original index (ids[k]): each row is
    written by one task only."""
    n = len(keys)
    for b in numba.prange(-(-n // BLOCK)):
        for k in range(b * BLOCK, min(n, (b + 1) * BLOCK)):
            v, row = keys[k], ids[k]
            seen, filled = _scan_nearest(k, starts[v], starts[v + 1], codes, ids, radius, earlier, budget, 0,
                                         best_j, best_d, fill[row])
            for m in range(len(masks)):
                if seen >= budget:
                    break
                p = v ^ masks[m]
                seen, filled = _scan_nearest(k, starts[p], starts[p + 1], codes, ids, radius, earlier, budget, seen,
                                             best_j, best_d, filled)
            fill[row] = filled
            if seen >= budget:
                capped[row] = True


def nearest_within(codes: np.ndarray, radius: int, k: int, budget: int = 4096
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``k`` nearest other hashes within ``radius`` of every hash, with bounded work.

    Same chunked pigeonhole search as ``pairs_within`` (exact: every hash within the radius is
    examined) as long as a hash has at most ``budget`` hashes in the buckets it probes per chunk.
    Past that (a dense cluster: thousands of near-identical photos), it keeps the nearest among the
    first ``budget`` examined and flags the hash in ``capped``: work and memory are O(N·budget) and
    O(N·k) whatever the cluster size, instead of O(N²) pairs. Callers collapse identical hashes first
    (``np.unique``), since this counts each distinct value once.

    Args:
        codes: uint64 (or int64, reinterpreted) array of shape (N,).
        radius: 0..63 bits.
        k: neighbours kept per hash, >= 1.
        budget: hashes examined per hash and chunk, >= k.
    Returns:
        (neighbours int64 (N, k), padded with -1, nearest first, the lower index first among equal
        distances in an uncapped row; distances int8 (N, k), -1 for padding; capped bool (N,)).
    Raises:
        ValueError: if radius is outside 0..63 or k < 1.
    """
    if not 0 <= radius <= 63:
        raise ValueError(f"radius must be 0..63 bits, got {radius}")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    codes = np.ascontiguousarray(codes).view(np.uint64)
    n = len(codes)
    best_j, best_d = np.full((n, k), -1, np.int64), np.full((n, k), -1, np.int8)
    fill, capped = np.zeros(n, np.int64), np.zeros(n, np.bool_)
    earlier = np.zeros((0, 3), dtype=np.int64)
    for shift, bits, flips in plan(n, radius) if n > 1 else []:
        if flips >= 0:
            keys, order, starts = _buckets(codes, shift, bits)
            masks = flip_masks(bits, flips)[1:]
            _nearest_chunk(keys[order], codes[order], order, starts, masks, radius, earlier, max(budget, k),
                           best_j, best_d, fill, capped)
        earlier = np.vstack([earlier, [[shift, (1 << bits) - 1, flips]]])
    return best_j, best_d, capped
