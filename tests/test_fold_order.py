"""The fixed block-merge order, checked against an oracle (docs/math.md §1, README "reproducibility").

A row of n entries is reduced in blocks of ``_core._block_size`` elements; each block gives a
state (m, s) (its maximum and sum exp(x - m)), and the row's state is the LEFT-TO-RIGHT fold
of the block states with the merge rule of ``merge_state`` (cpp/src/driver.cpp): equal maxima
add their sums; otherwise the side with the smaller maximum is scaled by exp(d), d = m_lo -
m_hi < 0 (by nothing at all when exp(d) underflows to 0). The oracle below re-implements that
rule in Python (math.exp is the same C library exp the driver calls) and folds the states the
library reports for each block on its own. The library's row results must equal the oracle
BITWISE, whatever the thread count and ISA: a different order (say right to left, or a tree)
rounds differently.

The rows are built so that every block's sum is at least 2 (no block, and no row, is
dominated by its maximum); then the reported excess u = s - 1 is exact and s = u + 1 is
recovered exactly from it.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import logitcore as lc
from logitcore import LogSumExpState, _core

from ._helpers import BLOCK, assert_bitwise_equal

THREADS = [1, 2, 3, 4]
NAN = float("nan")


# --------------------------------------------------------------------------------------
# the oracle


def merge(a, b):
    """merge_state of cpp/src/driver.cpp on (m, s) pairs of Python floats."""
    am, as_ = a
    bm, bs = b
    if math.isnan(am):
        return a
    if math.isnan(bm):
        return (NAN, NAN)
    if bm == am:
        return (am, as_ + bs)
    (hm, hs), (lm, ls) = (b, a) if bm > am else (a, b)
    d = lm - hm
    f = math.exp(d)
    s_lo = (NAN if math.isnan(ls) else 0.0) if f == 0 else f * ls
    return (hm, hs + s_lo)


def merge_excess(a, b):
    """The streaming state's merge (merge_excess_arrays) on (m, u = s - 1) pairs."""
    am, au = a
    bm, bu = b
    if math.isnan(am):
        return a
    if math.isnan(bm):
        return (NAN, NAN)
    if am == bm:
        return (am, au + bu + 1.0)
    (hm, hu), (lm, lu) = (b, a) if bm > am else (a, b)
    f = math.exp(lm - hm)
    add = NAN if math.isnan(lu) else (f * (1.0 + lu) if f != 0 else 0.0)
    return (hm, hu + add)


def fold(states, rule=merge, start=(-math.inf, 0.0)):
    st = start
    for s in states:
        st = rule(st, s)
    return st


def states(x):
    """The library's (m, u) state of every row of x (2-d)."""
    m = np.full(x.shape[0], -np.inf)  # the empty state (-inf, -1), updated with x
    u = np.full(x.shape[0], -1.0)
    _core._state_update(m, u, x)
    return m, u


