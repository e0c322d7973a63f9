"""Accuracy (docs/math.md §1): float32 logsumexp within 1e-6 max(1, |lse|) of a float64 evaluation on
the same values for rows up to 10^8 long, float64 within 1e-13 max(1, |lse|); and the SIMD
exp kernels: float32 within 2 ULP over its whole domain, float64 within 2 ulp of math.exp,
exact special values and subnormal results."""
from __future__ import annotations

import math
import struct

import numpy as np
import pytest

import logitcore as lc
from logitcore import _core

from ._helpers import BEST_ISA, SUPPORTED_ISAS, restore_isa

try:
    import mpmath
except ImportError:  # pragma: no cover
    mpmath = None


def _bits(f: float) -> int:
    return struct.unpack("<I", struct.pack("<f", f))[0]


# float32 exp domain: every float in [-103.97, 88.72283] (finite, non-zero results)
NEG_LO, NEG_HI = 0x80000000, _bits(np.float32(-103.97))  # -0.0 .. -103.97
POS_LO, POS_HI = 0x00000000, 0x42B17217  # 0.0 .. 88.72283 (log FLT_MAX)


def _ref_lse_f64(x: np.ndarray, chunk: int = 10**7) -> float:
    """float64 logsumexp of the values of x (any dtype): exp(x - m) in float64, summed with
    math.fsum over chunk sums (each chunk pairwise-summed in float64: relative error ~1e-16,
    far below the tolerances checked here)."""
    m = float(np.max(x))
    parts = []
    for i in range(0, x.size, chunk):
        parts.append(float(np.sum(np.exp(x[i : i + chunk].astype(np.float64) - m))))
    return m + math.log(math.fsum(parts))


# --------------------------------------------------------------------------------------
# float32 logsumexp over long rows


