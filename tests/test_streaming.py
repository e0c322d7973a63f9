"""LogSumExpState (docs/math.md §1, streaming state): chunking, merging, special values, pickling,
dtypes and errors."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import logitcore as lc
from logitcore import LogSumExpState
from logitcore import reference as ref

from ._helpers import BLOCK, assert_bitwise_equal, assert_close

# every test runs on every ISA the host supports
pytestmark = [pytest.mark.filterwarnings("ignore::RuntimeWarning"), pytest.mark.usefixtures("isa")]

EPS64 = np.finfo(np.float64).eps


def _stream_tol(dtype, want):
    """Chunking changes only the order of the float64 merges (float64 input: a few ulp of
    the result) and, for float32 input, the float32 exp arguments (1e-6 relative)."""
    t = 1e-6 if np.dtype(dtype) == np.float32 else 4 * EPS64
    return t * np.maximum(1.0, np.abs(want))


def _assert_stream_close(got, want, dtype, what=""):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=what)
    fin = np.isfinite(want)
    np.testing.assert_array_equal(got[~fin], want[~fin], err_msg=what)
    err = np.abs(got[fin] - want[fin])
    tol = _stream_tol(dtype, want[fin])
    assert (err <= tol).all(), f"{what}: max err {err.max():.3g}, tol {tol.max():.3g}; got {got[fin]}, want {want[fin]}"


@st.composite
def chunked_rows(draw, dtype):
    rows = draw(st.integers(1, 3))
    n = draw(st.one_of(st.integers(1, 40), st.integers(BLOCK - 3, BLOCK + 3), st.integers(2 * BLOCK, 3 * BLOCK + 5)))
    seed = draw(st.integers(0, 2**32 - 1))
    scale = draw(st.sampled_from([1.0, 10.0, 300.0]))
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((rows, n)) * scale).astype(dtype)
    if draw(st.booleans()):  # ties
        x[:, rng.integers(0, n, size=max(1, n // 4))] = x.max()
    # split points: random, with repeats (empty chunks) and single columns
    k = draw(st.integers(0, 12))
    cuts = sorted(draw(st.lists(st.integers(0, n), min_size=k, max_size=k)))
    if draw(st.booleans()):
        cuts += [c + 1 for c in cuts if c + 1 <= n]  # single-column chunks
        cuts.sort()
    return x, cuts


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@settings(max_examples=60)
@given(data=st.data())
def test_any_chunking_equals_one_call(dtype, data):
    x, cuts = data.draw(chunked_rows(dtype))
    want = lc.logsumexp(x, axis=1)
    s = LogSumExpState(x.shape[0], dtype=dtype)
    for chunk in np.split(x, cuts, axis=1):
        assert s.update(chunk) is s
    got = s.result()
    assert got.dtype == dtype and got.shape == (x.shape[0],)
    _assert_stream_close(got, want, dtype, f"cuts={cuts}")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_one_chunk_and_block_aligned_chunks_are_bitwise_identical(dtype, rng):
    """The library folds a row's fixed blocks left to right; streaming the same blocks as
    chunks performs the same float64 merges, so the bits agree with one logsumexp call."""
    x = (rng.standard_normal((3, 4 * BLOCK + 11)) * 5).astype(dtype)
    want = lc.logsumexp(x, axis=1)
    s = LogSumExpState(3, dtype=dtype).update(x)
    assert_bitwise_equal(s.result(), want, "one chunk")
    s = LogSumExpState(3, dtype=dtype)
    for j in range(0, x.shape[1], BLOCK):
        s.update(x[:, j : j + BLOCK])
    assert_bitwise_equal(s.result(), want, "block-aligned chunks")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@settings(max_examples=40)
@given(seed=st.integers(0, 2**32 - 1), shards=st.integers(1, 12))
def test_merge_order_does_not_matter(dtype, seed, shards):
    rng = np.random.default_rng(seed)
    rows, n = 2, int(rng.integers(1, 3 * BLOCK))
    x = (rng.standard_normal((rows, n)) * rng.choice([1.0, 50.0])).astype(dtype)
    cuts = np.sort(rng.integers(0, n + 1, size=shards - 1))
    states = [LogSumExpState(rows, dtype=dtype).update(c) for c in np.split(x, cuts, axis=1)]
    want = lc.logsumexp(x, axis=1)
    # a random merge tree: repeatedly merge two random states (in a random orientation)
    pool = [s.copy() for s in states]
    while len(pool) > 1:
        i, j = sorted(rng.choice(len(pool), size=2, replace=False))
        b = pool.pop(j)
        a = pool.pop(i)
        pool.append(a.merge(b) if rng.random() < 0.5 else b.merge(a))
    _assert_stream_close(pool[0].result(), want, dtype, "random merge tree")
    # commutativity is exact (one addition of two rescaled sums)
    if len(states) >= 2:
        ab = states[0].copy().merge(states[1])
        ba = states[1].copy().merge(states[0])
        assert_bitwise_equal(ab.max, ba.max)
        assert_bitwise_equal(ab.sumexp, ba.sumexp)


def test_merge_matches_reference_rule(rng):
    m1 = np.array([0.0, 5.0, -np.inf, 3.0, 2.0, -np.inf])
    s1 = np.array([1.0, 2.5, 0.0, 1.0, 4.0, 0.0])
    m2 = np.array([1.0, 5.0, 2.0, -np.inf, -700.0, -np.inf])
    s2 = np.array([3.0, 0.5, 2.0, 0.0, 1.0, 0.0])
    a = LogSumExpState.from_arrays(m1, s1).merge(LogSumExpState.from_arrays(m2, s2))
    wm, ws = ref.merge_states(m1, s1, m2, s2)
    np.testing.assert_array_equal(a.max, wm)
    np.testing.assert_allclose(a.sumexp, ws, rtol=4 * EPS64)


def test_states_match_reference(rng):
    x = rng.standard_normal((4, 3000)) * 20
    s = LogSumExpState(4).update(x)
    wm, ws = ref.lse_state(x)
    np.testing.assert_array_equal(s.max, wm)
    np.testing.assert_allclose(s.sumexp, ws, rtol=1e-13)


def test_from_arrays_round_trip(rng):
    x = rng.standard_normal((5, 100)) * 4
    s = LogSumExpState(5, dtype=np.float32).update(x)
    t = LogSumExpState.from_arrays(s.max, s.sumexp, dtype=np.float32)
    assert_bitwise_equal(t.max, s.max)
    assert_bitwise_equal(t.sumexp, s.sumexp)
    assert_bitwise_equal(t.result(), s.result())
    assert t.dtype == np.float32 and t.rows == 5
    # the arrays are copied: mutating the inputs does not change the state
    m = np.array(s.max)
    t2 = LogSumExpState.from_arrays(m, np.array(s.sumexp))
    m[:] = 0
    assert_bitwise_equal(t2.max, s.max)
    # the exposed views are read-only
    with pytest.raises(ValueError):
        t.max[0] = 1.0
    with pytest.raises(ValueError):
        t.sumexp[0] = 1.0


def test_empty_states():
    e = LogSumExpState(3)
    np.testing.assert_array_equal(e.result(), np.full(3, -np.inf))
    np.testing.assert_array_equal(e.max, np.full(3, -np.inf))
    np.testing.assert_array_equal(e.sumexp, np.zeros(3))
    x = np.array([[1.0, 2.0], [-5.0, 300.0], [0.0, 0.0]])
    full = LogSumExpState(3).update(x)
    # empty merged into full, and full into empty: exactly the full state
    a = full.copy().merge(LogSumExpState(3))
    b = LogSumExpState(3).merge(full)
    for s in (a, b):
        assert_bitwise_equal(s.max, full.max)
        assert_bitwise_equal(s.sumexp, full.sumexp)
    # two empty states stay empty; empty chunks and zero rows are fine
    assert (LogSumExpState(3).merge(LogSumExpState(3)).result() == -np.inf).all()
    assert (LogSumExpState(3).update(np.zeros((3, 0))).result() == -np.inf).all()
    z = LogSumExpState(0).update(np.zeros((0, 5)))
    assert z.result().shape == (0,)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_special_values_propagate_like_logsumexp(dtype):
    inf, nan = np.inf, np.nan
    x = np.array(
        [
            [1.0, inf, 2.0, inf, 0.0, 3.0],
            [-inf, -inf, -inf, -inf, -inf, -inf],
            [1.0, 2.0, nan, 0.0, 1.0, 2.0],
            [-inf, -inf, nan, -inf, -inf, -inf],
            [nan, -inf, -inf, 1.0, 2.0, 3.0],
            [-inf, -inf, -inf, 1.0, -inf, 0.0],
            [inf, nan, 1.0, 1.0, 1.0, 1.0],
        ],
        dtype=dtype,
    )
    want = ref.logsumexp(x, axis=1)
    for cuts in ([], [1], [2, 3], [3], [1, 2, 3, 4, 5], [0, 0, 6]):
        s = LogSumExpState(x.shape[0], dtype=dtype)
        for c in np.split(x, cuts, axis=1):
            s.update(c)
        got = s.result()
        # specials exactly; the finite row to the dtype's accuracy
        np.testing.assert_allclose(got, want.astype(dtype), rtol=1e-6, atol=0, err_msg=f"cuts={cuts}")
        # and the states of separately computed shards merge to the same result
        shards = [LogSumExpState(x.shape[0], dtype=dtype).update(c) for c in np.split(x, cuts, axis=1)]
        m = shards[0]
        for sh in shards[1:]:
            m.merge(sh)
        np.testing.assert_allclose(m.result(), want.astype(dtype), rtol=1e-6, atol=0,
                                   err_msg=f"merged shards, cuts={cuts}")


def test_pickle_round_trip(rng):
    s = LogSumExpState(4, dtype=np.float32).update(rng.standard_normal((4, 10)))
    t = pickle.loads(pickle.dumps(s))
    assert isinstance(t, LogSumExpState) and t.dtype == np.float32 and t.rows == 4
    assert_bitwise_equal(t.max, s.max)
    assert_bitwise_equal(t.sumexp, s.sumexp)
    # the copy is independent and keeps working
    more = rng.standard_normal((4, 7))
    t.update(more)
    s.update(more)
    assert_bitwise_equal(t.result(), s.result())
    for proto in range(2, pickle.HIGHEST_PROTOCOL + 1):
        u = pickle.loads(pickle.dumps(LogSumExpState(2), protocol=proto))
        assert (u.result() == -np.inf).all()


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_result_dtype(dtype, rng):
    s = LogSumExpState(2, dtype=dtype)
    assert s.dtype == dtype
    assert s.result().dtype == dtype
    x = rng.standard_normal((2, 5)).astype(np.float32)
    s.update(x)
    r = s.result()
    assert r.dtype == dtype
    # float32 chunks are computed in float32 whatever the state's result dtype
    assert_close(r, ref.logsumexp(x, axis=1), np.float16 if dtype == np.float16 else np.float32)
    # state kept in float64 whatever the result dtype or chunk dtype
    assert s.max.dtype == np.float64 and s.sumexp.dtype == np.float64
    assert repr(s) == f"LogSumExpState(rows=2, dtype={np.dtype(dtype).name})"


@pytest.mark.parametrize("chunk_dtype", [np.float16, np.int32, np.bool_, np.float32])
def test_chunk_dtypes(chunk_dtype, rng):
    x = rng.integers(-3, 4, size=(2, 9)).astype(chunk_dtype)
    s = LogSumExpState(2).update(x)
    want = lc.logsumexp(x.astype(np.float32 if chunk_dtype in (np.float16, np.float32) else np.float64), axis=1)
    assert_close(s.result(), want, np.float32)
    # a 1-D chunk for a single-row state
    s1 = LogSumExpState(1).update(np.array([1.0, 2.0, 3.0]))
    assert_close(s1.result(), [lc.logsumexp([1.0, 2.0, 3.0])], np.float64)


def test_errors():
    s = LogSumExpState(3)
    with pytest.raises(ValueError, match=r"chunk must have shape \(rows=3, k\), got \(2, 4\)"):
        s.update(np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"chunk must have shape \(rows=3, k\), got \(3,\)"):
        s.update(np.zeros(3))
    with pytest.raises(ValueError, match=r"chunk must have shape \(rows=3, k\), got \(3, 2, 2\)"):
        s.update(np.zeros((3, 2, 2)))
    with pytest.raises(TypeError, match="chunk has complex dtype"):
        s.update(np.zeros((3, 2), complex))
    with pytest.raises(ValueError, match="sumexp must be non-negative"):
        LogSumExpState.from_arrays([0.0, 1.0], [1.0, -0.5])
    with pytest.raises(ValueError, match=r"row 1: max is -inf but sumexp is 2.0 \(must be 0\)"):
        LogSumExpState.from_arrays([0.0, -np.inf], [1.0, 2.0])
    with pytest.raises(ValueError, match="row 0: sumexp is infinite"):
        LogSumExpState.from_arrays([0.0], [np.inf])
    with pytest.raises(ValueError, match=r"1-D arrays of equal length, got shapes \(2,\) and \(3,\)"):
        LogSumExpState.from_arrays([0.0, 1.0], [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match=r"got shapes \(1, 2\) and \(1, 2\)"):
        LogSumExpState.from_arrays([[0.0, 1.0]], [[1.0, 1.0]])
    with pytest.raises(ValueError, match="cannot merge states of 2 and 3 rows"):
        s.merge(LogSumExpState(2))
    for other in (None, 3.0, (np.zeros(3), np.ones(3)), np.zeros(3)):
        with pytest.raises(TypeError, match="can only merge another LogSumExpState, got"):
            s.merge(other)
    # errors leave the state untouched
    assert (s.result() == -np.inf).all()


@pytest.mark.parametrize("nt", [1, 2, 4])
def test_update_thread_count_independent(nt, restore_threads, rng):
    x = (rng.standard_normal((2, 20 * BLOCK + 3)) * 3).astype(np.float32)
    lc.set_num_threads(1)
    want = LogSumExpState(2).update(x)
    lc.set_num_threads(nt)
    got = LogSumExpState(2).update(x)
    assert_bitwise_equal(got.sumexp, want.sumexp)
    assert_bitwise_equal(got.max, want.max)
