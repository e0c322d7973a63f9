"""Special values (docs/math.md §1 and the documented conventions of each function), on every ISA
path, both compute dtypes, and rows short or long enough to cross vector widths and the
block size: NaN anywhere gives NaN; any +inf gives +inf (uniform softmax over the +inf
entries); all -inf gives -inf (softmax 0, log_softmax -inf, entropy 0); weights of both
signs on +inf entries give NaN; zero weights remove entries whatever their value.
"""
from __future__ import annotations

import numpy as np
import pytest

import logitcore as lc
from logitcore import reference as ref

from ._helpers import BLOCK, assert_close

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

DTYPES = [np.float64, np.float32]
LENGTHS = [1, 2, 7, 16, 33, BLOCK + 5]
inf, nan = np.inf, np.nan


def _positions(n):
    return sorted({0, n // 2, n - 1})


def _row(n, fill, dtype, rng):
    if fill == "finite":
        return (rng.standard_normal(n) * 3).astype(dtype)
    if fill == "-inf":
        return np.full(n, -inf, dtype=dtype)
    raise AssertionError(fill)


# --------------------------------------------------------------------------------------
# NaN


@pytest.mark.parametrize("fill", ["finite", "-inf"])
@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_anywhere_gives_nan(isa, dtype, n, fill, rng):
    """A NaN entry makes the whole row NaN, wherever it is and whatever the other entries
    are (finite or -inf): logsumexp, softmax, log_softmax, softmax_entropy, streaming."""
    for pos in _positions(n):
        x = _row(n, fill, dtype, rng)
        x[pos] = nan
        what = f"[{isa}] {np.dtype(dtype)} n={n} other={fill} NaN at {pos}"
        assert np.isnan(lc.logsumexp(x)), f"logsumexp {what}: got {lc.logsumexp(x)}"
        assert np.isnan(lc.logsumexp(x, b=np.ones(n, dtype))), f"weighted logsumexp {what}"
        assert np.isnan(lc.softmax(x)).all(), f"softmax {what}: got {lc.softmax(x)[:4]}"
        assert np.isnan(lc.log_softmax(x)).all(), f"log_softmax {what}: got {lc.log_softmax(x)[:4]}"
        assert np.isnan(lc.softmax_entropy(x)), f"softmax_entropy {what}: got {lc.softmax_entropy(x)}"
        st = lc.LogSumExpState(1).update(x[None, :])
        assert np.isnan(st.result()[0]), f"LogSumExpState {what}: got {st.result()}"


@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_row_in_batch_does_not_leak(isa, dtype, rng):
    x = (rng.standard_normal((4, 40)) * 2).astype(dtype)
    x[1, 5] = nan
    x[2] = -inf
    x[2, 30] = nan
    lse = lc.logsumexp(x, axis=1)
    assert np.isnan(lse[1]) and np.isnan(lse[2]), lse
    assert np.isfinite(lse[[0, 3]]).all()
    assert_close(lse[[0, 3]], ref.logsumexp(x[[0, 3]], axis=1), dtype, scale=10)


# --------------------------------------------------------------------------------------
# +inf


@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_posinf_row(isa, dtype, n, rng):
    x = (rng.standard_normal(n) * 3).astype(dtype)
    pos = _positions(n)
    x[pos] = inf
    if n > 3:
        x[1] = -inf
    k = len(pos)
    assert lc.logsumexp(x) == inf
    assert lc.logsumexp(x, b=np.full(n, 0.5, dtype)) == inf
    p = lc.softmax(x)
    want = np.where(x == inf, 1.0 / k, 0.0)
    assert_close(p, want, dtype, rel=True, what=f"softmax n={n}")
    lp = lc.log_softmax(x)
    assert_close(lp, np.where(x == inf, -np.log(k), -inf), dtype, what=f"log_softmax n={n}")
    assert_close(lc.softmax_entropy(x), np.log(k), dtype, what="softmax_entropy")
    assert lc.LogSumExpState(1).update(x[None]).result()[0] == inf


@pytest.mark.parametrize("dtype", DTYPES)
def test_posinf_with_weights(isa, dtype):
    x = np.array([inf, 1.0, inf, 2.0], dtype=dtype)
    assert np.isnan(lc.logsumexp(x, b=np.array([1, 1, -1, 1], dtype)))  # inf - inf
    assert lc.logsumexp(x, b=np.array([-1, 1, -2, 1], dtype), return_sign=True) == (inf, -1.0)
    assert lc.logsumexp(x, b=np.array([0, 1, 0, 1], dtype)) == pytest.approx(np.logaddexp(1.0, 2.0), rel=1e-6)
    # the +inf entries carry zero weight; what remains is a sum of -inf terms
    r, s = lc.logsumexp(np.array([inf, -inf], dtype), b=np.array([0, -1], dtype), return_sign=True)
    assert (r, s) == (-inf, 0.0), (r, s)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pos", [(5, BLOCK + 3, BLOCK + 9), (BLOCK - 1, BLOCK, 3 * BLOCK - 1), (BLOCK + 2, 1, 7)])
def test_posinf_with_weights_of_both_signs_in_different_blocks(isa, dtype, pos):
    """inf - inf is NaN wherever the infinite terms lie: here one +inf entry of weight -1 and
    two of weight +1 in other blocks (their counts must not simply add up to +1)."""
    x = np.zeros(3 * BLOCK + 5, dtype)
    x[list(pos)] = inf
    b = np.ones(x.size, dtype)
    b[pos[0]] = -1.0
    got = lc.logsumexp(x, b=b)
    assert np.isnan(got), f"[{isa}] +inf at {pos} with weights (-1, 1, 1): {got!r}, expected NaN"
    got = lc.logsumexp(x, b=b, return_sign=True)
    assert np.isnan(got[0]) and np.isnan(got[1]), got


# --------------------------------------------------------------------------------------
# all -inf / no support


@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_all_neginf_row(isa, dtype, n):
    x = np.full(n, -inf, dtype=dtype)
    assert lc.logsumexp(x) == -inf
    assert lc.logsumexp(x, return_sign=True) == (-inf, 0.0)
    np.testing.assert_array_equal(lc.softmax(x), np.zeros(n, dtype))
    np.testing.assert_array_equal(lc.log_softmax(x), np.full(n, -inf, dtype))
    assert lc.softmax_entropy(x) == 0.0
    assert lc.LogSumExpState(1).update(x[None]).result()[0] == -inf


@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_all_neginf_row_weighted(isa, dtype, n):
    """SciPy: logsumexp([-inf, ...], b=[...]) = -inf for any finite weights (the sum of the
    terms b_i * exp(-inf) is 0); a where= mask selecting -inf entries is the same case."""
    x = np.full(n, -inf, dtype=dtype)
    b = np.where(np.arange(n) % 2 == 0, 1.0, -0.5).astype(dtype)
    got = lc.logsumexp(x, b=b)
    assert got == -inf, f"[{isa}] logsumexp(all -inf, b={b[:4]}...) = {got}, expected -inf"
    got = lc.logsumexp(x, b=np.ones(n, dtype), return_sign=True)
    assert got == (-inf, 0.0), f"[{isa}] logsumexp(all -inf, b=1, return_sign=True) = {got}, expected (-inf, 0)"
    got = lc.logsumexp(x, where=np.ones(n, bool))
    assert got == -inf, f"[{isa}] logsumexp(all -inf, where=True) = {got}, expected -inf"
    # -inf entries with weight next to finite entries with zero weight
    y = x.copy()
    y[-1] = 1.0
    bb = np.ones(n, dtype)
    bb[-1] = 0
    if n > 1:
        got = lc.logsumexp(y, b=bb)
        assert got == -inf, f"[{isa}] logsumexp(-inf.., 1.0; b=1.., 0) = {got}, expected -inf"


@pytest.mark.parametrize("dtype", DTYPES)
def test_empty_and_zero_weight_rows(isa, dtype):
    x = np.zeros((3, 0), dtype)
    np.testing.assert_array_equal(lc.logsumexp(x, axis=1), np.full(3, -inf, dtype))
    np.testing.assert_array_equal(lc.softmax_entropy(x, axis=1), np.zeros(3, dtype))
    np.testing.assert_array_equal(lc.entropy(x, axis=1), np.zeros(3, dtype))
    assert lc.softmax(x, axis=1).shape == (3, 0)
    # zero weights remove every entry, NaN and inf included: an empty sum
    y = np.array([[nan, inf, 1.0], [2.0, 3.0, -inf]], dtype)
    got = lc.logsumexp(y, axis=1, b=np.zeros(3, dtype))
    np.testing.assert_array_equal(got, np.full(2, -inf, dtype))


# --------------------------------------------------------------------------------------
# extreme finite values


@pytest.mark.parametrize("dtype", DTYPES)
def test_huge_and_tiny_finite_values(isa, dtype):
    big = np.finfo(dtype).max
    x = np.array([big, big, 0.0, -big], dtype=dtype)
    # log(2) + max: representable (rounds to max), no overflow to inf
    assert lc.logsumexp(x) == pytest.approx(float(big), rel=1e-6)
    assert np.isfinite(lc.logsumexp(x))
    assert_close(lc.softmax(x), [0.5, 0.5, 0.0, 0.0], dtype, rel=True)
    assert_close(lc.softmax_entropy(x), np.log(2), dtype)
    x = np.array([-big, -big], dtype=dtype)
    assert_close(lc.logsumexp(x), float(-big), dtype, scale=float(big))
    assert_close(lc.softmax(x), [0.5, 0.5], dtype, rel=True)
    # spread wider than exp's range: the small entries underflow to exactly 0
    x = np.array([0.0, -1e4, -1e30], dtype=dtype)
    np.testing.assert_array_equal(lc.softmax(x), np.array([1.0, 0.0, 0.0], dtype))
    assert lc.logsumexp(x) == 0.0
    assert lc.softmax_entropy(x) == 0.0
    # subnormal inputs behave like 0
    tiny = np.finfo(dtype).smallest_subnormal
    x = np.array([tiny, -tiny, 0.0], dtype=dtype)
    assert_close(lc.logsumexp(x), np.log(3.0), dtype)


# --------------------------------------------------------------------------------------
# entropy of probability rows


@pytest.mark.parametrize("dtype", DTYPES)
def test_entropy_special_values(isa, dtype):
    p = np.array(
        [
            [0.5, 0.5, 0.0, 0.0],  # 0 log 0 = 0
            [1.0, 0.0, 0.0, 0.0],
            [0.5, -0.1, 0.3, 0.3],  # negative entry: NaN
            [nan, 0.5, 0.5, 0.0],
            [0.0, 0.0, 0.0, 0.0],
            [0.25, 0.25, 0.25, 0.25],
        ],
        dtype=dtype,
    )
    h = lc.entropy(p, axis=1)
    assert h.dtype == dtype
    assert_close(h[[0, 1, 4, 5]], [np.log(2), 0.0, 0.0, np.log(4)], dtype)
    assert np.isnan(h[2]) and np.isnan(h[3])
    assert_close(h, ref.entropy(p, axis=1), dtype)
    # not renormalized: a row summing to 2
    q = np.array([1.0, 1.0], dtype)
    assert lc.entropy(q) == 0.0
    q = np.array([2.0, 0.5], dtype)
    assert_close(lc.entropy(q), -(2 * np.log(2) + 0.5 * np.log(0.5)), dtype)
