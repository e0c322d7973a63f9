"""logitcore.dask (docs/math.md §7): the vocabulary-parallel functions on Dask arrays chunked along
the batch and the class axes equal the in-memory functions, on the threaded scheduler and on a
two-process dask.distributed cluster; special rows, dtypes, axes, lazy evaluation, errors."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import logitcore as lc

from ._helpers import assert_close, finite_scale, optional_import

optional_import("dask")
import dask  # noqa: E402
import dask.array as da  # noqa: E402

import logitcore.dask as ldask  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

THREADS = {"scheduler": "threads"}
REDUCTIONS = ["logsumexp", "softmax_entropy"]
MAPS = ["softmax", "log_softmax"]
LOSSES = [
    ("gamma_cross_entropy", {"gamma": 0.0}),
    ("gamma_cross_entropy", {"gamma": 0.3, "threshold": 0.2}),
    ("generalized_cross_entropy", {"q": 0.7}),
    ("focal_loss", {"gamma": 2.0}),
]

# (rows, classes) chunkings of a 5 x 9 array: empty chunks, one-column chunks, one chunk,
# one-row chunks, irregular chunks
CHUNKINGS = [
    ((2, 0, 3), (4, 0, 5)),
    (5, 1),
    (1, 9),
    ((5,), (9,)),
    ((1, 1, 1, 1, 1), (1,) * 9),
    ((3, 2), (0, 9, 0)),
    ((2, 3), (2, 3, 1, 3)),
    ((5,), (8, 1)),
]


def _compute(x, **kw):
    return dask.compute(x, **(kw or THREADS))[0]


def _check_reduction(name, x, d, axis, keepdims=False, dtype=None, **kw):
    want = getattr(lc, name)(x, axis=axis, keepdims=keepdims)
    lazy = getattr(ldask, name)(d, axis=axis, keepdims=keepdims)
    assert isinstance(lazy, da.Array)
    got = _compute(lazy, **kw)
    assert got.dtype == np.asarray(want).dtype and got.shape == np.shape(want), (name, got.shape, np.shape(want))
    assert_close(got, want, dtype, scale=finite_scale(x), what=f"{name} {d.chunks}")


def _check_map(name, x, d, axis, dtype=None, **kw):
    want = getattr(lc, name)(x, axis=axis)
    lazy = getattr(ldask, name)(d, axis=axis)
    assert isinstance(lazy, da.Array) and lazy.chunks == d.chunks
    got = _compute(lazy, **kw)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert_close(got, want, dtype, scale=finite_scale(x), rel=name == "softmax", what=f"{name} {d.chunks}")


def _check_loss(name, params, x, t, d, td, reduction, dtype=None, **kw):
    extra = {k: kw.pop(k) for k in ("weight", "ignore_index", "sample_weight") if k in kw}
    want_loss, want_grad = getattr(lc, name)(x, t, reduction=reduction, return_grad=True, **params, **extra)
    sw = extra.get("sample_weight")
    if sw is not None:
        extra["sample_weight"] = da.from_array(sw, chunks=td.chunks) if isinstance(td, da.Array) else sw
    loss, grad = getattr(ldask, name)(d, td, reduction=reduction, return_grad=True, **params, **extra)
    assert isinstance(loss, da.Array) and isinstance(grad, da.Array) and grad.chunks == d.chunks
    got_loss, got_grad = _compute((loss, grad), **kw)
    assert got_loss.dtype == np.asarray(want_loss).dtype and got_loss.shape == np.shape(want_loss)
    assert got_grad.dtype == want_grad.dtype
    scale = finite_scale(x)
    assert_close(got_loss, want_loss, dtype, scale=scale, what=f"{name} loss {reduction} {d.chunks}")
    # the gradient entries are w (p - onehot): compared relative to their own size
    assert_close(got_grad, want_grad, dtype, scale=scale, rel=True, factor=4,
                 what=f"{name} grad {reduction} {d.chunks}")


def _data(shape, dtype, seed=0, spread=4.0):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * spread).astype(dtype)
    t = rng.integers(0, shape[-1], size=shape[:-1]) if shape[-1] else np.zeros(shape[:-1], dtype=np.int64)
    return x, t


# ---------------------------------------------------------------------------------------------
# parity with the in-memory functions


@pytest.mark.usefixtures("isa")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("chunks", CHUNKINGS, ids=str)
def test_reductions_and_maps_equal_in_memory_for_every_chunking(chunks, dtype):
    x, _ = _data((5, 9), dtype)
    d = da.from_array(x, chunks=chunks)
    for name in REDUCTIONS:
        _check_reduction(name, x, d, axis=-1)
        _check_reduction(name, x, d, axis=-1, keepdims=True)
    _check_reduction("logsumexp", x, d, axis=None)
    _check_reduction("logsumexp", x, d, axis=0)
    for name in MAPS:
        _check_map(name, x, d, axis=-1)
        _check_map(name, x, d, axis=0)
        _check_map(name, x, d, axis=None)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("chunks", CHUNKINGS, ids=str)
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_losses_and_gradients_equal_in_memory_for_every_chunking(chunks, dtype, reduction):
    x, t = _data((5, 9), dtype, seed=1)
    d = da.from_array(x, chunks=chunks)
    td = da.from_array(t, chunks=(d.chunks[0],))
    for name, params in LOSSES:
        _check_loss(name, params, x, t, d, td, reduction)


def test_losses_with_weights_ignore_index_and_sample_weights():
    x, t = _data((6, 11), np.float32, seed=2)
    t[1] = t[4] = -1
    rng = np.random.default_rng(3)
    weight = rng.uniform(0.1, 2.0, 11)
    sw = rng.uniform(0.0, 3.0, 6)
    d = da.from_array(x, chunks=((2, 4), (3, 0, 1, 7)))
    for reduction in ("none", "sum", "mean"):
        for name, params in LOSSES:
            _check_loss(name, params, x, t, d, da.from_array(t, chunks=2), reduction, weight=weight,
                        ignore_index=-1, sample_weight=sw)
    # every row ignored: the mean is 0, not NaN, and the gradient is zero
    loss, grad = ldask.gamma_cross_entropy(d, np.full(6, -100), return_grad=True)
    loss, grad = _compute((loss, grad))
    assert loss == 0 and loss.dtype == np.float32 and not grad.any()


def test_multi_axis_reductions_and_batch_shapes():
    x, t = _data((3, 4, 10), np.float64, seed=4)
    d = da.from_array(x, chunks=(2, 3, (4, 1, 0, 5)))
    for axis in [(1, 2), (0, 2), None, 1, -3, (2, 0, 1)]:
        _check_reduction("logsumexp", x, d, axis=axis)
        _check_reduction("logsumexp", x, d, axis=axis, keepdims=True)
        _check_reduction("softmax_entropy", x, d, axis=axis)
        for name in MAPS:
            _check_map(name, x, d, axis=axis)
    td = da.from_array(t, chunks=(1, 4))  # batch chunks differ from the logits': rechunked
    for reduction in ("none", "mean"):
        for name, params in LOSSES:
            _check_loss(name, params, x, t, d, td, reduction)
    # one row: 1-D logits, a 0-d target
    _check_loss("focal_loss", {"gamma": 1.5}, x[0, 0], t[0, 0], da.from_array(x[0, 0], chunks=3), t[0, 0], "none")
    assert _compute(ldask.logsumexp(da.from_array(x[0, 0, 0]))) == lc.logsumexp(x[0, 0, 0])


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(st.integers(0, 3), min_size=1, max_size=3),
    cols=st.lists(st.integers(0, 6), min_size=1, max_size=5),
    dtype=st.sampled_from([np.float32, np.float64]),
    spread=st.sampled_from([0.1, 3.0, 30.0]),
    seed=st.integers(0, 2**16),
    split_every=st.sampled_from([None, 2, 3]),
)
def test_property_any_chunking_equals_in_memory(rows, cols, dtype, spread, seed, split_every):
    shape = (sum(rows), sum(cols))
    x, t = _data(shape, dtype, seed=seed, spread=spread)
    d = da.from_array(x, chunks=(tuple(rows), tuple(cols)))
    scale = finite_scale(x)
    for name in REDUCTIONS:
        got = _compute(getattr(ldask, name)(d, axis=-1, split_every=split_every))
        assert_close(got, getattr(lc, name)(x, axis=-1), scale=scale, what=name)
    for name in MAPS:
        got = _compute(getattr(ldask, name)(d, axis=-1, split_every=split_every))
        assert_close(got, getattr(lc, name)(x, axis=-1), scale=scale, rel=name == "softmax", what=name)
    if shape[1]:
        loss, grad = ldask.gamma_cross_entropy(d, t, gamma=0.5, reduction="none", return_grad=True,
                                               split_every=split_every)
        wl, wg = lc.gamma_cross_entropy(x, t, gamma=0.5, reduction="none", return_grad=True)
        gl, gg = _compute((loss, grad))
        assert_close(gl, wl, scale=scale, what="loss")
        assert_close(gg, wg, scale=scale, rel=True, factor=4, what="grad")


def test_special_rows_match_in_memory():
    inf, nan = np.inf, np.nan
    x = np.array([
        [0.0, -40.0, -45.0, -50.0, -60.0, -70.0],  # dominated by its maximum (log1p accuracy)
        [1.0, inf, 2.0, inf, -inf, 3.0],  # two +inf entries in different chunks
        [-inf, -inf, -inf, -inf, -inf, -inf],  # no support
        [1.0, 2.0, nan, 0.0, 1.0, 2.0],  # NaN
        [-inf, -inf, 5.0, -inf, -inf, -inf],  # one finite entry
        [1e30, -1e30, 0.0, 3.0, 1e30, 2.0],  # huge spread
    ])
    t = np.array([0, 1, 2, 3, 2, 4])
    # each row on its own (the tolerance scales with the row's largest finite entry), then the
    # rows of moderate values together with the batch axis chunked
    pieces = [(slice(i, i + 1), cols) for i in range(6) for cols in [1, 2, (2, 0, 4), (1, 5)]]
    pieces += [(slice(0, 5), (1, 1, 0, 4)), (slice(0, 5), 5)]
    for rows, cols in pieces:
        for dtype in (np.float64, np.float32):
            xx = x[rows].astype(dtype)
            d = da.from_array(xx, chunks=(2, cols))
            for name in REDUCTIONS:
                _check_reduction(name, xx, d, axis=-1)
            for name in MAPS:
                _check_map(name, xx, d, axis=-1)
            for name, params in LOSSES:
                _check_loss(name, params, xx, t[rows], d, t[rows], "none")
    # the dominated row keeps its tiny excess: lse(0, -40, ...) = 4.25e-18, not 0
    got = _compute(ldask.logsumexp(da.from_array(x[:1], chunks=1), axis=-1))
    assert 4.2e-18 < got[0] < 4.3e-18
    ce = _compute(ldask.gamma_cross_entropy(da.from_array(x[:1], chunks=1), [0], reduction="none"))
    assert 4.2e-18 < ce[0] < 4.3e-18


def test_float16_and_integer_inputs():
    x, t = _data((4, 13), np.float16, seed=5)
    d = da.from_array(x, chunks=(3, 4))
    for name in REDUCTIONS:
        _check_reduction(name, x, d, axis=-1, dtype=np.float16)
    for name in MAPS:
        _check_map(name, x, d, axis=-1, dtype=np.float16)
    for name, params in LOSSES:
        _check_loss(name, params, x, t, d, t, "none", dtype=np.float16)
        _check_loss(name, params, x, t, d, t, "mean", dtype=np.float16)
    xi = np.arange(24).reshape(4, 6) % 5
    di = da.from_array(xi, chunks=(2, 4))
    _check_reduction("logsumexp", xi, di, axis=-1, dtype=np.float64)
    _check_map("softmax", xi, di, axis=1, dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# laziness and the graph


def test_results_are_lazy_and_the_class_axis_is_never_rechunked():
    x, t = _data((6, 20), np.float32)
    d = da.from_array(x, chunks=(3, (5, 1, 0, 14)))
    outs = [ldask.logsumexp(d, axis=-1), ldask.softmax_entropy(d), ldask.softmax(d, axis=-1),
            ldask.log_softmax(d, axis=-1), *ldask.focal_loss(d, t, reduction="sum", return_grad=True)]
    for out in outs:
        assert isinstance(out, da.Array)
        assert not any("rechunk" in str(name) for name in out.dask.layers), list(out.dask.layers)
    # a target out of range is found when computed, not when the graph is built
    lazy = ldask.gamma_cross_entropy(d, np.full(6, 20), reduction="none")
    with pytest.raises(IndexError, match=r"target\[[0-5]\] = 20 is out of range for 20 classes"):
        _compute(lazy)
    with pytest.raises(IndexError, match=r"target\[4\] = -3"):
        _compute(ldask.gamma_cross_entropy(d, np.array([0, 1, 2, 3, -3, 5])))
    # the chunk of the tree reduction: deeper trees give the same result
    a = _compute(ldask.logsumexp(da.from_array(x, chunks=(6, 1)), axis=-1, split_every=2))
    assert_close(a, lc.logsumexp(x, axis=-1))


def test_import_logitcore_does_not_need_dask():
    code = textwrap.dedent(
        """
        import sys
        sys.modules["dask"] = None
        import logitcore
        assert "dask" not in sys.modules or sys.modules["dask"] is None
        print(float(logitcore.logsumexp([0.0, 0.0])))
        try:
            logitcore.dask
        except ImportError as exc:
            print("ImportError", exc)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "\n0.693147" in "\n" + out and "ImportError logitcore.dask needs Dask's arrays: pip install" in out
    # with dask present, the submodule is reached by attribute as well as by import
    assert lc.dask is ldask and lc.dask.logsumexp is ldask.logsumexp


