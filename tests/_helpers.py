"""Comparison helpers shared by the tests.

Tolerances scale with the result dtype (docs/math.md §1): float64 results are compared at 1e-13,
float32 at 1e-6 and float16 at the float16 epsilon, each relative to max(1, magnitude), where
the magnitude is the larger of the expected value and the largest finite input (rounding of
``x - max`` grows with |x|).
"""
from __future__ import annotations

import contextlib
import os

import numpy as np
import pytest

import logitcore
from logitcore import _core

SUPPORTED_ISAS = list(_core._supported_isas())
BEST_ISA = SUPPORTED_ISAS[-1]  # what "auto" selects
INITIAL_ISA = _core._isa()  # at import: the best supported, or what LOGITCORE_ISA forced
BLOCK = int(_core._block_size)


def restore_isa() -> None:
    """Back to the ISA active when the test session started (honours LOGITCORE_ISA)."""
    _core._set_isa(INITIAL_ISA)


@contextlib.contextmanager
def forced_isa(name: str):
    """Run the body on ISA `name`, then put back the ISA found (not "auto": a session forced
    to one path by LOGITCORE_ISA stays on it)."""
    found = _core._isa()
    _core._set_isa(name)
    try:
        assert _core._isa() == name
        yield name
    finally:
        _core._set_isa(found)


def set_threads(n: int) -> None:
    """Set the thread count to n, through the default (0) when that gives n, so that a count
    found at the OpenMP default is restored as the default."""
    logitcore.set_num_threads(0)
    if logitcore.get_num_threads() != n:
        logitcore.set_num_threads(n)


def optional_import(name: str):
    """Import an optional test dependency, or skip the test when it is missing. Names listed
    in LOGITCORE_TEST_REQUIRE (comma-separated, e.g. "mpmath,torch": set it where CI installs
    them) must import: a missing one is then an error, never a silent skip."""
    required = {s.strip() for s in os.environ.get("LOGITCORE_TEST_REQUIRE", "").split(",") if s.strip()}
    if name in required:
        return __import__(name)
    return pytest.importorskip(name)

TOL = {
    np.dtype(np.float64): 1e-13,
    np.dtype(np.float32): 1e-6,
    np.dtype(np.float16): float(np.finfo(np.float16).eps),
}


def tol_for(dtype) -> float:
    return TOL[np.dtype(dtype)]


# --------------------------------------------------------------------------------------
# comparison helpers


def finite_scale(*arrays) -> float:
    """Largest finite |value| over the arrays (0 when there is none)."""
    m = 0.0
    for a in arrays:
        a = np.asarray(a, dtype=np.float64)
        f = np.abs(a[np.isfinite(a)])
        if f.size:
            m = max(m, float(f.max()))
    return m


def assert_same_kind(got, want, what=""):
    """Same container kind (NumPy scalar vs ndarray), dtype and shape."""
    if isinstance(want, tuple):
        assert isinstance(got, tuple) and len(got) == len(want), f"{what}: {type(got)} vs tuple"
        for i, (g, w) in enumerate(zip(got, want)):
            assert_same_kind(g, w, f"{what}[{i}]")
        return
    assert isinstance(got, (np.ndarray, np.generic)), f"{what}: got {type(got).__name__}"
    assert isinstance(got, np.ndarray) == isinstance(want, np.ndarray), (
        f"{what}: scalar-vs-array mismatch: got {type(got).__name__}, want {type(want).__name__}"
    )
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    assert np.shape(got) == np.shape(want), f"{what}: shape {np.shape(got)} != {np.shape(want)}"


def assert_close(got, want, dtype=None, *, scale=0.0, rel=False, factor=1.0, what=""):
    """Elementwise comparison with dtype-scaled tolerance.

    NaN must match NaN and infinities must match in sign exactly. Finite values must agree
    within tol * max(1, scale, |want|) (``rel=False``: log-domain values) or within
    tol * max(1, scale) * |want| + a few subnormal spacings (``rel=True``: probabilities).
    """
    g = np.asarray(got, dtype=np.float64)
    w = np.asarray(want, dtype=np.float64)
    dtype = np.dtype(dtype if dtype is not None else np.asarray(got).dtype)
    assert g.shape == w.shape, f"{what}: shape {g.shape} != {w.shape}"
    gn, wn = np.isnan(g), np.isnan(w)
    bad = gn != wn
    assert not bad.any(), f"{what}: NaN mismatch at {np.argwhere(bad)[:5].tolist()}: got {g[bad][:5]}, want {w[bad][:5]}"
    for inf in (np.inf, -np.inf):
        bad = (g == inf) != (w == inf)
        assert not bad.any(), (
            f"{what}: {inf} mismatch at {np.argwhere(bad)[:5].tolist()}: got {g[bad][:5]}, want {w[bad][:5]}"
        )
    fin = np.isfinite(w)
    if not fin.any():
        return
    t = tol_for(dtype) * factor
    gf, wf = g[fin], w[fin]
    err = np.abs(gf - wf)
    if rel:
        bound = t * max(1.0, scale) * np.abs(wf) + 4 * float(np.finfo(dtype).smallest_subnormal)
    else:
        bound = t * np.maximum(max(1.0, scale), np.abs(wf))
    bad = err > bound
    if bad.any():
        i = int(np.argmax(err / bound))
        raise AssertionError(
            f"{what}: {int(bad.sum())} values out of tolerance (dtype {dtype}, tol {t:g}, scale {scale:g}); "
            f"worst: got {gf[i]!r}, want {wf[i]!r}, |err| {err[i]:.3g} > bound {bound[i]:.3g}"
        )


def assert_bitwise_equal(a, b, what=""):
    """Identical bits (NaN payloads included) and identical dtype/shape."""
    a = np.asarray(a)
    b = np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape, f"{what}: {a.dtype}{a.shape} vs {b.dtype}{b.shape}"
    av = np.ascontiguousarray(a).view(np.uint8)
    bv = np.ascontiguousarray(b).view(np.uint8)
    if not np.array_equal(av, bv):
        ai = np.ascontiguousarray(a).reshape(-1).view(f"u{a.itemsize}")
        bi = np.ascontiguousarray(b).reshape(-1).view(f"u{b.itemsize}")
        diff = np.flatnonzero(ai != bi)
        raise AssertionError(
            f"{what}: results differ bitwise at flat indices {diff[:5].tolist()} ({diff.size} elements): "
            f"{a.reshape(-1)[diff[:3]]} vs {b.reshape(-1)[diff[:3]]}"
        )


def loss_from_logp(kind: int, param: float, threshold: float, logp: float) -> tuple[float, float]:
    """(loss, gradient weight) of one row from log p_y, straight from the library."""
    opt = _core.LossOptions()
    opt.kind, opt.param, opt.threshold = kind, param, threshold
    return _core._loss_from_logp(opt, logp)