def _f32_rows(n, rng):
    yield "normal", rng.standard_normal(n, dtype=np.float32)
    near = np.full(n, -0.1, dtype=np.float32)  # sum of n copies of exp(-0.1): naive float32 stalls
    near[n // 3] = 0.0
    yield "near_equal", near
    yield "all_equal_offset", np.full(n, 1234.5, dtype=np.float32)
    spread = rng.uniform(-30, 0, n).astype(np.float32)
    spread[-1] = 5.0
    yield "spread", spread


def _check_f32(n, rng):
    for name, x in _f32_rows(n, rng):
        got = lc.logsumexp(x)
        assert got.dtype == np.float32
        want = _ref_lse_f64(x)
        err = abs(float(got) - want)
        assert err <= 1e-6 * max(1.0, abs(want)), f"{name} n={n}: got {got!r}, want {want!r}, err {err:.3g}"
        if name == "near_equal":
            # witness: naive float32 accumulation misses the bound on this row
            naive = float(x.max()) + math.log(float(np.cumsum(np.exp(x - x.max()), dtype=np.float32)[-1]))
            assert abs(naive - want) > 1e-6 * max(1.0, abs(want))


def test_float32_accuracy_1e7(rng):
    _check_f32(10**7, rng)


def test_float32_accuracy_1e7_two_rows_and_threads(rng, restore_threads):
    n = 10**7
    x = np.empty((2, n), dtype=np.float32)
    x[0] = rng.standard_normal(n, dtype=np.float32) * 3
    x[1] = -0.1
    x[1, 17] = 0.0
    want = [_ref_lse_f64(x[0]), _ref_lse_f64(x[1])]
    for nt in (1, 2):
        lc.set_num_threads(nt)
        got = lc.logsumexp(x, axis=1)
        for i in range(2):
            assert abs(float(got[i]) - want[i]) <= 1e-6 * max(1.0, abs(want[i])), (nt, i, got[i], want[i])
        st = lc.LogSumExpState(2).update(x[:, : n // 2]).update(x[:, n // 2 :])
        for i in range(2):
            assert abs(float(st.result()[i]) - want[i]) <= 1e-6 * max(1.0, abs(want[i]))


@pytest.mark.slow
@pytest.mark.parametrize("isa", SUPPORTED_ISAS)
def test_float32_accuracy_1e8(isa, rng):
    _core._set_isa(isa)
    try:
        _check_f32(10**8, rng)
    finally:
        restore_isa()


# --------------------------------------------------------------------------------------
# float64 logsumexp


@pytest.mark.parametrize("isa_name", SUPPORTED_ISAS)
def test_float64_accuracy_fsum(isa_name, rng):
    n = 10**6
    rows = {
        "normal": rng.standard_normal(n) * 10,
        "offset": rng.standard_normal(n) + 1e6,
        "near_equal": np.where(np.arange(n) == 5, 0.0, -0.1),
        "spread": rng.uniform(-700, 0, n),
    }
    _core._set_isa(isa_name)
    try:
        for name, x in rows.items():
            got = float(lc.logsumexp(x))
            m = float(x.max())
            want = m + math.log(math.fsum(np.exp(x - m)))
            assert abs(got - want) <= 1e-13 * max(1.0, abs(want)), f"[{isa_name}] {name}: {got!r} vs {want!r}"
    finally:
        restore_isa()


@pytest.mark.skipif(mpmath is None, reason="mpmath not installed")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_accuracy_against_mpmath(dtype, rng):
    mpmath.mp.dps = 40
    for n, scale in [(1, 1.0), (7, 100.0), (300, 1.0), (2500, 20.0)]:
        x = (rng.standard_normal(n) * scale).astype(dtype)
        want = mpmath.log(mpmath.fsum(mpmath.exp(mpmath.mpf(float(v))) for v in x))
        got = lc.logsumexp(x)
        tol = (1e-13 if dtype == np.float64 else 1e-6) * max(1.0, abs(float(want)))
        assert abs(mpmath.mpf(float(got)) - want) <= tol, (n, got, want)
        # softmax entries against mpmath too (relative)
        p = lc.softmax(x)
        i = int(np.argmax(x))
        pw = mpmath.exp(mpmath.mpf(float(x[i])) - want)
        assert abs(mpmath.mpf(float(p[i])) - pw) <= (4e-13 if dtype == np.float64 else 4e-6) * pw


# --------------------------------------------------------------------------------------
# float32 SIMD exp, in ULP of the correctly rounded result


@pytest.mark.parametrize("name", SUPPORTED_ISAS)
def test_exp_f32_ulp_strided(name):
    for lo, hi in [(NEG_LO, NEG_HI), (POS_LO, POS_HI)]:
        ulp, worst = _core._exp_max_ulp(lo, hi, 37, name)
        assert ulp <= 2.0, f"[{name}] {ulp:.3f} ULP at x={worst!r}"


@pytest.mark.parametrize("name", SUPPORTED_ISAS)
def test_exp_f32_ulp_dense_edges(name):
    """Every float near the ends of the domain (subnormal results and near-overflow), and
    just beyond them (0 and inf exactly)."""
    ranges = [
        (_bits(np.float32(-87.0)), _bits(np.float32(-110.0))),  # normal -> subnormal -> 0
        (_bits(np.float32(88.0)), _bits(np.float32(89.0))),  # up to overflow -> inf
        (_bits(np.float32(-1e-3)) - 2**16, _bits(np.float32(-1e-3))),
        (0, 2**16),  # tiny positive x
    ]
    for lo, hi in ranges:
        ulp, worst = _core._exp_max_ulp(lo, hi, 1, name)
        assert ulp <= 2.0, f"[{name}] {ulp:.3f} ULP at x={worst!r} in [{lo:#x}, {hi:#x}]"


@pytest.mark.slow
@pytest.mark.parametrize("name", SUPPORTED_ISAS)
def test_exp_f32_ulp_exhaustive(name):
    for lo, hi in [(NEG_LO, NEG_HI), (POS_LO, POS_HI)]:
        ulp, worst = _core._exp_max_ulp(lo, hi, 1, name)
        assert ulp <= 2.0, f"[{name}] {ulp:.3f} ULP at x={worst!r}"


def test_exp_max_ulp_measurement_sanity():
    """The ULP scan measures: the C library's expf (scalar path) is within half an ULP near
    0, NaN inputs give NaN (0 error), and overflow to inf counts as exact."""
    ulp, worst = _core._exp_max_ulp(POS_LO, POS_LO + 1000, 1, "scalar")
    assert 0.0 <= ulp <= 0.5 + 1e-9  # the C library's expf is correctly rounded here
    nan_bits = 0x7FC00000
    ulp, _ = _core._exp_max_ulp(nan_bits, nan_bits + 10, 1, BEST_ISA)
    assert ulp == 0.0
    ulp, worst = _core._exp_max_ulp(_bits(np.float32(88.8)), _bits(np.float32(100.0)), 997, BEST_ISA)
    assert ulp == 0.0, worst
    # a reported worst case is reproducible through _exp
    ulp, worst = _core._exp_max_ulp(POS_LO, POS_HI, 4099, BEST_ISA)
    y = _exp([worst], np.float32, BEST_ISA)[0]
    ref = math.exp(float(worst))
    assert abs(float(y) - ref) / float(np.spacing(np.float32(ref))) == pytest.approx(ulp, rel=1e-6, abs=1e-9)


# --------------------------------------------------------------------------------------
# special values and subnormals through _core._exp


def _exp(x, dtype, name):
    x = np.asarray(x, dtype=dtype)
    out = np.empty_like(x)
    _core._exp(x, out, name)
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", SUPPORTED_ISAS)
def test_exp_special_values(name, dtype):
    big_over = 89.0 if dtype == np.float32 else 710.0
    big_under = -104.0 if dtype == np.float32 else -746.0
    x = [-np.inf, np.inf, np.nan, big_over, big_under, 0.0, -0.0, 1e5, -1e5, 1e-30]
    # pad to more than one vector so both the vector loop and the tail see every value
    xs = np.array(x * 7, dtype=dtype)
    y = _exp(xs, dtype, name)
    for i, v in enumerate(xs):
        yi = y[i]
        if np.isnan(v):
            assert np.isnan(yi), (name, i)
        elif v in (-np.inf, big_under, -1e5):
            assert yi == 0.0, (name, v, yi)
        elif v in (np.inf, big_over, 1e5):
            assert yi == np.inf, (name, v, yi)
        elif v in (0.0, 1e-30):
            assert yi == 1.0, (name, v, yi)


@pytest.mark.parametrize("name", SUPPORTED_ISAS)
def test_exp_f32_subnormal_results(name):
    x = np.linspace(-103.9, -87.4, 50_001).astype(np.float32)
    y = _exp(x, np.float32, name).astype(np.float64)
    ref = np.exp(x.astype(np.float64))
    # error in units of the float32 spacing at the result (2^-149 for subnormals)
    ulp = np.maximum(np.spacing(ref.astype(np.float32)).astype(np.float64), 2.0**-149)
    err = np.abs(y - ref) / ulp
    assert err.max() <= 2.0, (name, float(err.max()), float(x[np.argmax(err)]))
    assert (y[ref < 2.0**-126] < 2.0**-126).all()  # subnormal, not flushed to zero...
    assert (y[ref > 2.0**-149] > 0).all()  # ...and not zero where the result is representable


@pytest.mark.parametrize("name", SUPPORTED_ISAS)
def test_exp_f64_ulp(name, rng):
    x = np.concatenate(
        [
            rng.uniform(-745.0, 709.7, 200_000),
            rng.uniform(-1.0, 1.0, 100_000),
            rng.uniform(-1e-6, 1e-6, 1000),
            np.linspace(-745.1, -708.5, 20_000),  # subnormal results
            np.linspace(700.0, 709.78, 1000),
        ]
    )
    y = _exp(x, np.float64, name)
    ref = np.array([math.exp(v) for v in x])
    ulp = np.maximum(np.spacing(ref), 2.0**-1074)
    err = np.abs(y - ref) / ulp
    assert err.max() <= 2.0, (name, float(err.max()), float(x[np.argmax(err)]))
