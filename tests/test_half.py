"""Half-precision inputs (docs/math.md §1.5): float16 and bfloat16 arrays are read by the kernels
as they are, each entry widened exactly to float32 as it is loaded, and computed in float32.

The contract tested here is exact: every result on half input is bit for bit the float32
computation on the widened values (per-row results from the library in float32; outputs of the
input's shape that float32 result rounded to nearest even), on every ISA, thread count, length
(every tail 0..70 and block boundaries), stride and special value. Rounding of stores (ties to
even, overflow to inf, NaN kept) and the exact widening of every one of the 65536 bit patterns
(subnormals included) are checked directly.
"""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import logitcore as lc
from logitcore import _core

from ._helpers import BLOCK, optional_import, set_threads

DTYPES = ["float16", "bfloat16"]


def half_dtype(name: str) -> np.dtype:
    if name == "float16":
        return np.dtype(np.float16)
    return np.dtype(optional_import("ml_dtypes").bfloat16)


def bits(a) -> np.ndarray:
    a = np.asarray(a)
    return a.view({2: np.uint16, 4: np.uint32, 8: np.uint64}[a.dtype.itemsize])


def same(a, b) -> bool:
    """Bitwise equality, NaNs of any payload equal (half stores keep NaN a NaN)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    na, nb = np.isnan(a.astype(np.float32)), np.isnan(b.astype(np.float32))
    return bool(np.array_equal(na, nb) and np.array_equal(bits(a)[~na], bits(b)[~nb]))


def logits(rng, shape, dt, scale=4.0):
    return (rng.standard_normal(shape) * scale).astype(dt)


LOSSES = [
    ("gce0", lambda x, t, **k: lc.gamma_cross_entropy(x, t, 0.0, **k)),
    ("gce", lambda x, t, **k: lc.gamma_cross_entropy(x, t, 0.3, threshold=0.1, **k)),
    ("gen", lambda x, t, **k: lc.generalized_cross_entropy(x, t, 0.7, **k)),
    ("focal", lambda x, t, **k: lc.focal_loss(x, t, 2.0, **k)),
]


CORE_LOSSES = [
    (_core.LOSS_GAMMA_CE, 0.0, 0.0),
    (_core.LOSS_GAMMA_CE, 0.3, 0.1),
    (_core.LOSS_GCE, 0.7, 0.0),
    (_core.LOSS_FOCAL, 2.0, 0.0),
]


def core_family(x):
    """Every family result from the private core, per-row results in float32."""
    rows = x.shape[0]
    out = {}
    if x.shape[1]:
        for name, fn in (("lse", lambda o: _core._lse(x, None, o, None)),
                         ("sent", lambda o: _core._softmax_entropy(x, o)),
                         ("ent", lambda o: _core._entropy(np.abs(x), o))):
            o = np.empty(rows, np.float32)
            fn(o)
            out[name] = o
        for log in (False, True):
            y = np.empty_like(x)
            _core._softmax(x, y, log)
            out[f"softmax{int(log)}"] = y
    return out


def check_against_float32(x):
    """x (half): the family and the losses equal float32's on the widened values."""
    xf = x.astype(np.float32)
    got, want = core_family(x), core_family(xf)
    for k in want:
        w = want[k] if want[k].dtype == got[k].dtype else want[k].astype(x.dtype)
        assert same(got[k], w), k
    if x.shape[1]:
        t = np.arange(x.shape[0]) % x.shape[1]
        t[-1] = -100  # an ignored row
        for kind, param, thr in CORE_LOSSES:
            opt = _core.LossOptions(kind, param, thr, -100, _core.REDUCTION_MEAN)
            rl, rlf = np.empty(x.shape[0]), np.empty(x.shape[0])
            g, gf = np.empty_like(x), np.empty_like(xf)
            r, rf = _core._loss(x, t, opt, None, rl, g), _core._loss(xf, t, opt, None, rlf, gf)
            assert same(rl, rlf) and same(np.float64(r), np.float64(rf)), kind  # float64 losses
            assert same(g, gf.astype(x.dtype)), kind  # the gradient: float32's, rounded
        # the public functions: the float64 losses cast once to the dtype
        for name, f in LOSSES:
            lh, gh = f(x, t, reduction="none", return_grad=True)
            lf, gf = f(xf, t, reduction="none", return_grad=True)
            assert lh.dtype == x.dtype and same(gh, gf.astype(x.dtype)), name
            l64 = f(x.astype(np.float64), t, reduction="none")  # (only for the NaN pattern)
            assert np.array_equal(np.isnan(lh.astype(np.float32)), np.isnan(l64)), name