def block_states(x):
    """(m, s) of each block of each row of x, every block evaluated on its own:
    arrays of shape (rows, blocks)."""
    rows, n = x.shape
    nb = -(-n // BLOCK)
    m = np.empty((rows, nb))
    s = np.empty((rows, nb))
    for j in range(nb):
        mj, uj = states(np.ascontiguousarray(x[:, j * BLOCK : (j + 1) * BLOCK]))
        assert np.all(uj >= 1.0), "test data: a block dominated by its maximum (s < 2)"
        m[:, j] = mj
        s[:, j] = uj + 1.0  # exact: u = s - 1 is exact for 1 <= s < 2^53
        assert np.array_equal(s[:, j] - 1.0, uj)
    return m, s


def oracle(x):
    """Row states (m, s) folded left to right from the block states."""
    bm, bs = block_states(x)
    out = [fold(zip(bm[r].tolist(), bs[r].tolist())) for r in range(x.shape[0])]
    return np.array([o[0] for o in out]), np.array([o[1] for o in out])


# --------------------------------------------------------------------------------------
# data


def make_rows(rng, rows, nblocks, tail, dtype):
    """rows x (nblocks * BLOCK + tail) values whose block maxima are all equal (a third of
    the rows: the sums simply add), increase from block to block, or vary at random. Every
    block is spread out enough that sum exp(x - max) >= 8 (no block is dominated)."""
    n = nblocks * BLOCK + tail
    nb = nblocks + (tail > 0)
    x = rng.standard_normal((rows, n)) * rng.uniform(0.3, 1.5, (rows, 1))
    for r in range(rows):
        kind = r % 3
        offs = np.sort(rng.uniform(-3.0, 3.0, nb)) if kind == 1 else rng.uniform(-3.0, 3.0, nb)
        for j in range(nb):
            blk = x[r, j * BLOCK : (j + 1) * BLOCK]
            while np.exp(blk - blk.max()).sum() < 8:
                blk *= 0.5
            blk += offs[j]
        if kind == 0:  # every block's maximum is the row maximum, exactly
            top = x[r].max()
            for j in range(nb):
                blk = x[r, j * BLOCK : (j + 1) * BLOCK]
                i = np.argmax(blk)
                blk += top - blk[i]
                blk[i] = top
    return x.astype(dtype)


# --------------------------------------------------------------------------------------
# tests


def test_merge_oracle_is_the_library_merge(rng):
    """The Python merge_excess is the library's streaming merge, bitwise (including equal,
    -inf and +inf maxima and NaN)."""
    k = 4000
    m1 = rng.standard_normal(k) * 30
    m2 = np.where(rng.random(k) < 0.2, m1, rng.standard_normal(k) * 30)
    m2[:8] = [-np.inf, np.inf, np.nan, m1[3], -np.inf, 1e300, -1e300, m1[7]]
    m1[4] = -np.inf
    u1 = rng.uniform(0, 50, k)
    u2 = rng.uniform(0, 50, k)
    u1[m1 == -np.inf] = -1.0
    u2[m2 == -np.inf] = -1.0
    u2[2] = np.nan
    got_m, got_u = m1.copy(), u1.copy()
    _core._state_merge(got_m, got_u, m2, u2)
    want = [merge_excess((a, b), (c, d)) for a, b, c, d in zip(m1, u1, m2, u2)]
    assert_bitwise_equal(got_m, np.array([w[0] for w in want]), "merged maxima")
    assert_bitwise_equal(got_u, np.array([w[1] for w in want]), "merged excess")


CASES = [
    # (rows, whole blocks, tail): many rows (threads share out rows), and a few long rows
    # (threads share out the blocks of each row)
    pytest.param(240, 5, 777, id="240x(5B+777)"),
    pytest.param(3, 12, 301, id="3x(12B+301)"),
    pytest.param(1, 20, 0, id="1x20B"),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("rows,nblocks,tail", CASES)
def test_row_states_are_the_left_to_right_fold(isa, rows, nblocks, tail, dtype, restore_threads, rng):
    x = make_rows(rng, rows, nblocks, tail, dtype)
    want_m, want_s = oracle(x)
    assert np.all(want_s >= 2.0)
    want_u = want_s - 1.0
    # logsumexp finishes with m + log(s) (or m + log1p(s - 1), the same value in exact
    # arithmetic), rounded to the dtype
    lse_a = (want_m + np.array([math.log(v) for v in want_s])).astype(dtype)
    lse_b = (want_m + np.array([math.log1p(v) for v in want_u])).astype(dtype)
    xf = np.asfortranarray(x)  # strided rows: blocks are gathered first
    for nt in THREADS:
        lc.set_num_threads(nt)
        what = f"[{isa}] {np.dtype(dtype).name} {rows}x{x.shape[1]}, {nt} threads"
        m, u = states(x)
        assert_bitwise_equal(m, want_m, what + ": row maxima")
        assert_bitwise_equal(u, want_u, what + ": row states s - 1 vs the left-to-right fold")
        st = LogSumExpState(rows).update(x)
        assert_bitwise_equal(st.max, want_m, what + ": LogSumExpState.max")
        assert_bitwise_equal(st.excess, want_u, what + ": LogSumExpState.excess")
        for label, arr in (("C order", x), ("Fortran order", xf)):
            got = lc.logsumexp(arr, axis=1)
            ok = (got.view(f"u{got.itemsize}") == lse_a.view(f"u{got.itemsize}")) | (
                got.view(f"u{got.itemsize}") == lse_b.view(f"u{got.itemsize}")
            )
            bad = np.flatnonzero(~ok)
            assert bad.size == 0, (
                f"{what}, {label}: logsumexp of {bad.size} rows is not the fold's m + log s, "
                f"e.g. row {bad[0]}: {got[bad[0]]!r} vs {lse_a[bad[0]]!r}"
            )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_streaming_updates_fold_chunk_states_in_order(isa, dtype, rng):
    """Chunks of a LogSumExpState merge in the order they arrive: each chunk's state is its
    own block fold, and the chunk states fold left to right with the streaming merge."""
    rows = 60
    x = make_rows(rng, rows, 6, 1000, dtype)
    cuts = [0, 2 * BLOCK, 3 * BLOCK, 6 * BLOCK, x.shape[1]]
    st = LogSumExpState(rows)
    chunk_states = []
    for a, b in zip(cuts[:-1], cuts[1:]):
        c = np.ascontiguousarray(x[:, a:b])
        st.update(c)
        m, s = oracle(c)
        chunk_states.append((m, s - 1.0))
    for r in range(rows):
        want = fold([(cm[r], cu[r]) for cm, cu in chunk_states], merge_excess, (-math.inf, -1.0))
        got = (st.max[r], st.excess[r])
        assert_bitwise_equal(np.array(got), np.array(want), f"[{isa}] row {r}: streamed state")


@pytest.mark.parametrize("rows,n", [(50, 5 * BLOCK + 99), (2, 17 * BLOCK + 5)], ids=["rows", "long"])
def test_entropy_sums_block_terms_left_to_right(isa, rows, n, restore_threads, rng):
    """entropy(p) = -(sum of the blocks' sum p log p, added in block order): float64, where
    each block's own entropy is its sum p log p exactly (negated)."""
    p = rng.random((rows, n)) ** 3
    p /= p.sum(axis=1, keepdims=True)
    nb = -(-n // BLOCK)
    parts = np.stack([lc.entropy(np.ascontiguousarray(p[:, j * BLOCK : (j + 1) * BLOCK]), axis=1) for j in range(nb)], 1)
    want = []
    for r in range(rows):
        acc = 0.0
        for v in parts[r].tolist():
            acc += -v
        want.append(0.0 - acc)
    want = np.array(want)
    for nt in THREADS:
        lc.set_num_threads(nt)
        assert_bitwise_equal(lc.entropy(p, axis=1), want, f"[{isa}] entropy, {nt} threads")
