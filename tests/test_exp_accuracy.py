"""Accuracy (docs/math.md §1), on every ISA the host supports: float32 logsumexp within 1e-6
max(1, |lse|) of a float64 evaluation on the same values for rows up to 10^8 long, float64
within 1e-13 max(1, |lse|); and the vector cores one element at a time (exp, exp2, log, log2
of the kernel table: exp_core, exp2_core, log_core, log2_fast), each scanned over its domain
against a more precise reference (float64 for float32, long double for float64) and held to a
largest error just above the one measured (ULP_BOUND): a 0.1 % error in one polynomial
coefficient shows. Exact special values and subnormal results."""
from __future__ import annotations

import math
import struct

import numpy as np
import pytest

import logitcore as lc
from logitcore import _core

from ._helpers import BEST_ISA, SUPPORTED_ISAS, forced_isa, optional_import


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


def test_float32_accuracy_1e7(isa, rng):
    _check_f32(10**7, rng)


def test_float32_accuracy_1e7_two_rows_and_threads(isa, rng, restore_threads):
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
def test_float32_accuracy_1e8(isa, rng):
    _check_f32(10**8, rng)


# --------------------------------------------------------------------------------------
# float64 logsumexp


def test_float64_accuracy_fsum(isa, rng):
    n = 10**6
    rows = {
        "normal": rng.standard_normal(n) * 10,
        "offset": rng.standard_normal(n) + 1e6,
        "near_equal": np.where(np.arange(n) == 5, 0.0, -0.1),
        "spread": rng.uniform(-700, 0, n),
    }
    for name, x in rows.items():
        got = float(lc.logsumexp(x))
        m = float(x.max())
        want = m + math.log(math.fsum(np.exp(x - m)))
        assert abs(got - want) <= 1e-13 * max(1.0, abs(want)), f"[{isa}] {name}: {got!r} vs {want!r}"


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_accuracy_against_mpmath(isa, dtype, rng):
    mpmath = optional_import("mpmath")
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
    bound = ULP_BOUND[("exp", "float32")][name]
    for lo, hi in [(NEG_LO, NEG_HI), (POS_LO, POS_HI)]:
        ulp, worst = exp_max_ulp(lo, hi, 37, name)
        assert ulp <= bound, f"[{name}] {ulp:.4f} ULP at x={worst!r} (bound {bound})"


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
    bound = ULP_BOUND[("exp", "float32")][name]
    for lo, hi in ranges:
        ulp, worst = exp_max_ulp(lo, hi, 1, name)
        assert ulp <= bound, f"[{name}] {ulp:.4f} ULP at x={worst!r} in [{lo:#x}, {hi:#x}] (bound {bound})"


@pytest.mark.slow
@pytest.mark.parametrize("name", SUPPORTED_ISAS)
def test_exp_f32_ulp_exhaustive(name):
    bound = ULP_BOUND[("exp", "float32")][name]
    for lo, hi in [(NEG_LO, NEG_HI), (POS_LO, POS_HI)]:
        ulp, worst = exp_max_ulp(lo, hi, 1, name)
        assert ulp <= bound, f"[{name}] {ulp:.4f} ULP at x={worst!r} (bound {bound})"


def test_exp_max_ulp_measurement_sanity():
    """The ULP scan measures: the C library's expf (scalar path) is within half an ULP near
    0, NaN inputs give NaN (0 error), and overflow to inf counts as exact."""
    ulp, worst = exp_max_ulp(POS_LO, POS_LO + 1000, 1, "scalar")
    assert 0.0 <= ulp <= 0.5 + 1e-9  # the C library's expf is correctly rounded here
    nan_bits = 0x7FC00000
    ulp, _ = exp_max_ulp(nan_bits, nan_bits + 10, 1, BEST_ISA)
    assert ulp == 0.0
    ulp, worst = exp_max_ulp(_bits(np.float32(88.8)), _bits(np.float32(100.0)), 997, BEST_ISA)
    assert ulp == 0.0, worst
    # a reported worst case is reproducible through _exp
    ulp, worst = exp_max_ulp(POS_LO, POS_HI, 4099, BEST_ISA)
    y = _exp([worst], np.float32, BEST_ISA)[0]
    ref = math.exp(float(worst))
    assert abs(float(y) - ref) / float(np.spacing(np.float32(ref))) == pytest.approx(ulp, rel=1e-6, abs=1e-9)


def exp_max_ulp(lo, hi, step, isa):
    """Largest float32 exp error (ulps) over a bit-pattern range, on the named ISA."""
    with forced_isa(isa):
        return _core._exp_max_ulp(lo, hi, step)