# ---------------------------------------------------------------------------------------------
# errors


def test_bad_inputs_raise_clear_errors():
    x, t = _data((4, 6), np.float32)
    d = da.from_array(x, chunks=(2, 3))
    with pytest.raises(TypeError, match="complex"):
        ldask.logsumexp(d.astype(np.complex64))
    with pytest.raises(TypeError, match="dtype"):
        ldask.softmax(da.from_array(np.array([["a", "b"]])))
    with pytest.raises(TypeError, match="integer class indices"):
        ldask.focal_loss(d, t.astype(np.float64))
    with pytest.raises(TypeError, match="integer class indices"):
        ldask.focal_loss(d, da.from_array(t.astype(np.float64)))
    with pytest.raises(ValueError, match=r"target has shape \(3,\), expected \(4,\)"):
        ldask.focal_loss(d, t[:3])
    with pytest.raises(ValueError, match=r"target has shape \(4, 1\)"):
        ldask.focal_loss(d, da.from_array(t[:, None]))
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        ldask.logsumexp(d[d[:, 0] > 0], axis=-1)
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        ldask.gamma_cross_entropy(d, da.from_array(t)[da.from_array(t) >= 0])
    with pytest.raises(ValueError, match="inplace"):
        ldask.gamma_cross_entropy(d, t, return_grad=True, inplace=True)
    with pytest.raises(ValueError, match="reduction"):
        ldask.gamma_cross_entropy(d, t, reduction="avg")
    with pytest.raises(ValueError, match="gamma"):
        ldask.gamma_cross_entropy(d, t, gamma=1.5)
    with pytest.raises(ValueError, match="q"):
        ldask.generalized_cross_entropy(d, t, q=0.0)
    with pytest.raises(TypeError, match="ignore_index"):
        ldask.focal_loss(d, t, ignore_index=1.5)
    with pytest.raises(ValueError, match=r"weight has shape \(5,\)"):
        ldask.focal_loss(d, t, weight=np.ones(5))
    with pytest.raises(ValueError, match="sample_weight has shape"):
        ldask.focal_loss(d, t, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="sample_weight must be finite"):
        _compute(ldask.focal_loss(d, t, sample_weight=np.array([1.0, -1.0, 1.0, 1.0])))
    with pytest.raises(ValueError, match="at least one dimension"):
        ldask.focal_loss(da.from_array(np.float32(1.0)), 0)
    with pytest.raises(ValueError, match="split_every"):
        ldask.logsumexp(d, split_every=1)
    with pytest.raises(TypeError, match="split_every"):
        ldask.logsumexp(d, split_every=2.5)
    with pytest.raises(np.exceptions.AxisError):
        ldask.softmax_entropy(d, axis=2)
    with pytest.raises(ValueError, match="repeated axis"):
        ldask.logsumexp(d, axis=(1, -1))