# ---------------------------------------------------------------------------------------
# exact widening and rounding


@pytest.mark.parametrize("name", DTYPES)
def test_every_bit_pattern_widens_exactly(isa, name):
    """logsumexp of a one-entry row is the entry itself: all 65536 halves (subnormals, ±0,
    ±inf, NaN) come out of the float32 result exactly as their float32 values."""
    dt = half_dtype(name)
    x = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(dt).reshape(-1, 1)
    xf = x.astype(np.float32)
    o, of = np.empty(65536, np.float32), np.empty(65536, np.float32)
    _core._lse(x, None, o, None)
    _core._lse(xf, None, of, None)
    w = xf.ravel()
    assert np.array_equal(o, w, equal_nan=True)  # the value itself (-0 gives +0: m + log 1)
    assert same(o, of)
    # and every one through the stores of an output of the input's shape
    y, yf = np.empty((65536, 1), dt), np.empty((65536, 1), np.float32)
    for log in (False, True):
        _core._softmax(x, y, log)
        _core._softmax(x.astype(np.float32), yf, log)
        assert same(y, yf.astype(dt))


@pytest.mark.parametrize("name", DTYPES)
def test_subnormal_halves(isa, name):
    dt = half_dtype(name)
    tiny = np.finfo(np.float16).smallest_subnormal if name == "float16" else np.float32(2.0**-133)
    x = np.array([[tiny, 3 * tiny, -tiny, 0.0] * 10], np.float32).astype(dt)
    assert x.astype(np.float32)[0, 0] != 0  # really a subnormal half
    check_against_float32(x)
    o = np.empty(1, np.float32)
    _core._lse(x[:, :1], None, o, None)
    assert o[0] == x.astype(np.float32)[0, 0]


def test_store_rounding_float16(isa):
    """log_softmax of [m, a] with a far below m is a - m (log s rounds to 0 next to it): the
    float32 value a - m is stored to nearest, ties to even, and overflows to -inf."""
    cases = [
        (2048.0, 1.5, -2046.0),     # -2046.5: a tie between -2046 (even) and -2047
        (2048.0, 2.5, -2046.0),     # -2045.5: a tie between -2046 (even) and -2045
        (2048.0, 1.25, -2047.0),    # -2046.75: nearest
        (8.0, -65504.0, -65504.0),  # -65512 is below the overflow threshold 65520: the largest half
        (16.0, -65504.0, -np.inf),  # -65520: a tie, to the even 2^16, which overflows
    ]
    for m, a, want in cases:
        x = np.array([[m, a]], np.float16)
        y = np.empty_like(x)
        _core._softmax(x, y, True)
        assert y[0, 0] == 0 and y[0, 1] == np.float16(want), (m, a, y)
    x = np.array([[60000.0, -60000.0]], np.float16)  # -120000 overflows float16
    y = lc.log_softmax(x, axis=-1)
    assert y.dtype == np.float16 and y[0, 1] == -np.inf and y[0, 0] == 0


