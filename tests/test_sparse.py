"""logitcore.sparse_dot: parity with SciPy's a @ b and with the NumPy reference (CSR and CSC,
a.T @ b, float32/float64, int32/int64 indices, strided b, empty shapes, repeated and unsorted
indices) on every ISA the host supports, bitwise the same for 1 and 2 threads; dtype rules,
out=, and each bad input with its error type and message."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import logitcore as lc
from logitcore import _core
from logitcore import reference as ref

from ._helpers import assert_bitwise_equal, optional_import

sp = optional_import("scipy.sparse")

TOL = {np.dtype(np.float32): 2e-6, np.dtype(np.float64): 1e-14}


def _random(rng, shape, density, fmt, dtype, index=np.int32):
    a = sp.random(*shape, density=density, format=fmt, random_state=rng, dtype=np.float64)
    a.data = (a.data * 4 - 2).astype(dtype)
    a.indices = a.indices.astype(index)
    a.indptr = a.indptr.astype(index)
    return a


def _check(got, a, b, transpose_a, what=""):
    """got against the float64 reference of its CSR arrays, scaled by the sum of |terms|."""
    m = a.T if transpose_a else a
    want = np.asarray(m.astype(np.float64) @ np.asarray(b, dtype=np.float64))
    mag = np.asarray(abs(m.astype(np.float64)) @ np.abs(np.asarray(b, dtype=np.float64)))
    dt = np.dtype(got.dtype)
    nnz_row = np.diff(m.tocsr().indptr)[:, None] + 1
    assert np.all(np.abs(got - want) <= TOL[dt] * nnz_row * (mag + 1e-300)), what


@pytest.mark.parametrize("index", [np.int32, np.int64])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("transpose_a", [False, True])
def test_parity_with_scipy(isa, fmt, dtype, index, transpose_a, restore_threads, rng):
    for shape, k in [((57, 40), 1), ((80, 90), 7), ((120, 64), 33), ((300, 250), 100), ((60, 200), 300)]:
        a = _random(rng, shape, 0.08, fmt, dtype, index)
        assert a.indices.dtype == index
        inner = shape[0] if transpose_a else shape[1]
        b = rng.standard_normal((inner, k)).astype(dtype)
        results = []
        for nt in (1, 2):
            lc.set_num_threads(nt)
            got = lc.sparse_dot(a, b, transpose_a=transpose_a)
            assert got.dtype == dtype and got.shape == ((shape[1] if transpose_a else shape[0]), k)
            results.append(got)
        assert_bitwise_equal(results[0], results[1], f"[{isa}] {fmt} {shape} k={k} threads 1 vs 2")
        _check(results[0], a, b, transpose_a, f"[{isa}] {fmt} {dtype} {shape} k={k}")
        theirs = np.asarray((a.T if transpose_a else a) @ b)
        np.testing.assert_allclose(results[0], theirs, rtol=50 * TOL[np.dtype(dtype)], atol=50 * TOL[np.dtype(dtype)])


def test_bitwise_threads_large(isa, restore_threads, rng):
    """Several panels of b (20000 x 200 float64 is 32 MB) and rows split over 2 threads."""
    a = sp.random(600, 20000, density=0.003, format="csr", random_state=rng)
    b = rng.standard_normal((20000, 200))
    lc.set_num_threads(1)
    one = lc.sparse_dot(a, b)
    lc.set_num_threads(2)
    assert_bitwise_equal(lc.sparse_dot(a, b), one, f"[{isa}] threads 2 vs 1")
    np.testing.assert_allclose(one, ref.csr_matmul(a.indptr, a.indices, a.data, b), rtol=1e-12, atol=1e-12)


def test_isas_agree(rng):
    """AVX2 and AVX-512 both fuse each multiply-add: bitwise the same; scalar within rounding."""
    from ._helpers import SUPPORTED_ISAS, forced_isa

    a = sp.random(200, 300, density=0.05, format="csr", random_state=rng)
    b = rng.standard_normal((300, 45))
    got = {}
    for name in SUPPORTED_ISAS:
        with forced_isa(name):
            got[name] = lc.sparse_dot(a, b)
    if "avx2" in got and "avx512" in got:
        assert_bitwise_equal(got["avx2"], got["avx512"], "avx2 vs avx512")
    for name, v in got.items():
        _check(v, a, b, False, name)


def test_strided_b_and_out(isa, rng):
    a = sp.random(70, 50, density=0.1, format="csr", random_state=rng)
    big = rng.standard_normal((150, 40))
    for b in (big[::3, :17], big[::-3, 5:22], big[:50, ::2], np.asfortranarray(big[:50, :17])):
        want = ref.csr_matmul(a.indptr, a.indices, a.data, b)
        np.testing.assert_allclose(lc.sparse_dot(a, b), want, rtol=1e-13, atol=1e-13)
        out_big = np.full((140, 40), -7.0)
        out = out_big[::2, 3:3 + b.shape[1]]
        assert lc.sparse_dot(a, b, out=out) is out
        np.testing.assert_allclose(out, want, rtol=1e-13, atol=1e-13)
        assert np.all(out_big[1::2] == -7.0) and np.all(out_big[:, :3] == -7.0)
        out_t = np.full((b.shape[1], 70), -7.0).T  # strided columns: computed, then copied in
        assert lc.sparse_dot(a, b, out=out_t) is out_t
        np.testing.assert_allclose(out_t, want, rtol=1e-13, atol=1e-13)


def test_empty_shapes(isa):
    for (m, n), k in [((0, 5), 3), ((4, 0), 3), ((5, 7), 0), ((0, 0), 0), ((3, 4), 1)]:
        a = sp.csr_matrix((m, n))
        b = np.ones((n, k))
        got = lc.sparse_dot(a, b)
        assert got.shape == (m, k) and np.all(got == 0)
        got_t = lc.sparse_dot(a, np.ones((m, k)), transpose_a=True)
        assert got_t.shape == (n, k) and np.all(got_t == 0)


def test_repeated_and_unsorted_indices(isa):
    indptr = np.array([0, 4, 4, 6], dtype=np.int32)
    indices = np.array([3, 1, 3, 0, 2, 2], dtype=np.int32)
    data = np.array([1.0, 2.0, 3.0, 4.0, -1.0, 0.5])
    a = sp.csr_matrix((data, indices, indptr), shape=(3, 4))
    assert not a.has_canonical_format
    b = np.arange(8.0).reshape(4, 2)
    want = np.array([[1 * 6 + 2 * 2 + 3 * 6 + 4 * 0, 1 * 7 + 2 * 3 + 3 * 7 + 4 * 1], [0, 0], [-0.5 * 4, -0.5 * 5]])
    np.testing.assert_array_equal(lc.sparse_dot(a, b), want)
    np.testing.assert_array_equal(lc.sparse_dot(a, b), a @ b)


def test_nan_and_inf_propagate(isa):
    a = sp.csr_matrix((np.array([1.0, np.nan, 2.0]), np.array([0, 1, 1]), np.array([0, 2, 3])), shape=(2, 2))
    got = lc.sparse_dot(a, np.array([[1.0, 2.0], [np.inf, 3.0]]))
    assert np.isnan(got[0]).all() and got[1, 0] == np.inf and got[1, 1] == 6.0


def test_dtype_rules(rng):
    a32 = sp.random(20, 30, density=0.2, format="csr", random_state=rng, dtype=np.float32)
    b32 = rng.standard_normal((30, 5)).astype(np.float32)
    assert lc.sparse_dot(a32, b32).dtype == np.float32
    assert lc.sparse_dot(a32, b32.astype(np.float64)).dtype == np.float64
    assert lc.sparse_dot(a32.astype(np.float64), b32).dtype == np.float64
    assert lc.sparse_dot(a32, np.ones((30, 5), dtype=np.int64)).dtype == np.float64
    ai = a32.copy()
    ai.data = np.arange(1, ai.nnz + 1, dtype=np.int32)
    bi = np.arange(150, dtype=np.int32).reshape(30, 5)
    got = lc.sparse_dot(ai, bi)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, (ai @ bi).astype(np.float64))
    assert lc.sparse_dot(a32, b32.astype(np.float16)).dtype == np.float32  # (SciPy has no float16 sparse)
    # sparse arrays as well as matrices; other formats converted
    np.testing.assert_allclose(lc.sparse_dot(sp.csr_array(a32), b32), a32 @ b32, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(lc.sparse_dot(a32.tocoo(), b32), a32 @ b32, rtol=1e-5, atol=1e-5)


def test_bad_inputs(rng):
    a = sp.random(6, 4, density=0.5, format="csr", random_state=rng)
    b = np.ones((4, 3))
    with pytest.raises(TypeError, match="a must be a scipy.sparse matrix or array, got ndarray"):
        lc.sparse_dot(a.toarray(), b)
    with pytest.raises(ValueError, match=r"a has shape \(6, 4\), b has shape \(5, 3\)"):
        lc.sparse_dot(a, np.ones((5, 3)))
    with pytest.raises(ValueError, match=r"a.T has shape \(4, 6\), b has shape \(4, 3\)"):
        lc.sparse_dot(a, b, transpose_a=True)
    with pytest.raises(ValueError, match="b must be 2-D"):
        lc.sparse_dot(a, np.ones(4))
    with pytest.raises(TypeError, match="complex"):
        lc.sparse_dot(a, b.astype(np.complex128))
    with pytest.raises(ValueError, match=r"out has shape \(6, 2\), expected \(6, 3\)"):
        lc.sparse_dot(a, b, out=np.empty((6, 2)))
    with pytest.raises(ValueError, match="out has dtype float32, expected float64"):
        lc.sparse_dot(a, b, out=np.empty((6, 3), dtype=np.float32))
    out = np.full((6, 3), 5.0)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        lc.sparse_dot(a, b, out=out)
    # a column index out of range (SciPy does not check it when built from arrays)
    bad = sp.csr_matrix((np.ones(3), np.array([0, 7, 1], dtype=np.int32), np.array([0, 2, 3], dtype=np.int32)), shape=(2, 4))
    out = np.full((2, 3), 5.0)
    with pytest.raises(IndexError, match=r"indices\[1\] = 7 \(row 0\) is out of range for 4 columns"):
        lc.sparse_dot(bad, b, out=out)
    assert np.all(out == 5.0)


def test_native_binding_errors():
    ip = np.array([0, 2, 3], dtype=np.int32)
    ix = np.array([0, 1, 1], dtype=np.int32)
    d = np.ones(3)
    b = np.ones((2, 3))
    out = np.full((2, 3), 5.0)
    cases = [
        (TypeError, "indptr: expected an int32 or int64 array", (ip.astype(np.float64), ix, d, 2, b, out)),
        (TypeError, "indices: dtype int64 differs from indptr's int32", (ip, ix.astype(np.int64), d, 2, b, out)),
        (TypeError, "data: expected a float32 or float64 array", (ip, ix, d.astype(np.int32), 2, b, out)),
        (ValueError, "b: dtype differs", (ip, ix, d, 2, b.astype(np.float32), out)),
        (ValueError, "out: array is read-only", (ip, ix, d, 2, b, np.broadcast_to(out, out.shape))),
        (ValueError, "indices: expected a contiguous 1-D array", (ip, np.zeros(6, np.int32)[::2], d, 2, b, out)),
        (ValueError, "indices and data must have the same length", (ip, ix, np.ones(4), 2, b, out)),
        (ValueError, r"indptr\[-1\] = 5 exceeds the 3 entries", (np.array([0, 2, 5], np.int32), ix, d, 2, b, out)),
        (ValueError, r"indptr\[0\] must be 0", (np.array([1, 2, 3], np.int32), ix, d, 2, b, out)),
        (ValueError, r"non-decreasing", (np.array([0, 3, 2], np.int32), ix, d, 2, b, out)),
        (ValueError, "b has 2 rows, a has 3 columns", (ip, ix, d, 3, b, out)),
        (ValueError, "out has shape 2 x 2", (ip, ix, d, 2, b, out[:, :2])),
        (ValueError, "out overlaps b", (ip, ix, d, 2, b, b)),
        (ValueError, "b: columns must be contiguous", (ip, ix, d, 2, np.ones((3, 2)).T, out)),
        (IndexError, r"indices\[2\] = 2 \(row 1\)", (ip, np.array([0, 1, 2], np.int32), d, 2, b, out)),
    ]
    for exc, msg, args in cases:
        with pytest.raises(exc, match=msg):
            _core._csr_matmul(*args)
        assert np.all(out == 5.0), msg


def test_import_does_not_import_scipy():
    code = "import sys, logitcore; assert 'scipy' not in sys.modules, 'scipy imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