# ---------------------------------------------------------------------------------------------
# a real distributed engine: two worker processes


# ---------------------------------------------------------------------------------------------
# logsumexp with b=, where= and return_sign= (the NumPy API's semantics)


def _check_lse_general(x, d, axis, kw, dkw=None, keepdims=False, **ckw):
    want = lc.logsumexp(x, axis=axis, keepdims=keepdims, **kw)
    lazy = ldask.logsumexp(d, axis=axis, keepdims=keepdims, **(dkw if dkw is not None else kw))
    got = _compute(lazy, **ckw)
    pairs = zip(want, got) if kw.get("return_sign") else [(want, got)]
    for w, g in pairs:
        w, g = np.asarray(w), np.asarray(g)
        assert g.dtype == w.dtype and g.shape == w.shape, (kw, g.dtype, w.dtype, g.shape, w.shape)
        assert_close(g, w, x.dtype, what=f"logsumexp {sorted(kw)} axis={axis} {d.chunks}")


@pytest.mark.usefixtures("isa")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("chunks", CHUNKINGS, ids=str)
def test_logsumexp_b_where_return_sign_equal_in_memory(chunks, dtype):
    x, _ = _data((5, 9), dtype, seed=3)
    rng = np.random.default_rng(4)
    b = rng.uniform(0.1, 2.0, (5, 9)).astype(dtype)
    bs = rng.uniform(-1.0, 1.0, (5, 9)).astype(dtype)  # both signs: negative rows are NaN
    w = rng.random((5, 9)) > 0.35
    d = da.from_array(x, chunks=chunks)
    for axis in (-1, 0, None):
        for kw in ({"b": b}, {"where": w}, {"return_sign": True}, {"b": bs, "return_sign": True},
                   {"b": bs}, {"b": b, "where": w}, {"b": bs, "where": w, "return_sign": True},
                   {"where": w, "return_sign": True}, {"b": 0.5}, {"b": b[0]}, {"where": w[:, :1]}):
            _check_lse_general(x, d, axis, kw)
        # operands as Dask arrays chunked differently: they follow a's chunks
        _check_lse_general(x, d, axis, {"b": bs, "where": w, "return_sign": True},
                           {"b": da.from_array(bs, chunks=2), "where": da.from_array(w, chunks=3),
                            "return_sign": True}, keepdims=True)


