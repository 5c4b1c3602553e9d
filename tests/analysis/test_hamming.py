"""The Hamming-radius pair search: exact against brute force, at every chunk plan it picks."""

import numpy as np
import pytest

from lumina.analysis.hamming import flip_masks, pairs_within, plan, popcount64


pytestmark = pytest.mark.no_catalog  # pure functions and media I/O: the backend changes nothing


def brute_force(codes: np.ndarray, radius: int) -> list[tuple[int, int]]:
    bi, bj = np.triu_indices(len(codes), 1)
    near = popcount64(codes[bi] ^ codes[bj]) <= radius
    return list(zip(bi[near].tolist(), bj[near].tolist()))


@pytest.mark.parametrize("radius", [0, 1, 3, 7, 10, 16, 24, 32])
def test_pairs_match_brute_force(radius):
    rng = np.random.default_rng(radius)
    codes = rng.integers(0, 2 ** 63, size=1500, dtype=np.int64).view(np.uint64)
    flips = rng.integers(0, 64, size=(500, 12)).astype(np.uint64)
    near = codes[:500].copy()
    for k in range(12):  # 0-12 bits from an earlier code
        on = rng.random(500) < 0.5
        near[on] ^= np.uint64(1) << flips[on, k]
    codes[1000:1500] = near
    codes[900:950] = codes[0]  # equal codes
    i, j, d = pairs_within(codes, radius)
    assert list(zip(i.tolist(), j.tolist())) == brute_force(codes, radius)  # sorted by (i, j), each pair once
    assert (d == popcount64(codes[i] ^ codes[j])).all() and d.dtype == np.int8


def test_many_equal_codes_overflow_a_block():
    codes = np.zeros(400, dtype=np.uint64)  # 79,800 pairs from one block: the search runs again with room for all
    codes[200:] = np.uint64(0xFFFF)
    i, j, _ = pairs_within(codes, 3)
    assert len(i) == 2 * 200 * 199 // 2 and list(zip(i.tolist(), j.tolist())) == brute_force(codes, 3)


def test_plans_cover_the_radius():
    for n in (10, 2_000, 100_000, 1_000_000, 10_000_000):
        for radius in (0, 5, 10, 13, 32, 63):
            chunks = plan(n, radius)
            assert sum(bits for _, bits, _ in chunks) == 64 and chunks[0][0] == 0
            assert all(s + b == nxt for (s, b, _), (nxt, _, _) in zip(chunks, chunks[1:]))
            assert sum(t for _, _, t in chunks) == radius - len(chunks) + 1  # generalized pigeonhole
            assert max(bits for _, bits, _ in chunks) <= 24
    assert plan(1_000_000, 10) == [(0, 16, 2), (16, 16, 2), (32, 16, 2), (48, 16, 1)]


def test_edges():
    assert len(flip_masks(16, 2)) == 1 + 16 + 120 and len(flip_masks(8, -1)) == 0
    for codes in (np.zeros(0, np.uint64), np.ones(1, np.uint64)):
        i, j, d = pairs_within(codes, 10)
        assert len(i) == len(j) == len(d) == 0
    signed = np.array([-1, -1, 5], dtype=np.int64)  # int64 is read as the same 64 bits
    assert list(zip(*pairs_within(signed, 0)[:2])) == [(0, 1)]
    for radius in (-1, 64):
        with pytest.raises(ValueError):
            pairs_within(signed, radius)