# --------------------------------------------------------------------------------------
# special values and subnormals through _core._exp


def _exp(x, dtype, name):
    x = np.asarray(x, dtype=dtype)
    out = np.empty_like(x)
    with forced_isa(name):
        _core._exp(x, out)
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
    assert err.max() <= ULP_BOUND[("exp", "float32")][name], (name, float(err.max()), float(x[np.argmax(err)]))
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
    err = ulp_errors("exp", x, name)  # against long double exp (math.exp itself is off by up to 0.5)
    assert err.max() <= ULP_BOUND[("exp", "float64")][name], (name, float(err.max()), float(x[np.argmax(err)]))


# --------------------------------------------------------------------------------------
# the vector cores one element at a time (exp, exp2, log, log2 of the kernel table), in ULPs
#
# Domains (cpp/include/logitcore/kernels.h): exp2_core for kLow2 <= x < 128 (float32) or 1024
# (float64), 2^kLow2 rounding to 0; log2_fast for finite x >= 0; exp and log on every input.
# The reference is float64 NumPy for float32 results and long double NumPy for float64 ones
# (64-bit significand: its own error is below 1/1000 of a float64 ULP). Errors are in ULPs of
# the result (the subnormal spacing below the normal range); float32 log2_fast forms log2 m
# from a table and a short series whose error is absolute, so its unit is the ULP of
# max(|log2 x|, 1) (entropy normalization uses differences of log2, where absolute error is
# what counts).

ULP_FLOOR = {("log2", "float32"): 1.0}

# Largest error measured (float32: every float of the domain, the `slow` scans; float64: 2e8
# random points over the domain and its worst regions), rounded up a little: a 0.1 % error in
# one polynomial coefficient exceeds these. The scalar path rounds the C library's double
# results (float32: within 0.5 ULP plus the double's own error).
ULP_BOUND = {
    ("exp", "float32"): {"scalar": 0.5 + 1e-6, "avx2": 1.02, "avx512": 1.02},
    ("exp2", "float32"): {"scalar": 0.5 + 1e-6, "avx2": 0.96, "avx512": 0.96},
    ("log", "float32"): {"scalar": 0.5 + 1e-6, "avx2": 1.24, "avx512": 1.24},
    ("log2", "float32"): {"scalar": 0.5 + 1e-6, "avx2": 1.05, "avx512": 1.02},
    ("exp", "float64"): {"scalar": 0.52, "avx2": 2.55, "avx512": 2.55},
    ("exp2", "float64"): {"scalar": 0.52, "avx2": 2.35, "avx512": 2.35},
    ("log", "float64"): {"scalar": 0.53, "avx2": 2.05, "avx512": 2.05},
    ("log2", "float64"): {"scalar": 0.56, "avx2": 3.2, "avx512": 3.2},
}

_NP = {"exp": np.exp, "exp2": np.exp2, "log": np.log, "log2": np.log2}
_F32_TOP = float(np.nextafter(np.float32(128.0), np.float32(0.0)))  # largest x with 2^x finite


def core_fn(fn, x, isa):
    """exp / exp2 / log / log2 from the kernel table of `isa`, over a contiguous vector."""
    out = np.empty_like(x)
    with forced_isa(isa):
        getattr(_core, "_" + fn)(x, out)
    return out


def ulp_errors(fn, x, isa):
    """|core(x) - fn(x)| in ULPs of the dtype of x at the exact result (see ULP_FLOOR)."""
    fi = np.finfo(x.dtype)
    rt = np.float64 if x.dtype == np.float32 else np.longdouble
    y = core_fn(fn, x, isa).astype(rt)
    ref = _NP[fn](x.astype(rt))
    a = np.maximum(np.abs(ref), ULP_FLOOR.get((fn, x.dtype.name), 0.0))
    e = np.frexp(a)[1].astype(np.int64) - 1
    spacing = np.ldexp(np.ones_like(a), (np.maximum(e, fi.minexp) - fi.nmant).astype(np.int32))
    return (np.abs(y - ref) / spacing).astype(np.float64)


def f32_range(lo, hi, step=1):
    """Every `step`-th float32 between lo and hi (both of one sign, ends included), by bit
    pattern: every binade is sampled, not only the large values."""
    a, b = sorted((_bits(np.float32(lo)), _bits(np.float32(hi))))
    return np.arange(a, b + 1, step, dtype=np.uint64).astype(np.uint32).view(np.float32)