def test_store_rounding_bfloat16(isa):
    bf = half_dtype("bfloat16")
    cases = [
        (256.0, 1.5, -254.0),   # -254.5: tie, 254 has the even mantissa
        (256.0, 0.5, -256.0),   # -255.5: tie between -255 (odd) and -256 (even)
        (256.0, 1.25, -255.0),  # -254.75: nearest
    ]
    for m, a, want in cases:
        x = np.array([[m, a]], np.float32).astype(bf)
        y = np.empty_like(x)
        _core._softmax(x, y, True)
        assert float(y[0, 1]) == want, (m, a, float(y[0, 1]))
    # the largest bfloat16 minus its negative overflows to -inf; NaN stays NaN
    big = float(np.finfo(np.float32).max)
    x = np.array([[big, -big], [np.nan, 1.0]], np.float32).astype(bf)
    y = lc.log_softmax(x, axis=-1)
    assert y.dtype == bf and float(y[0, 1]) == -np.inf
    assert np.isnan(y.astype(np.float32)[1]).all()


# ---------------------------------------------------------------------------------------
# bitwise parity with float32: every ISA, tails, blocks, threads, strides, special values


@pytest.mark.parametrize("name", DTYPES)
def test_every_tail_length(isa, name, rng):
    dt = half_dtype(name)
    for n in range(0, 71):
        check_against_float32(logits(rng, (3, n), dt))