def test_logsumexp_weighted_special_values():
    inf, nan = np.inf, np.nan
    x = np.array([
        [0.0, 0.0, 1.0, 1.0],      # exact cancellation: -inf, sign 0
        [inf, 1.0, inf, 2.0],      # +inf entries of both signs in different chunks: NaN
        [inf, 1.0, 2.0, inf],      # +inf entries of one sign: +inf
        [inf, 1.0, 2.0, 3.0],      # +inf of negative weight: +inf, sign -1 (NaN without the sign)
        [1.0, nan, 2.0, 3.0],      # NaN
        [1.0, 2.0, 3.0, 4.0],      # every weight 0: -inf, sign 0
        [-inf, -inf, 3.0, 4.0],    # a negative total: NaN, or its log|sum| and sign -1
        [1e30, -1e30, 0.0, 3.0],   # huge spread
    ])
    b = np.array([
        [1.0, -1.0, 2.0, -2.0],
        [1.0, 1.0, -1.0, 1.0],
        [1.0, 1.0, 1.0, 2.0],
        [-1.0, 1.0, 1.0, 1.0],
        [1.0, 1.0, 1.0, 1.0],
        [0.0, 0.0, 0.0, 0.0],
        [1.0, 1.0, -3.0, -1.0],
        [1.0, 1.0, -1.0, 1.0],
    ])
    for cols in [1, 2, (3, 1), (0, 4), (1, 0, 3)]:
        for dtype in (np.float64, np.float32):
            xx, bb = x.astype(dtype), b.astype(dtype)
            d = da.from_array(xx, chunks=(3, cols))
            for kw in ({"b": bb}, {"b": bb, "return_sign": True}):
                _check_lse_general(xx, d, -1, kw)
    # an empty reduction: -inf, sign -1 (as the NumPy function and SciPy)
    e = np.zeros((3, 0))
    for kw in ({"b": np.ones((3, 0)), "return_sign": True}, {"return_sign": True},
               {"where": np.ones((3, 0), bool), "return_sign": True}):
        _check_lse_general(e, da.from_array(e, chunks=(2, 1)), -1, kw)