# float32 inputs: the whole domain by bit-pattern steps, plus every float of the regions where
# the errors peak (the ends of the reduced argument, the mantissas next to the table's and the
# range split's edges) and of the subnormal results
F32_SCANS = {
    "exp2": [(-0.0, -150.0, 509), (0.0, _F32_TOP, 509), (-0.5, -0.4375, 1), (0.4375, 0.5, 1), (9.5, 10.5, 1),
             (-126.0, -149.5, 3)],
    "log2": [(1e-45, 3.4028235e38, 1021), (0.375, 0.5, 1), (0.5, 2.0, 8), (1e-45, 1e-38, 97)],
    "log": [(1e-45, 3.4028235e38, 1021), (0.625, 0.75, 1), (0.5, 1.0, 4), (1.0, 2.0, 8), (1e-45, 1e-38, 97)],
}


def f64_inputs(fn, rng, k):
    """k float64 inputs: uniform over the domain and dense where the errors peak."""
    q = k // 4
    n = rng.integers(-1000, 1000, q).astype(np.float64)
    if fn == "exp2":
        parts = [rng.uniform(-1022.0, 1023.99, q), n + rng.uniform(-0.5, 0.5, q),
                 n + rng.uniform(0.45, 0.5, q) * rng.choice([-1.0, 1.0], q), rng.uniform(-1074.0, -1022.0, q)]
    elif fn == "exp":
        half = np.log(2.0) / 2
        parts = [rng.uniform(-745.1, 709.78, q), rng.uniform(-1.0, 1.0, q), rng.uniform(-745.1, -708.4, q),
                 np.clip(n * np.log(2.0) + rng.uniform(0.9, 1.0, q) * half * rng.choice([-1.0, 1.0], q), -745, 709)]
    else:
        parts = [rng.integers(1, 0x7FF0000000000000, q, dtype=np.uint64).view(np.float64), rng.uniform(0.5, 2.0, q),
                 1.0 + rng.uniform(-1e-3, 1e-3, q), rng.uniform(0.7, 1.42, q)]
    return np.concatenate(parts)


def _worst(fn, x, isa):
    err = ulp_errors(fn, x, isa)
    i = int(np.argmax(err))
    return float(err[i]), x[i]


@pytest.mark.parametrize("fn", ["exp", "exp2", "log", "log2"])
def test_long_double_reference_against_mpmath(fn, rng):
    """The float64 scans trust NumPy's long double functions: they agree with mpmath (80
    bits) to well under 1/100 of a float64 ULP on the inputs the scans use."""
    mpmath = optional_import("mpmath")
    if np.finfo(np.longdouble).nmant < 63:  # pragma: no cover - platform dependent
        pytest.skip("long double is not the x87 80-bit type here")
    x = f64_inputs(fn, rng, 2000)
    ref = _NP[fn](x.astype(np.longdouble))
    mf = {"exp": mpmath.exp, "exp2": lambda v: mpmath.power(2, v), "log": mpmath.log, "log2": lambda v: mpmath.log(v, 2)}[fn]
    with mpmath.workprec(120):
        worst = 0.0
        for xi, ri in zip(x.tolist(), ref):
            exact = mf(mpmath.mpf(xi))
            spacing = mpmath.mpf(2) ** (max(int(mpmath.floor(mpmath.log(abs(exact), 2))), -1022) - 52)
            worst = max(worst, float(abs(mpmath.mpf(str(ri)) - exact) / spacing))
    assert worst < 0.01, (fn, worst)


@pytest.mark.parametrize("fn", ["exp2", "log2", "log"])
def test_core_ulp_float32(isa, fn):
    bound = ULP_BOUND[(fn, "float32")][isa]
    worst, wx = 0.0, None
    for lo, hi, step in F32_SCANS[fn]:
        e, x = _worst(fn, f32_range(lo, hi, step), isa)
        if e > worst:
            worst, wx = e, x
    assert worst <= bound, f"[{isa}] float32 {fn}: {worst:.4f} ULP at x={wx!r} (bound {bound})"


@pytest.mark.parametrize("fn", ["exp", "exp2", "log2", "log"])
def test_core_ulp_float64(isa, fn, rng):
    bound = ULP_BOUND[(fn, "float64")][isa]
    worst, wx = _worst(fn, f64_inputs(fn, rng, 1_000_000), isa)
    assert worst <= bound, f"[{isa}] float64 {fn}: {worst:.4f} ULP at x={wx!r} (bound {bound})"