@pytest.mark.parametrize("name", DTYPES)
@pytest.mark.parametrize("n", [BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 17, 20000])
def test_block_lengths(isa, name, n, rng):
    dt = half_dtype(name)
    x = logits(rng, (3, n), dt)
    x[1] = (rng.standard_normal(n) * 0.01).astype(dt)  # near-uniform row
    x[2, :] = -30
    x[2, n // 3] = 10  # a row dominated by its maximum (the excess path)
    check_against_float32(x)


@pytest.mark.parametrize("name", DTYPES)
def test_special_values(isa, name, rng):
    dt = half_dtype(name)
    n = 2 * BLOCK + 40
    x = logits(rng, (7, n), dt).astype(np.float32)
    x[0, 5] = np.nan
    x[1, 7] = np.inf
    x[2, [3, 4000]] = np.inf
    x[3, :] = -np.inf
    x[4, :] = -np.inf
    x[4, 100] = 1.0
    x[5, BLOCK + 3] = -np.inf
    x[6, :] = 60000.0 if name == "float16" else 1e30  # huge equal logits
    check_against_float32(x.astype(dt))


@pytest.mark.parametrize("name", DTYPES)
@pytest.mark.parametrize("shape", [(64, 3000), (2, 40000), (1, 70001)])
def test_threads_bitwise(isa, name, shape, restore_threads, rng):
    dt = half_dtype(name)
    x = logits(rng, shape, dt)
    res = []
    for nt in (1, 2):
        set_threads(nt)
        r = core_family(x)
        t = np.arange(shape[0]) % shape[1]
        r["loss"], r["grad"] = lc.focal_loss(x, t, 2.0, reduction="none", return_grad=True)
        res.append(r)
    for k in res[0]:
        assert same(res[0][k], res[1][k]), k
    check_against_float32(x)


@pytest.mark.parametrize("name", DTYPES)
def test_isas_agree_with_scalar_on_half(name, rng):
    """Each ISA gives the same half results as its own float32 path (above); across ISAs the
    float32 paths differ only within the documented bounds, so do the half ones."""
    from ._helpers import SUPPORTED_ISAS, forced_isa

    dt = half_dtype(name)
    x = logits(rng, (5, 3000), dt)
    ref = lc.logsumexp(x.astype(np.float64), axis=-1)
    for i in SUPPORTED_ISAS:
        with forced_isa(i):
            got = lc.logsumexp(x, axis=-1)
            assert got.dtype == dt
            np.testing.assert_allclose(got.astype(np.float64), ref, rtol=1e-2 if name == "bfloat16" else 1e-3)


@pytest.mark.parametrize("name", DTYPES)
def test_strided_and_transposed(isa, name, rng):
    dt = half_dtype(name)
    base = logits(rng, (6, 2 * BLOCK + 33), dt)
    for x in (base[:, ::2], base[::-2, ::-3], base.T[::3].T):
        xf = x.astype(np.float32)
        for fn in (lc.logsumexp, lc.softmax, lc.log_softmax, lc.softmax_entropy):
            got, want = fn(x, axis=-1), fn(xf, axis=-1)
            assert got.dtype == dt and same(got, want.astype(dt)), fn.__name__
        got, want = lc.softmax(x, axis=0), lc.softmax(xf, axis=0)
        assert same(got, want.astype(dt))
        t = np.arange(x.shape[0]) % x.shape[1]
        lh, gh = lc.gamma_cross_entropy(x, t, 0.2, return_grad=True, reduction="sum")
        lf, gf = lc.gamma_cross_entropy(xf, t, 0.2, return_grad=True, reduction="sum")
        assert lh == lf.astype(dt) and same(gh, gf.astype(dt))
    # strided output (out=) written directly
    x = base[:, :100]
    out = np.empty((100, 6), dt).T
    assert lc.softmax(x, axis=-1, out=out) is out
    assert same(out, lc.softmax(x.astype(np.float32), axis=-1).astype(dt))


# ---------------------------------------------------------------------------------------
# the public functions: dtypes, weights, where=, out=, in place, the streaming state


@pytest.mark.parametrize("name", DTYPES)
def test_public_dtypes(name, rng):
    dt = half_dtype(name)
    x = logits(rng, (4, 50), dt)
    p = lc.softmax(x, axis=-1)
    for r in (lc.logsumexp(x, axis=-1), p, lc.log_softmax(x, axis=-1), lc.softmax_entropy(x), lc.entropy(p)):
        assert r.dtype == dt
    assert lc.logsumexp(x).dtype == dt  # a full reduction: a NumPy scalar of the dtype
    assert np.ndim(lc.logsumexp(x)) == 0
    t = np.arange(4)
    loss, g = lc.focal_loss(x, t, return_grad=True)
    assert loss.dtype == dt and g.dtype == dt and g.shape == x.shape


@pytest.mark.parametrize("name", DTYPES)
def test_weighted_where_and_sign(name, rng):
    dt = half_dtype(name)
    x = logits(rng, (3, 300), dt)
    b = rng.uniform(-1, 2, (3, 300)).astype(dt)
    where = rng.random((3, 300)) > 0.3
    xf, bf = x.astype(np.float32), b.astype(np.float32)
    r, s = lc.logsumexp(x, axis=-1, b=b, return_sign=True)
    rf, sf = lc.logsumexp(xf, axis=-1, b=bf, return_sign=True)
    assert r.dtype == dt and same(r, rf.astype(dt)) and same(s, sf.astype(dt))
    assert same(lc.logsumexp(x, axis=1, where=where), lc.logsumexp(xf, axis=1, where=where).astype(dt))
    assert same(lc.logsumexp(x, axis=1, b=b, where=where), lc.logsumexp(xf, axis=1, b=bf, where=where).astype(dt))


@pytest.mark.parametrize("name", DTYPES)
def test_out_and_inplace(name, rng):
    dt = half_dtype(name)
    x = logits(rng, (5, 400), dt)
    want = lc.log_softmax(x.astype(np.float32), axis=-1).astype(dt)
    y = x.copy()
    assert lc.log_softmax(y, axis=-1, out=y) is y and same(y, want)
    o = np.empty(5, dt)
    assert lc.logsumexp(x, axis=1, out=o) is o and same(o, lc.logsumexp(x, axis=1))
    with pytest.raises(ValueError, match="dtype"):
        lc.logsumexp(x, axis=1, out=np.empty(5, np.float32))
    with pytest.raises(ValueError, match="dtype"):
        lc.softmax(x, axis=1, out=np.empty((5, 400), np.float32))
    # the loss gradient written over the half logits equals the separate gradient
    t = np.arange(5) * 7
    loss, g = lc.gamma_cross_entropy(x, t, 0.5, return_grad=True)
    z = x.copy()
    loss2, g2 = lc.gamma_cross_entropy(z, t, 0.5, return_grad=True, inplace=True)
    assert g2 is z and same(g2, g) and loss2 == loss


@pytest.mark.parametrize("name", DTYPES)
def test_streaming_state(name, rng):
    dt = half_dtype(name)
    x = logits(rng, (3, 5000), dt)
    s, sf = lc.LogSumExpState(3, dtype=dt), lc.LogSumExpState(3)
    for c in range(0, 5000, 1700):
        s.update(x[:, c:c + 1700])
        sf.update(x[:, c:c + 1700].astype(np.float32))
    assert np.array_equal(s.max, sf.max) and np.array_equal(s.excess, sf.excess)
    assert s.result().dtype == dt and same(s.result(), sf.result().astype(dt))
    import pickle

    assert pickle.loads(pickle.dumps(s)).dtype == dt


@pytest.mark.parametrize("name", DTYPES)
def test_apply_penalties_native(name, rng):
    """Penalties on half logits: each adjusted logit is the float32 path's value rounded once;
    the other logits are copied bit for bit (NaN payloads included); in place works."""
    dt = half_dtype(name)
    x = logits(rng, (4, 300), dt)
    x[0, 5] = np.nan
    x[1, 7] = np.inf
    ids = rng.integers(-1, 300, (4, 40))
    ids[0, 0], ids[1, 0] = 5, 7
    kw = dict(repetition_penalty=np.array([1.3, 0.7, 1.0, 2.0]), frequency_penalty=0.25, presence_penalty=0.5)
    y = lc.apply_penalties(x, ids, **kw)
    assert y.dtype == dt and same(y, lc.apply_penalties(x.astype(np.float32), ids, **kw).astype(dt))
    untouched = np.ones(x.shape, bool)
    for r in range(4):
        untouched[r, ids[r][ids[r] >= 0]] = False
    assert np.array_equal(bits(y)[untouched], bits(x)[untouched])
    z = x.copy()
    assert lc.apply_penalties(z, ids, out=z, **kw) is z and same(z, y)


def test_other_functions_take_bfloat16(rng):
    """bfloat16 reaches every function: outputs of the input's shape come back as bfloat16,
    like float16."""
    bf = half_dtype("bfloat16")
    x = logits(rng, (3, 200), bf)
    xf = x.astype(np.float32)
    q = lc.entropy_normalize(x, 2.0, logits=True)
    assert q.dtype == bf and same(q, lc.entropy_normalize(xf, 2.0, logits=True).astype(bf))
    assert np.array_equal(lc.sample(x, seed=3), lc.sample(xf, seed=3))
    y = lc.apply_penalties(x, np.array([[1, 2, 2]] * 3), repetition_penalty=1.3)
    assert y.dtype == bf and same(y, lc.apply_penalties(xf, np.array([[1, 2, 2]] * 3), repetition_penalty=1.3).astype(bf))
    p = lc.softmax(x, axis=-1)
    q = lc.entropy_normalize(p, 1.0)
    assert q.dtype == bf


# ---------------------------------------------------------------------------------------
# errors and optional dependency


def test_core_refuses_mismatched_result_dtypes():
    x = np.zeros((2, 3), np.float16)
    with pytest.raises(ValueError, match="out: expected float32"):
        _core._lse(x, None, np.empty(2, np.float16), None)
    with pytest.raises(ValueError, match="sign: expected float32"):
        _core._lse(x, None, np.empty(2, np.float32), np.empty(2, np.float64))
    with pytest.raises(ValueError, match="out: expected float64"):
        _core._entropy(x.astype(np.float64), np.empty(2, np.float32))
    with pytest.raises(ValueError, match="dtype differs"):
        _core._softmax(x, np.empty((2, 3), np.float32), False)
    with pytest.raises(TypeError, match="float32, float64, float16 or bfloat16"):
        _core._lse(np.zeros((2, 3), np.int16), None, np.empty(2, np.float32), None)
    # entropy normalization's q is of x's dtype; the sparse product's data and out float32
    with pytest.raises(ValueError, match="out: dtype differs"):
        _core._entropy_normalize(x, np.empty((2, 3), np.float32), np.ones(2), _core.EntropyNormalizeOptions())
    ip, ix = np.array([0, 1, 1], np.int32), np.array([0], np.int32)
    with pytest.raises(ValueError, match="data: expected float32 with a half-precision b"):
        _core._csr_matmul(ip, ix, np.ones(1), 3, x.T.copy(), np.empty((2, 2)))
    with pytest.raises(ValueError, match="out: dtype differs"):
        _core._csr_matmul(ip, ix, np.ones(1, np.float32), 3, x.T.copy(), np.empty((2, 2), np.float16))
    # functions without half kernels name the two they take
    with pytest.raises(TypeError, match="expected a float32 or float64 array"):
        _core._exp(x.reshape(-1), np.empty(6, np.float16))


def test_two_byte_dtypes():
    # the core takes native-order halves only; the public functions convert byte order
    swapped = (np.arange(6).reshape(2, 3) - 2.5).astype(">f2")
    with pytest.raises(TypeError, match="float32, float64, float16 or bfloat16"):
        _core._lse(swapped, None, np.empty(2, np.float32), None)
    for fn in (lc.logsumexp, lc.softmax, lc.log_softmax, lc.softmax_entropy):
        got = fn(swapped, axis=-1)
        assert got.dtype == np.float16 and same(got, fn(swapped.astype(np.float16), axis=-1))
    # a void dtype of two bytes is not bfloat16; int16 is an integer (computed in float64)
    with pytest.raises(TypeError, match="expected real numbers"):
        lc.softmax(np.zeros((2, 3), np.dtype("V2")), axis=-1)
    assert lc.logsumexp(np.zeros((2, 3), np.int16), axis=-1).dtype == np.float64


def test_import_and_float16_without_ml_dtypes():
    code = (
        "import sys; sys.modules['ml_dtypes'] = None\n"
        "import numpy as np, logitcore as lc\n"
        "x = np.arange(6, dtype=np.float16).reshape(2, 3)\n"
        "r = lc.logsumexp(x, axis=-1); assert r.dtype == np.float16\n"
        "assert lc.softmax(x, axis=-1).dtype == np.float16\n"
        "assert 'ml_dtypes' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
        "print('ok')\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and p.stdout.strip().endswith("ok"), p.stderr[-2000:]


# ---------------------------------------------------------------------------------------
# entropy normalization, the sampler and the sparse product read half precision natively:
# the same bits as the float32 path on the widened values


def en_pair(x, **kw):
    """(q, info) on x and on x widened to float32, q of the latter rounded to x's dtype."""
    q, info = lc.entropy_normalize(x, return_info=True, **kw)
    qf, infof = lc.entropy_normalize(x.astype(np.float32), return_info=True, **kw)
    return q, info, qf.astype(x.dtype), infof


def assert_en_same(x, **kw):
    q, info, qf, infof = en_pair(x, **kw)
    assert q.dtype == x.dtype and same(q, qf)
    for f in ("gamma", "entropy", "h_min", "h_max", "n_iter", "converged", "clipped"):
        a, b = getattr(info, f), getattr(infof, f)
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), f


def probabilities(rng, shape, dt):
    p = rng.random(shape) ** 3
    return (p / p.sum(-1, keepdims=True)).astype(dt)


@pytest.mark.parametrize("name", DTYPES)
def test_entropy_normalize_every_tail(isa, name, rng):
    dt = half_dtype(name)
    for n in list(range(1, 71)) + [BLOCK - 1, BLOCK + 1, 3 * BLOCK + 17]:
        x = logits(rng, (3, n), dt)
        assert_en_same(x, target=0.7 * np.log(n) + 0.01, logits=True)
        assert_en_same(probabilities(rng, (2, n), dt), target=0.5 * np.log(n), renormalize=True)


@pytest.mark.parametrize("name", DTYPES)
@pytest.mark.parametrize("shape", [(64, 3000), (2, 40000), (1, 70001)])
def test_entropy_normalize_threads_bitwise(isa, name, shape, restore_threads, rng):
    dt = half_dtype(name)
    x = logits(rng, shape, dt)
    t = rng.uniform(0.5, 3.0, shape[0])
    res = []
    for nt in (1, 2):
        set_threads(nt)
        assert_en_same(x, target=t, logits=True)
        res.append(lc.entropy_normalize(x, target=t, logits=True))
    assert same(res[0], res[1])


@pytest.mark.parametrize("name", DTYPES)
def test_entropy_normalize_special_rows(isa, name, rng):
    dt = half_dtype(name)
    x = logits(rng, (6, 300), dt)
    x[0, ::3] = -np.inf           # entries outside the support
    x[1, :] = 2.0                 # all ties: any target gives the uniform row
    x[2, :5] = 7.5                # ties at the maximum: a target below log 5 is clipped
    x[3, 1] = 1e4 if name == "bfloat16" else 6e4  # one dominant entry
    for t in (0.0, 0.5, 2.0, 10.0):
        assert_en_same(x, target=t, logits=True)
    for bad in (np.nan, np.inf):
        y = x.copy()
        y[4, 7] = bad
        with pytest.raises(ValueError) as e16:
            lc.entropy_normalize(y, target=1.0, logits=True)
        with pytest.raises(ValueError) as e32:
            lc.entropy_normalize(y.astype(np.float32), target=1.0, logits=True)
        assert str(e16.value) == str(e32.value)
    y = x.copy()
    y[5] = -np.inf
    with pytest.raises(ValueError, match="row 5"):
        lc.entropy_normalize(y, target=1.0, logits=True)


@pytest.mark.parametrize("name", DTYPES)
def test_entropy_normalize_layouts(isa, name, rng):
    dt = half_dtype(name)
    x = logits(rng, (40, 9, 31), dt)
    for ax in (0, 1, 2, -1):
        q = lc.entropy_normalize(x, target=1.2, logits=True, axis=ax)
        qf = lc.entropy_normalize(x.astype(np.float32), target=1.2, logits=True, axis=ax)
        assert q.dtype == dt and same(q, qf.astype(dt))
    xs = x[::2, :, ::3]
    assert_en_same(xs, target=0.9, logits=True)
    out = np.empty_like(x)
    assert lc.entropy_normalize(x, target=1.0, logits=True, out=out) is out
    ref = lc.entropy_normalize(x.astype(np.float32), target=1.0, logits=True).astype(dt)
    assert same(out, ref)
    z = x.copy()
    assert lc.entropy_normalize(z, target=1.0, logits=True, out=z) is z and same(z, ref)
    with pytest.raises(ValueError, match="out has dtype float32, expected"):
        lc.entropy_normalize(x, target=1.0, logits=True, out=np.empty(x.shape, np.float32))


SAMPLER_SETTINGS = [
    {},
    {"temperature": 0.0},
    {"temperature": 0.6, "top_k": 7},
    {"top_k": 200},
    {"top_p": 0.9},
    {"top_p": 0.999999},
    {"min_p": 0.05, "temperature": 1.4},
    {"target_entropy": 1.5},
    {"target_entropy": 1.0, "top_k": 5},
]


def sample_all(x, kw, offsets):
    from logitcore import sampling

    r = lc.sample(x, seed=11, offset=offsets, logprobs=min(4, x.shape[1]), **kw)
    p = sampling.sample_probs(x, **kw)
    k = sampling.kept_mask(x, **kw)
    g = sampling.tempered_gamma(x, kw.get("target_entropy"), temperature=kw.get("temperature", 1.0))
    return r, p, k, g


def assert_sampler_same(x):
    off = np.arange(x.shape[0], dtype=np.uint64) * 7
    for kw in SAMPLER_SETTINGS:
        (r, p, k, g), (rf, pf, kf, gf) = sample_all(x, kw, off), sample_all(x.astype(np.float32), kw, off)
        for a, b in zip(r, rf):
            assert np.array_equal(a, b), kw
        assert p.dtype == x.dtype and same(p, pf.astype(x.dtype)), kw
        assert np.array_equal(k, kf) and np.array_equal(g, gf), kw


@pytest.mark.parametrize("name", DTYPES)
@pytest.mark.parametrize("n", [1, 5, 33, 257, BLOCK + 3, 3 * BLOCK + 17])
def test_sampler_draws_equal_float32(isa, name, n, rng):
    dt = half_dtype(name)
    assert_sampler_same(logits(rng, (6, n), dt, scale=3.0))


@pytest.mark.parametrize("name", DTYPES)
def test_sampler_threads_strides_specials(isa, name, restore_threads, rng):
    dt = half_dtype(name)
    x = logits(rng, (40, 3000), dt, scale=3.0)
    x[0, 5] = np.inf
    x[0, 9] = np.inf           # uniform over the +inf entries
    x[1, ::2] = -np.inf
    x[2, :] = 1.0              # all tied
    toks = []
    for nt in (1, 2):
        set_threads(nt)
        assert_sampler_same(x)
        assert_sampler_same(x[::3, ::2])                   # strided rows and columns
        assert_sampler_same(logits(rng, (2, 40000), dt))   # few long rows (blocks split)
        toks.append(lc.sample(x, seed=5, top_p=0.9))
    assert np.array_equal(toks[0], toks[1])
    y = x.copy()
    y[3, 2] = np.nan
    with pytest.raises(ValueError, match="row 3 of logits contains NaN"):
        lc.sample(y)
    y = x.copy()
    y[4] = -np.inf
    with pytest.raises(ValueError, match="row 4 of logits has no finite entry"):
        lc.sample(y)


@pytest.mark.parametrize("name", DTYPES)
def test_sparse_dot_half_b(isa, name, restore_threads, rng):
    sp = optional_import("scipy.sparse")
    dt = half_dtype(name)
    for rows, inner, k in [(5, 7, 1), (9, 40, 17), (30, 200, 67), (301, 500, 129), (64, 3000, 260)]:
        a = sp.random(rows, inner, density=0.1, format="csr", dtype=np.float32, random_state=int(rng.integers(1 << 30)))
        b = logits(rng, (inner, k), dt, 1.0)
        want = lc.sparse_dot(a, b.astype(np.float32))
        for nt in (1, 2):
            set_threads(nt)
            got = lc.sparse_dot(a, b)
            assert got.dtype == np.float32 and same(got, want)
        a64 = a.copy()
        a64.indptr, a64.indices = a64.indptr.astype(np.int64), a64.indices.astype(np.int64)
        assert same(lc.sparse_dot(a64, b), want)
        at = sp.random(inner, rows, density=0.1, format="csc", dtype=np.float32, random_state=1)
        assert same(lc.sparse_dot(at, b, transpose_a=True), lc.sparse_dot(at, b.astype(np.float32), transpose_a=True))
        bs = logits(rng, (2 * inner, k), dt, 1.0)[::2]     # strided rows of b, no copy
        assert same(lc.sparse_dot(a, bs), lc.sparse_dot(a, bs.astype(np.float32)))
    b = logits(rng, (7, 3), dt)
    b[2, 1] = np.nan
    b[4, 0] = np.inf
    a = sp.csr_matrix(np.ones((2, 7), np.float32))
    assert same(lc.sparse_dot(a, b), lc.sparse_dot(a, b.astype(np.float32)))