def test_logsumexp_general_dtypes_and_errors():
    x = np.arange(12, dtype=np.float32).reshape(3, 4) / 3
    d = da.from_array(x, chunks=(2, 3))
    # weak Python scalars keep float32; a float64 b promotes; float16 computed in float32
    assert _compute(ldask.logsumexp(d, axis=-1, b=2.0)).dtype == np.float32
    assert _compute(ldask.logsumexp(d, axis=-1, b=np.ones(4))).dtype == np.float64
    _check_lse_general(x.astype(np.float16), da.from_array(x.astype(np.float16), chunks=2), -1,
                       {"b": np.full(4, 0.5, np.float16), "return_sign": True})
    with pytest.raises(TypeError, match="where must be a boolean array"):
        ldask.logsumexp(d, where=np.ones((3, 4)))
    with pytest.raises(ValueError, match="could not be broadcast"):
        ldask.logsumexp(d, b=np.ones(3))
    with pytest.raises(TypeError, match="complex"):
        ldask.logsumexp(d, b=np.ones(4, complex))
    # lazy: nothing computed until asked, and a's class chunks are kept
    lazy, sign = ldask.logsumexp(d, axis=0, b=da.from_array(np.ones((3, 4)), chunks=1), return_sign=True)
    assert isinstance(lazy, da.Array) and isinstance(sign, da.Array)
    assert lazy.chunks == ((3, 1),)