@pytest.mark.slow
@pytest.mark.parametrize("fn", ["exp2", "log2", "log"])
def test_core_ulp_float32_exhaustive(isa, fn):
    """Every float32 of the domain."""
    lo, hi = {"exp2": [(-0.0, -150.0), (0.0, _F32_TOP)], "log2": [(1e-45, 3.4028235e38)],
              "log": [(1e-45, 3.4028235e38)]}[fn], None
    bound = ULP_BOUND[(fn, "float32")][isa]
    for a, b in lo:
        first, last = sorted((_bits(np.float32(a)), _bits(np.float32(b))))
        for start in range(first, last + 1, 1 << 24):
            x = np.arange(start, min(last + 1, start + (1 << 24)), dtype=np.uint64).astype(np.uint32).view(np.float32)
            e, wx = _worst(fn, x, isa)
            assert e <= bound, f"[{isa}] float32 {fn}: {e:.4f} ULP at x={wx!r} (bound {bound})"


@pytest.mark.slow
@pytest.mark.parametrize("fn", ["exp", "exp2", "log2", "log"])
def test_core_ulp_float64_many(isa, fn, rng):
    """2e8 float64 inputs."""
    bound = ULP_BOUND[(fn, "float64")][isa]
    for _ in range(200):
        e, wx = _worst(fn, f64_inputs(fn, rng, 1_000_000), isa)
        assert e <= bound, f"[{isa}] float64 {fn}: {e:.4f} ULP at x={wx!r} (bound {bound})"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exp2_core_exact_values(isa, dtype):
    """2^k exact for every integer k with a representable result (normal and subnormal), 1 at
    +-0, 0 at kLow2 (and below the smallest subnormal), +inf at 2^128 / 2^1024."""
    fi = np.finfo(dtype)
    k = np.arange(fi.minexp - fi.nmant, fi.maxexp, dtype=np.float64)
    got = core_fn("exp2", k.astype(dtype), isa)
    np.testing.assert_array_equal(got, np.ldexp(np.ones(k.size, dtype), k.astype(np.int32)), err_msg=f"[{isa}]")
    low2 = -160.0 if dtype == np.float32 else -1100.0  # kLow2 of the SIMD paths
    edge = np.array([0.0, -0.0, low2, fi.minexp - fi.nmant - 2.0, float(fi.maxexp)] * 5, dtype=dtype)
    np.testing.assert_array_equal(core_fn("exp2", edge, isa), np.array([1.0, 1.0, 0.0, 0.0, np.inf] * 5, dtype),
                                  err_msg=f"[{isa}] 2^0, 2^-0, 2^kLow2, below the subnormals, 2^maxexp")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log2_fast_at_zero_and_powers_of_two(isa, dtype):
    """log2 0 is -inf or lies below log2 of the smallest subnormal (the contract); log2 2^k is k
    within the ULP bound."""
    fi = np.finfo(dtype)
    z = core_fn("log2", np.zeros(19, dtype), isa)
    assert np.all(z <= fi.minexp - fi.nmant), z
    k = np.arange(fi.minexp - fi.nmant, fi.maxexp, dtype=np.float64)
    x = np.ldexp(np.ones(k.size, dtype), k.astype(np.int32))
    err = ulp_errors("log2", x, isa)
    assert err.max() <= ULP_BOUND[("log2", np.dtype(dtype).name)][isa], (float(err.max()), x[np.argmax(err)])


@pytest.mark.skipif(not {"avx2", "avx512"} <= set(SUPPORTED_ISAS), reason="needs both SIMD paths on this CPU")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fn", ["exp", "exp2"])
def test_simd_exp_cores_agree_bitwise(fn, dtype, rng):
    """The AVX2 and AVX-512 exp_core / exp2_core share their constants (exp_constants.h) and
    their evaluation order (FMA Horner after the same reduction); only the final scaling by
    2^n differs, and it is exact for normal results. So the two paths agree bitwise wherever
    the result is normal: a change to one path's polynomial shows even where it stays within
    the ULP bound."""
    fi = np.finfo(dtype)
    if fn == "exp2":
        lo, hi = float(fi.minexp) + 1, float(fi.maxexp) - 1
    else:
        lo, hi = (float(fi.minexp) + 1) * math.log(2), (float(fi.maxexp) - 1) * math.log(2)
    if dtype == np.float32:
        x = np.concatenate([f32_range(-0.0, lo, 127), f32_range(0.0, hi, 127)])
    else:
        x = np.concatenate([rng.uniform(lo, hi, 1_000_000), rng.uniform(-1.0, 1.0, 1_000_000)])
    a = core_fn(fn, x, "avx2")
    b = core_fn(fn, x, "avx512")
    diff = np.flatnonzero(a.view(f"u{a.itemsize}") != b.view(f"u{b.itemsize}"))
    assert diff.size == 0, f"{fn} {np.dtype(dtype).name}: {diff.size} results differ, e.g. x={x[diff[0]]!r}: {a[diff[0]]!r} vs {b[diff[0]]!r}"