@pytest.fixture(scope="module")
def client():
    optional_import("distributed")
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None,
                           memory_limit="1GiB")
    cl = Client(cluster)
    try:
        yield cl
    finally:
        cl.close()
        cluster.close()


def test_distributed_cluster_gives_the_in_memory_results(client):
    assert len(client.scheduler_info()["workers"]) == 2
    x, t = _data((12, 40), np.float32, seed=7)
    t[3] = -100
    for chunks in [((5, 0, 7), (16, 0, 1, 23)), (4, 8)]:
        d = da.from_array(x, chunks=chunks)
        kw = {"scheduler": client}
        for name in REDUCTIONS:
            _check_reduction(name, x, d, axis=-1, **kw)
        for name in MAPS:
            _check_map(name, x, d, axis=-1, **kw)
        for name, params in LOSSES:
            _check_loss(name, params, x, t, d, da.from_array(t, chunks=3), "mean", **kw)
        bs = np.linspace(-0.5, 1.0, 40, dtype=np.float32)
        _check_lse_general(x, d, -1, {"b": bs, "where": x > -3, "return_sign": True}, **kw)
    # a target error raised on a worker reaches the caller as IndexError
    with pytest.raises(IndexError, match="out of range"):
        client.compute(ldask.focal_loss(da.from_array(x, chunks=(6, 10)), np.full(12, 99))).result()
