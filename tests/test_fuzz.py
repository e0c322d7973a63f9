"""Fuzz tests: every public function on generated awkward calls, against float64 references.

Each property draws a whole call: the dtype (float16/32/64, signed and unsigned integers,
bool), the shape (0-d, empty, up to 3-d, rows shorter and longer than the 2048-element
block), the memory layout (C, Fortran, permuted axes, negative strides, strided slices of a
NaN-filled buffer, byte-swapped, unaligned, read-only, Python lists), the values (normal,
wide, offset, tied, with gaps; +-inf, NaN, huge, tiny, subnormal, -0.0), the arguments
(axis, keepdims, b=, where=, return_sign, out=, target/perplexity, reductions, ...), the
thread count (1-3) and the kernel ISA. Every call is checked for:

* raising: the call raises exactly when the reference does (NumPy's axis rules, SciPy, or the
  documented argument rules), with the same exception type, and only ever TypeError,
  ValueError or IndexError;
* value (dtype-scaled tolerances of tests/_helpers.py), dtype, shape and NumPy-scalar vs
  ndarray, against ``scipy.special`` and ``logitcore.reference`` evaluated in float64 on
  the input as the library sees it (cast to the compute dtype, then upcast);
* inputs untouched after every call, including calls that raise; an ``out=`` array (and
  ``inplace=True`` logits) untouched by a call that raises; memory around a strided
  ``out=`` never written;
* results bitwise identical with one thread, for inputs spanning several blocks.

The same properties run twice:

* ``python -m pytest`` (the default selection) runs each property on a fixed set of
  ``LOGITCORE_FUZZ_SHORT`` examples (default 500; hypothesis ``derandomize=True`` and no
  example database, so the run is reproducible; no shrinking, so a failure costs no extra
  time and is reported as generated): about 15 s on two cores.
* ``python -m pytest -m fuzz`` runs only the ``*_long`` versions (marked ``fuzz``, which the
  default ``addopts`` exclude): ``LOGITCORE_FUZZ_EXAMPLES`` examples per property (default
  5000, about 5-10 minutes on two cores) from a random seed. A failure is printed with
  every draw and replayed first on the next run from hypothesis's database (.hypothesis/).
"""
from __future__ import annotations

import math
import os
import pickle
import warnings
from contextlib import contextmanager
from math import prod

import numpy as np
import pytest
import scipy.special as sps
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

import logitcore as lc
from logitcore import _core
from logitcore import reference as ref
from logitcore.losses import focal_loss, gamma_cross_entropy, generalized_cross_entropy

from ._helpers import (
    BLOCK,
    SUPPORTED_ISAS,
    assert_bitwise_equal,
    assert_close,
    finite_scale,
    restore_isa,
    tol_for,
)

SHORT_EXAMPLES = int(os.environ.get("LOGITCORE_FUZZ_SHORT", "500"))
LONG_EXAMPLES = int(os.environ.get("LOGITCORE_FUZZ_EXAMPLES", "5000"))

_HEALTH = [
    HealthCheck.too_slow,
    HealthCheck.data_too_large,
    HealthCheck.filter_too_much,
    HealthCheck.large_base_example,
]

ALLOWED = (TypeError, ValueError, IndexError)
MAY = "may raise"  # expectation: either outcome is right (a value on a documented boundary)

F16, F32, F64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)
FLOATS = [F64, F32, F16]
INTS = [np.dtype(t) for t in (np.int8, np.int32, np.int64, np.uint8, np.uint16)]
BOOL = np.dtype(bool)
LONG_LENGTHS = [BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK + 37, 3 * BLOCK - 5]

inf, nan = np.inf, np.nan


def _specials(dt):
    vals = {
        F64: [0.0, -0.0, 1.0, -1.0, inf, -inf, nan, 1e308, -1e308, 1.7976931348623157e308,
              -1.7976931348623157e308, 5e-324, -5e-324, 2.2250738585072014e-308, 1e-300, -1e-300,
              709.78, 710.0, -745.2, -708.4, 1e20, -1e20, 1e16, 88.7, -103.9],
        F32: [0.0, -0.0, 1.0, -1.0, inf, -inf, nan, 3.4028235e38, -3.4028235e38, 1e-45, -1e-45,
              1.1754944e-38, 1e30, -1e30, 88.72, 89.0, -103.97, -87.4, 1e20, -1e20, 16777216.0],
        F16: [0.0, -0.0, 1.0, -1.0, inf, -inf, nan, 65504.0, -65504.0, 6e-08, -6e-08, 6.104e-05,
              11.09, -17.3, 2048.0, -2048.0, 1e4, -1e4],
    }
    if dt.kind == "f":
        with np.errstate(over="ignore"):
            return np.array(vals[dt], dtype=dt)
    if dt.kind == "b":
        return np.array([False, True])
    info = np.iinfo(dt)
    return np.array(sorted({0, 1, info.max, info.min, info.max - 1, 2 if info.min == 0 else -1}), dtype=dt)


SPECIALS = {dt: _specials(dt) for dt in FLOATS + INTS + [BOOL]}


def _compute_dtype(dt):
    dt = np.dtype(dt)
    return F32 if dt in (F16, F32) else F64


def _result_dtype(dt):
    dt = np.dtype(dt)
    return dt.newbyteorder("=") if dt.kind == "f" else F64


def _in_dtype(values, dt):
    """float64 values as the library sees them in compute dtype ``dt``: rounded, upcast."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.asarray(values, dtype=F64).astype(dt).astype(F64)


# --------------------------------------------------------------------------------------
# strategies: dtypes, shapes, values, layouts


def dtypes(kinds="fib"):
    pool = []
    if "f" in kinds:
        pool += [F64, F64, F32, F32, F16]
    if "i" in kinds:
        pool += INTS
    if "b" in kinds:
        pool += [BOOL]
    return st.sampled_from(pool)


@st.composite
def shapes(draw, min_ndim=0, max_ndim=3, max_dim=5):
    nd = draw(st.integers(min_ndim, max_ndim))
    dims = draw(st.lists(st.integers(0, max_dim), min_size=nd, max_size=nd))
    if nd and draw(st.integers(0, 3)) == 0:  # one axis longer than a block
        i = draw(st.integers(0, nd - 1))
        dims = [min(s, 2) for s in dims]
        dims[i] = draw(st.sampled_from(LONG_LENGTHS))
    return tuple(dims)


def _elements(dt):
    if dt.kind == "f":
        w = dt.itemsize * 8
        return st.one_of(
            st.sampled_from(SPECIALS[dt].tolist()),
            st.floats(-30, 30, width=w),
            st.floats(width=w),
        )
    if dt.kind == "b":
        return st.booleans()
    info = np.iinfo(dt)
    return st.one_of(st.integers(max(info.min, -5), 5), st.integers(int(info.min), int(info.max)))


VALUE_KINDS = ["normal", "wide", "offset", "ties", "gap", "tiny"]


@st.composite
def values(draw, dt, shape, kinds=VALUE_KINDS, specials=True):
    """A C-contiguous array of dtype ``dt`` and shape ``shape``: drawn element by element when
    small, else generated from a drawn seed and kind with specials sprinkled and patched in."""
    dt = np.dtype(dt)
    n = prod(shape)
    elem = _elements(dt) if specials else _elements(dt).filter(lambda v: v == v and abs(v) != inf)
    if n <= 12:
        v = np.array(draw(st.lists(elem, min_size=n, max_size=n)), dtype=dt).reshape(shape)
        return _shift_max_to_zero(draw, v)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(kinds))
    if dt.kind == "b":
        v = rng.random(n) < draw(st.sampled_from([0.0, 0.1, 0.5, 1.0]))
    elif dt.kind in "iu":
        info = np.iinfo(dt)
        lo, hi = (int(info.min), int(info.max)) if kind == "wide" else (max(int(info.min), -20), 20)
        v = rng.integers(lo, hi, size=n, endpoint=True, dtype=dt)
    else:
        top = {F16: 4, F32: 37, F64: 300}[dt]
        v = rng.standard_normal(n) * draw(st.sampled_from([1.0, 4.0, 30.0]))
        if kind == "wide":
            v = v * 10.0 ** rng.uniform(-top, top, n)
        elif kind == "offset":
            v = v + draw(st.sampled_from([1e4, -1e4, 1e8, 3e5]))
        elif kind == "ties":
            v = rng.integers(-2, 3, n).astype(F64)
        elif kind == "gap":
            gaps = rng.random(n) < 0.3
            v = np.where(gaps, v - 10.0 ** rng.uniform(0, min(top, 25), n), v)
        elif kind == "tiny":
            v = v * 10.0 ** rng.uniform(-top - 8, -top + 2, n)
        with np.errstate(over="ignore"):
            v = v.astype(dt)
    if specials:
        density = draw(st.sampled_from([0.0, 0.0, 0.001, 0.05, 0.5]))
        pick = rng.random(n) < density
        if pick.any():
            v[pick] = rng.choice(SPECIALS[dt], size=int(pick.sum()))
    for _ in range(draw(st.integers(0, 3))):
        v[draw(st.integers(0, n - 1))] = draw(elem)
    return _shift_max_to_zero(draw, v.reshape(shape))


def _shift_max_to_zero(draw, v):
    """Sometimes shift float values so that the largest finite one is exactly 0 (logsumexp
    near 0 is where log1p accuracy shows)."""
    if v.dtype.kind != "f" or not v.size or draw(st.integers(0, 4)):
        return v
    fin = v[np.isfinite(v)]
    if fin.size:
        with np.errstate(over="ignore", invalid="ignore"):
            v = np.asarray(v - fin.max()).astype(v.dtype).reshape(v.shape)
    return v


class Made:
    """An input as passed (``obj``), its logical values (``vals``, C order, same dtype), and
    the buffer that holds it (``buf``) with the function that views ``obj`` in a copy of it."""

    def __init__(self, obj, vals, buf=None, view=None, layout="C"):
        self.obj, self.vals, self.buf, self.view, self.layout = obj, vals, buf, view, layout

    def __repr__(self):
        v = self.vals
        if v.size <= 32:
            vals = f" {v.tolist()!r}"
        else:  # a summary: finite range, specials, distinct values
            f = v.astype(F64)
            fin = f[np.isfinite(f)]
            vals = (f" finite in [{fin.min()!r}, {fin.max()!r}]" if fin.size else " no finite") + "".join(
                f", {k} x {name}" for name, k in (("nan", np.isnan(f).sum()), ("inf", (f == inf).sum()),
                                                  ("-inf", (f == -inf).sum())) if k
            ) + f", {np.unique(f).size} distinct"
        return f"Made({self.layout}, {v.dtype}{v.shape}{vals})"


LAYOUTS = ["C", "C", "F", "perm", "neg", "slice", "byteswap", "unaligned", "readonly", "list"]


@st.composite
def layouts(draw, v, allowed=LAYOUTS, fill=None):
    """``v`` (C-contiguous) in a drawn memory layout, holding the same values."""
    lay = draw(st.sampled_from(allowed))
    nd, dt = v.ndim, v.dtype
    if lay == "F" and nd:
        a = np.array(v, order="F", copy=True)
        return Made(a, v, a, lambda b: b, lay)
    if lay == "perm" and nd >= 2:
        perm = draw(st.permutations(range(nd)))
        base = v.transpose(perm).copy()
        inv = tuple(np.argsort(perm))
        return Made(base.transpose(inv), v, base, lambda b: b.transpose(inv), lay)
    if lay == "neg" and nd >= 1:
        flips = tuple(i for i in range(nd) if draw(st.booleans())) or (nd - 1,)
        base = np.flip(v, flips).copy()
        return Made(np.flip(base, flips), v, base, lambda b: np.flip(b, flips), lay)
    if lay == "slice" and nd >= 1:
        steps = [draw(st.sampled_from([1, 2, 3, -2])) for _ in range(nd)]
        base = np.empty(tuple(abs(k) * s + 1 for k, s in zip(steps, v.shape)), dtype=dt)
        base[...] = (nan if dt.kind == "f" else 77) if fill is None else fill
        sl = tuple(slice(1, None, k) if k > 0 else slice(None, 0, k) for k in steps)

        def view(b):
            w = b[sl]
            return w[tuple(slice(0, s) for s in v.shape)]

        a = view(base)
        a[...] = v
        return Made(a, v, base, view, lay)
    if lay == "byteswap" and dt.itemsize > 1:
        a = v.astype(dt.newbyteorder())
        return Made(a, v, a, lambda b: b, lay)
    if lay == "unaligned" and dt.itemsize > 1:
        raw = np.zeros(v.nbytes + dt.itemsize, dtype=np.uint8)

        def view(b):
            return b[1 : 1 + v.nbytes].view(dt).reshape(v.shape)

        a = view(raw)
        a[...] = v
        return Made(a, v, raw, view, lay)
    if lay == "readonly":
        a = v.copy()
        a.flags.writeable = False
        return Made(a, v, a, lambda b: b, lay)
    if lay == "list" and (v.size or v.ndim < 2):  # floats become float64; 0-d: a Python scalar
        return Made(v.tolist(), np.asarray(v.tolist()), None, None, lay)
    a = v.copy()
    return Made(a, v, a, lambda b: b, "C")


@st.composite
def inputs(draw, dt=None, shape=None, allowed=LAYOUTS, kinds=VALUE_KINDS, specials=True):
    dt = draw(dtypes()) if dt is None else np.dtype(dt)
    shape = draw(shapes()) if shape is None else shape
    v = draw(values(dt, shape, kinds=kinds, specials=specials))
    return draw(layouts(v, allowed))


def axes_for(nd):
    """Axes for an array of ``nd`` dimensions (0-d counts as 1-d): mostly valid, some out of
    range, repeated or of the wrong type."""
    n = max(nd, 1)
    valid = st.integers(-n, n - 1)
    return st.one_of(
        st.none(),
        valid,
        valid,
        valid.map(np.int64),
        st.integers(-n - 2, n + 1),
        st.lists(valid, min_size=1, max_size=n).map(tuple),
        st.lists(st.integers(-n - 1, n), max_size=n + 1).map(tuple),
        st.sampled_from([1.0, True, "0"]),
    )


def runtimes():
    return st.tuples(st.sampled_from([1, 2, 3]), st.sampled_from(SUPPORTED_ISAS))


@contextmanager
def runtime(rt):
    """Run with ``rt = (threads, isa)``; restore the thread count and ISA afterwards."""
    threads, isa = rt
    before = lc.get_num_threads()
    lc.set_num_threads(threads)
    _core._set_isa(isa)
    try:
        yield
    finally:
        lc.set_num_threads(before)
        restore_isa()


# --------------------------------------------------------------------------------------
# checking helpers


def _call(rt, f, *args, **kw):
    with runtime(rt), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            res = f(*args, **kw), None
        except Exception as exc:  # noqa: BLE001 - checked by check_raise
            res = None, exc
    out = "out= " if kw.get("out") is not None else ""
    event(f"{getattr(f, '__name__', f)} {out}{'raised ' + type(res[1]).__name__ if res[1] else 'returned'}")
    return res


def _cats(exc_or_types):
    """Standard categories of an exception (AxisError is a ValueError and an IndexError)."""
    if isinstance(exc_or_types, BaseException):
        return {t for t in ALLOWED if isinstance(exc_or_types, t)}
    if isinstance(exc_or_types, type):
        return {t for t in ALLOWED if issubclass(exc_or_types, t)}
    return set(exc_or_types)


def check_raise(exc, expected, what):
    """``expected``: None (must not raise), MAY, an exception instance or class (must raise
    one of the same category). Returns True when the call succeeded."""
    if exc is not None and not isinstance(exc, ALLOWED):
        raise AssertionError(f"{what}: raised {type(exc).__name__} ({exc}); only TypeError, ValueError or "
                             "IndexError are allowed") from exc
    if expected is MAY:
        return exc is None
    if expected is None:
        if exc is not None:
            raise AssertionError(f"{what}: raised {type(exc).__name__}: {exc}; the reference does not") from exc
        return True
    want = _cats(expected)
    assert exc is not None, f"{what}: did not raise; expected {sorted(t.__name__ for t in want)} ({expected!r})"
    if not _cats(exc) & want:
        raise AssertionError(
            f"{what}: raised {type(exc).__name__} ({exc}); expected {sorted(t.__name__ for t in want)} ({expected!r})"
        ) from exc
    return False


class Snapshot:
    """Bytes of every input (and of the buffers around them) before a call."""

    def __init__(self, **objs):
        self.items = []
        for name, m in objs.items():
            if m is None:
                continue
            if isinstance(m, Made):
                if m.buf is not None:
                    self.items.append((name + " (buffer)", m.buf, m.buf.tobytes(), m.buf.flags.writeable))
                    self.items.append((name, m.obj, m.obj.tobytes(), m.obj.flags.writeable))
                elif isinstance(m.obj, list):
                    self.items.append((name, m.obj, repr(m.obj), None))
            elif isinstance(m, np.ndarray):
                self.items.append((name, m, m.tobytes(), m.flags.writeable))
            elif isinstance(m, list):
                self.items.append((name, m, repr(m), None))

    def check(self, what, skip=()):
        for name, obj, before, writeable in self.items:
            if any(obj is s for s in skip):
                continue
            if isinstance(obj, np.ndarray):
                after = obj.tobytes()
                assert obj.flags.writeable == writeable, f"{what}: the writeable flag of {name} changed"
            else:
                after = repr(obj)
            if after != before:
                raise AssertionError(f"{what}: the call modified its input {name}")


def out_copy(out_made):
    """A copy of the buffer behind an ``out=`` input (None when there is none)."""
    return None if out_made is None or out_made.buf is None else out_made.buf.copy()


def check_out_untouched(out_made, before, what):
    if before is not None:
        assert out_made.buf.tobytes() == before.tobytes(), f"{what}: out= was written by a call that raised"


def check_out_surroundings(out_made, before, what):
    """Only the elements of the ``out=`` view were written (not the buffer around it)."""
    if before is None or out_made.layout not in ("slice", "unaligned"):
        return
    out_made.view(before)[...] = out_made.obj
    assert out_made.buf.tobytes() == before.tobytes(), f"{what}: memory around the out= view was written"


def check_out_surroundings_only(out_made, before, what):
    """Memory around the ``out=`` view untouched (the view itself may have been written)."""
    if before is None or out_made.layout not in ("slice", "unaligned"):
        return
    after = out_made.buf.copy()
    out_made.view(after)[...] = out_made.view(before)
    assert after.tobytes() == before.tobytes(), f"{what}: memory around the out= view was written"


def check_kind(got, scalar, shape, dtype, what):
    assert isinstance(got, (np.ndarray, np.generic)), f"{what}: result is a {type(got).__name__}"
    if scalar is not None:
        assert isinstance(got, np.ndarray) != scalar, (
            f"{what}: got {'an ndarray' if isinstance(got, np.ndarray) else 'a NumPy scalar'}, expected "
            f"{'a NumPy scalar' if scalar else 'an ndarray'}"
        )
    assert got.dtype == dtype, f"{what}: dtype {got.dtype}, expected {dtype}"
    assert np.shape(got) == tuple(shape), f"{what}: shape {np.shape(got)}, expected {tuple(shape)}"


def cast_want(want, dt):
    """A float64 expectation as the result dtype would hold it (overflow to +-inf)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.asarray(want, dtype=F64).astype(dt).astype(F64)


def np_reduction(shape, axis, keepdims):
    """(result shape, full-reduction scalar?) by NumPy's rules, or the exception NumPy raises
    (0-d inputs count as 1-d, as in SciPy)."""
    z = np.zeros(shape if len(shape) else (1,))
    try:
        r = np.sum(z, axis=axis, keepdims=keepdims)
    except Exception as exc:  # noqa: BLE001
        return None, exc
    return (np.shape(r), np.ndim(r) == 0), None


def norm_axes(axis, nd):
    nd = max(nd, 1)
    if axis is None:
        return tuple(range(nd))
    if isinstance(axis, tuple):
        return tuple(int(a) % nd for a in axis)
    return (int(axis) % nd,)


@st.composite
def out_arrays(draw, shape, dt, allowed=("C", "F", "perm", "neg", "slice", "unaligned")):
    """(Made out, expected exception or None): a correct out= in a drawn layout, or a faulty one."""
    fault = draw(st.sampled_from([None] * 6 + ["shape", "dtype", "readonly", "list", "byteswap"]))
    shape = tuple(shape)
    odt = dt
    if fault == "shape":
        shape = shape + (1,) if draw(st.booleans()) or not shape else shape[:-1] + (shape[-1] + 1,)
    elif fault == "dtype":
        odt = draw(st.sampled_from([t for t in FLOATS + [np.dtype(np.int64)] if t != dt]))
    fill = np.array(-7.25 if odt.kind == "f" else 7).astype(odt)
    v = np.full(shape, fill, dtype=odt)
    if fault == "list":
        return Made(v.tolist() if v.ndim else [float(fill)], v, None, None, "list"), TypeError
    if fault == "readonly":
        m = draw(layouts(v, ["readonly"]))
        return m, ValueError
    if fault == "byteswap":
        if odt.itemsize == 1:
            return draw(layouts(v, ["C"])), None
        return draw(layouts(v, ["byteswap"])), ValueError
    m = draw(layouts(v, list(allowed), fill=fill))
    return m, (ValueError if fault else None)


def _maybe_bitwise_threads(rt, big, f, args, kw, got, what):
    """For inputs spanning several blocks, the result with one thread has the same bits."""
    if not big or rt[0] == 1:
        return
    again, exc = _call((1, rt[1]), f, *args, **kw)
    assert exc is None, f"{what}: raised with one thread: {exc!r}"
    if isinstance(got, tuple):
        for g, a in zip(got, again):
            assert_bitwise_equal(g, a, what + " (one thread)")
    else:
        assert_bitwise_equal(got, again, what + " (one thread)")


def _short(prop):
    def test(data):
        prop(data)

    test.__doc__ = prop.__doc__
    return settings(max_examples=SHORT_EXAMPLES, derandomize=True, database=None, deadline=None,
                    phases=(Phase.explicit, Phase.generate), suppress_health_check=_HEALTH,
                    print_blob=True)(given(data=st.data())(test))


def _long(prop):
    def test(data):
        prop(data)

    test.__doc__ = prop.__doc__
    return pytest.mark.fuzz(settings(max_examples=LONG_EXAMPLES, deadline=None, suppress_health_check=_HEALTH,
                                     print_blob=True)(given(data=st.data())(test)))


# --------------------------------------------------------------------------------------
# logsumexp


def _weak_dtype(obj):
    return obj if type(obj) in (bool, int, float) else np.asarray(obj).dtype


def _lse_result_dtype(a_obj, b_obj):
    if b_obj is None:
        return _result_dtype(np.asarray(a_obj).dtype)
    return _result_dtype(np.result_type(_weak_dtype(a_obj), _weak_dtype(b_obj)))


@st.composite
def broadcast_companion(draw, shape, dt_strategy, kinds=VALUE_KINDS, specials=True):
    """(Made or python scalar, shape) of an array broadcastable against ``shape`` (sometimes
    widening it, sometimes not broadcastable at all)."""
    how = draw(st.sampled_from(["same", "same", "suffix", "ones", "grow", "scalar", "bad"]))
    shape = tuple(shape)
    if how == "scalar":
        return draw(st.sampled_from([2.0, 0.5, 3, True, -1.5, 0.0, 1e300])), ()
    if how == "suffix" and shape:
        bshape = shape[draw(st.integers(1, len(shape))):]
    elif how == "ones" and shape:
        bshape = tuple(1 if draw(st.booleans()) else s for s in shape)
    elif how == "grow":
        bshape = (2,) + shape
    elif how == "bad":
        big = [i for i, s in enumerate(shape) if s >= 2]
        if not big:
            bshape = shape + (3,) if shape else (3,)
            bshape = (2,) + bshape if len(shape) >= 1 and shape[0] not in (0, 1, 2) else bshape
        else:
            i = draw(st.sampled_from(big))
            bshape = shape[:i] + (shape[i] + 1,) + shape[i + 1:]
    else:
        bshape = shape
    if prod(bshape) > 4 * (BLOCK * 3):
        bshape = shape
    dt = draw(dt_strategy)
    v = draw(values(dt, bshape, kinds=kinds, specials=specials))
    return draw(layouts(v)), bshape


def _weights_values(draw, shape):
    return draw(broadcast_companion(shape, st.sampled_from([F64, F64, F32, F16, np.dtype(np.int8), BOOL])))


def _prop_logsumexp(data):
    """logsumexp against scipy.special.logsumexp (float64), with b=, where=, out=."""
    d = data.draw
    a = d(inputs())
    axis = d(axes_for(a.vals.ndim))
    keepdims, return_sign = d(st.booleans()), d(st.booleans())
    b = bshape = where = None
    if d(st.booleans()):
        b, bshape = _weights_values(d, a.vals.shape)
    where_dtype_bad = False
    if d(st.integers(0, 3)) == 0:
        wshape = d(st.sampled_from([a.vals.shape, a.vals.shape[1:], ()]))
        if d(st.integers(0, 9)) == 0:
            where = d(layouts(d(values(np.dtype(np.int8), wshape))))
            where_dtype_bad = True
        else:
            where = d(layouts(d(values(BOOL, wshape))))
    b_obj = b.obj if isinstance(b, Made) else b
    where_obj = None if where is None else where.obj
    rt = d(runtimes())
    what = f"logsumexp(a={a!r}, axis={axis!r}, b={b!r}, keepdims={keepdims}, return_sign={return_sign}, where={where!r})"

    # expectation: dtype, shape and the exception (documented order: dtypes, where dtype,
    # broadcasting, axes, out=)
    expected = None
    bvals = None if b is None else (b.vals if isinstance(b, Made) else np.asarray(b))
    bcast = a.vals.shape
    rdt = _lse_result_dtype(a.obj, b_obj)
    if where_dtype_bad:
        expected = TypeError
    else:
        try:
            shapes_ = [a.vals.shape] + ([bvals.shape] if b is not None else []) + (
                [where.vals.shape] if where is not None else [])
            bcast = np.broadcast_shapes(*shapes_)
        except ValueError as exc:
            expected = exc
    red = None
    if expected is None:
        red, expected = np_reduction(bcast, axis, keepdims)
    out = out_fault = None
    if d(st.integers(0, 3)) == 0:
        oshape = red[0] if red is not None else ()
        out, out_fault = d(out_arrays(oshape, rdt))
        if expected is None:
            expected = out_fault
    alias = False
    if (expected is None and out is None and isinstance(a.obj, np.ndarray) and a.obj.flags.writeable
            and a.obj.dtype == rdt and a.obj.ndim >= 1 and not keepdims and not return_sign and b is None
            and where is None and norm_axes(axis, a.obj.ndim) == (a.obj.ndim - 1,)
            and a.obj.shape[-1] >= 1 and d(st.integers(0, 4)) == 0):
        alias = True  # out= a view of the input's first column (partial overlap)
        out = Made(a.obj[..., 0], a.vals[..., 0].copy(), None, None, "alias")

    snap = Snapshot(a=a, b=b if isinstance(b, Made) else None, where=where)
    out_before = out_copy(out)
    kw = dict(axis=axis, b=b_obj, keepdims=keepdims, return_sign=return_sign, where=where_obj)
    if out is not None:
        kw["out"] = out.obj
    got, exc = _call(rt, lc.logsumexp, a.obj, **kw)
    if not check_raise(exc, expected, what):
        snap.check(what)
        check_out_untouched(out, out_before, what + " [raised]")
        return
    snap.check(what, skip=(a.obj, a.buf) if alias else ())
    shape, scalar = red
    value = got[0] if return_sign else got
    if out is not None:
        assert value is out.obj, f"{what}: did not return out"
        check_out_surroundings(out, out_before, what)
        scalar = None
    check_kind(value, scalar, shape, rdt, what)
    if return_sign:
        check_kind(got[1], scalar if out is None else None, shape, rdt, what + " sign")

    # value: SciPy in float64 on the inputs as the library sees them (compute dtype), zero
    # weights removing their entries whatever their value (documented)
    cdt = _compute_dtype(rdt)
    A = _in_dtype(a.vals, cdt)
    W = None
    if b is not None:
        W = _in_dtype(bvals, cdt)
    if where is not None:
        W = np.where(where.vals, 1.0 if W is None else W, 0.0)
    if W is not None:
        A, W = np.broadcast_arrays(A, W)
        A = np.where(W == 0, -inf, A)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if A.size == 0:
            want = np.full(shape, -inf)
            want_sign = np.full(shape, -1.0)
            cond = np.ones(shape)
        else:
            want, want_sign = (np.asarray(v) for v in
                               sps.logsumexp(A, axis=axis, b=W, keepdims=keepdims, return_sign=True))
            cond = np.ones(np.shape(want))
            if W is not None:
                # SciPy overflows on weights near the float64 maximum (logsumexp([0, 0],
                # b=[1.7e308, 1.7e308]) is inf, not 710.4) and underflows on subnormal ones:
                # such rows (finite entries) use the sum of the terms scaled in log space
                sv, ssign, cond, ok = _lse_scaled_weights(A, W, axis, keepdims)
                bmax = np.max(np.abs(np.where(np.isfinite(W), np.atleast_1d(W), 0.0)), axis=norm_axes(axis, W.ndim),
                              keepdims=keepdims)
                huge = ok & ((bmax > 1e300) | (bmax < 1e-290))
                want = np.where(huge, sv, want)
                want_sign = np.where(huge, ssign, want_sign)
                # infinite terms (+inf entries, infinite weights on entries above -inf): the
                # sum is +-inf by their sign, NaN when they have both signs (documented for
                # +inf entries). SciPy's answer depends on whether another entry's exp
                # overflows (logsumexp([inf, 710], b=[1, -1]) is NaN, with 700 it is inf)
                # and an infinite weight over max|b| gives NaN.
                covered, pv, ps = _infinite_terms_rule(A, W, axis, keepdims)
                want = np.where(covered, pv, want)
                want_sign = np.where(covered, ps, want_sign)
            if not return_sign:
                want = np.where(want_sign < 0, nan, want)
    cond = np.where(np.isnan(cond), 1.0, cond)
    ill = cond * tol_for(rdt) > 1e-2  # the sign of a (nearly) cancelled sum is rounding
    g_val = np.asarray(value, dtype=F64)
    want = np.where(ill, g_val, cast_want(want, rdt))
    factor = float(np.max(np.where(ill, 1.0, cond), initial=1.0))
    scale = finite_scale(A)
    assert_close(value, want, rdt, scale=scale, factor=4 * factor, what=what + " vs scipy")
    if return_sign:
        assert_close(got[1], np.where(ill, np.asarray(got[1], dtype=F64), want_sign), rdt, what=what + " sign vs scipy")
    if b is None and A.size and not alias:
        _check_lse_log1p(value, A if where is None else np.where(np.broadcast_to(where.vals, A.shape), A, -inf),
                         axis, keepdims, rdt, what)
    if out is None:
        _maybe_bitwise_threads(rt, a.vals.size >= BLOCK, lc.logsumexp, (a.obj,), kw, got, what)


def _lse_scaled_weights(A, W, axis, keepdims):
    """(value, sign, condition number, rows where it applies) of log|sum W exp(A)| per row,
    from the log-magnitudes L = A + log|W| of the terms: M + log|sum sign(W) exp(L - M)|
    with M = max L (no overflow or underflow for any finite weights); rows with NaN, +inf
    or infinite weights are not covered."""
    axes = norm_axes(axis, A.ndim)
    A, W = np.atleast_1d(A), np.atleast_1d(W)
    with np.errstate(all="ignore"):
        ok = np.all(~np.isnan(A) & (A != inf) & np.isfinite(W), axis=axes, keepdims=True)
        L = np.where(W != 0, A + np.log(np.abs(W)), -inf)
        M = np.max(L, axis=axes, keepdims=True)
        ok &= np.isfinite(M)
        MM = np.where(ok, M, 0.0)
        t = np.sign(W) * np.exp(L - MM)
        s = np.sum(t, axis=axes, keepdims=True)
        val = np.log(np.abs(s)) + MM
        cond = np.sum(np.abs(t), axis=axes, keepdims=True) / np.abs(s)
        sign = np.sign(s)
    out = [val, sign, np.where(ok, cond, 1.0), ok]
    if not keepdims:
        out = [np.squeeze(v, axis=axes) for v in out]
    return out


def _infinite_terms_rule(A, W, axis, keepdims):
    """(rows covered, value, sign) for rows with infinite terms b * exp(a): a = +inf with
    b != 0, or an infinite b on a > -inf. Covered: no NaN and no infinite weight on a -inf
    entry (inf * 0, NaN as in SciPy). Value +-inf by the terms' sign, NaN for both signs."""
    axes = norm_axes(axis, A.ndim)
    A, W = np.atleast_1d(A), np.atleast_1d(W)
    term = ((A == inf) & (W != 0)) | (np.isinf(W) & (A > -inf))
    pos = np.any(term & (W > 0), axis=axes, keepdims=True)
    neg = np.any(term & (W < 0), axis=axes, keepdims=True)
    bad = np.any(np.isnan(A) | np.isnan(W) | (np.isinf(W) & (A == -inf)), axis=axes, keepdims=True)
    covered = (pos | neg) & ~bad
    value = np.where(pos & neg, nan, inf)
    sign = np.where(pos & neg, nan, np.where(pos, 1.0, -1.0))
    out = [covered, value, sign]
    return out if keepdims else [np.squeeze(v, axis=axes) for v in out]


def _check_lse_log1p(got, A, axis, keepdims, rdt, what):
    """Rows with a finite maximum m and no NaN: lse - m = log1p(sum of the other terms) to the
    dtype's relative accuracy (SciPy >= 1.15 evaluates it this way: logsumexp([0, -40]) is
    4.25e-18, not 0)."""
    axes = norm_axes(axis, A.ndim)
    A = np.atleast_1d(A)
    with np.errstate(all="ignore"):
        m = np.max(A, axis=axes, keepdims=True)
        ok = np.isfinite(m) & ~np.any(np.isnan(A), axis=axes, keepdims=True)
        mm = np.where(ok, m, 0.0)
        e = np.where(A == mm, 0.0, np.exp(A - mm))
        k = np.sum(A == mm, axis=axes, keepdims=True)
        t = np.sum(e, axis=axes, keepdims=True) + (k - 1)
        dref = np.log1p(t)
    if not keepdims:
        m, ok, dref = (np.squeeze(v, axis=axes) for v in (m, ok, dref))
    g = np.asarray(got, dtype=F64).reshape(np.shape(dref))
    if not ok.any():
        return
    g, m, dref = g[ok], m[ok], dref[ok]
    big = np.maximum(np.abs(m), np.abs(g))
    with np.errstate(all="ignore"):
        ulp = np.spacing(big.astype(rdt)).astype(F64)
        err = np.abs(g - (m + dref))
        bound = 4 * tol_for(rdt) * np.abs(dref) + 2 * ulp + 2 * np.spacing(np.abs(m))
    bad = err > bound
    if bad.any():
        i = int(np.argmax(err / np.maximum(bound, 1e-300)))
        raise AssertionError(
            f"{what}: lse - max is not accurate to the dtype (log1p form): max {m[i]!r}, got lse {g[i]!r}, "
            f"want {m[i] + dref[i]!r} (lse - max = {dref[i]!r}), |err| {err[i]:.3g} > {bound[i]:.3g}"
        )


test_logsumexp = _short(_prop_logsumexp)
test_logsumexp_long = _long(_prop_logsumexp)


# --------------------------------------------------------------------------------------
# softmax / log_softmax


def _special_rows(x, axis):
    """Rows where logitcore documents a deviation from SciPy (+inf entries, all -inf)."""
    xa = np.atleast_1d(x)
    axes = norm_axes(axis, xa.ndim)
    if xa.size == 0:
        return np.zeros(xa.shape, bool)
    with np.errstate(invalid="ignore"):
        s = np.any(xa == inf, axis=axes, keepdims=True) | np.all(xa == -inf, axis=axes, keepdims=True)
    return np.broadcast_to(s, xa.shape)


def _prop_softmax(data):
    """softmax / log_softmax against logitcore.reference and SciPy, with out= (in place too)."""
    d = data.draw
    name = d(st.sampled_from(["softmax", "log_softmax"]))
    fn = getattr(lc, name)
    x = d(inputs())
    axis = d(axes_for(x.vals.ndim))
    rt = d(runtimes())
    rdt = _result_dtype(np.asarray(x.obj).dtype)
    shape = x.vals.shape
    red, expected = np_reduction(shape, axis, False)
    out = None
    inplace = False
    how = d(st.sampled_from([None, None, None, "out", "alias", "overlap"]))
    native_float = isinstance(x.obj, np.ndarray) and x.obj.dtype in (F32, F64) and x.obj.flags.writeable
    if how == "out":
        out, fault = d(out_arrays(shape, rdt))
        if expected is None:
            expected = fault
    elif how == "alias" and native_float:
        out, inplace = Made(x.obj, x.vals, None, None, "alias"), True
    elif how == "overlap" and native_float and x.vals.size:
        k = d(st.integers(1, 3))
        buf = np.empty(x.vals.size + k, dtype=x.vals.dtype)
        xo = buf[: x.vals.size].reshape(shape)
        xo[...] = x.vals
        x = Made(xo, x.vals, None, None, "overlap")
        out, inplace = Made(buf[k:].reshape(shape), x.vals, None, None, "overlap"), True
    what = f"{name}(x={x!r}, axis={axis!r}, out={out!r})"
    snap = Snapshot(x=x)
    out_before = out_copy(out)
    kw = dict(axis=axis)
    if out is not None:
        kw["out"] = out.obj
    got, exc = _call(rt, fn, x.obj, **kw)
    if not check_raise(exc, expected, what):
        snap.check(what)
        check_out_untouched(out, out_before, what + " [raised]")
        return
    snap.check(what, skip=(x.obj, x.buf, out.obj) if inplace else ())
    if out is not None:
        assert got is out.obj, f"{what}: did not return out"
        check_out_surroundings(out, out_before, what)
    check_kind(got, None if out is not None else len(shape) == 0, shape, rdt, what)
    x64 = _in_dtype(x.vals, _compute_dtype(rdt))
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ax = norm_axes(axis, x64.ndim) if axis is not None else None
        want = getattr(ref, name)(x64, axis=ax)
        scipy_want = getattr(sps, name)(np.atleast_1d(x64), axis=ax) if x64.size else want
    want = cast_want(want, rdt)
    scale = finite_scale(x64)
    rel = name == "softmax"
    assert_close(got, want, rdt, scale=scale, rel=rel, what=what + " vs reference")
    special = _special_rows(x64, ax).reshape(np.shape(want))
    theirs = np.where(special, want, cast_want(np.asarray(scipy_want).reshape(np.shape(want)), rdt))
    assert_close(got, theirs, rdt, scale=scale, rel=rel, factor=4, what=what + " vs scipy")
    if out is None:
        _maybe_bitwise_threads(rt, x.vals.size >= BLOCK, fn, (x.obj,), kw, got, what)


test_softmax = _short(_prop_softmax)
test_softmax_long = _long(_prop_softmax)


# --------------------------------------------------------------------------------------
# softmax_entropy / entropy


def _prop_entropies(data):
    """softmax_entropy and entropy against logitcore.reference (float64)."""
    d = data.draw
    name = d(st.sampled_from(["softmax_entropy", "entropy"]))
    fn = getattr(lc, name)
    if name == "entropy" and d(st.booleans()):  # distributions (with zeros), as well as anything
        dt = d(dtypes("f"))
        shape = d(shapes(min_ndim=1))
        z = d(values(F64, shape, specials=False))
        with np.errstate(all="ignore"):
            p = ref.softmax(np.where(z < np.median(z) if z.size else z, -inf, z), axis=-1) if z.size else z
            x = d(layouts(p.astype(dt)))
    else:
        x = d(inputs())
    axis = d(st.one_of(st.just(-1), axes_for(x.vals.ndim)))
    keepdims = d(st.booleans())
    rt = d(runtimes())
    rdt = _result_dtype(np.asarray(x.obj).dtype)
    red, expected = np_reduction(x.vals.shape, axis, keepdims)
    what = f"{name}(x={x!r}, axis={axis!r}, keepdims={keepdims})"
    snap = Snapshot(x=x)
    got, exc = _call(rt, fn, x.obj, axis=axis, keepdims=keepdims)
    snap.check(what)
    if not check_raise(exc, expected, what):
        return
    shape, scalar = red
    check_kind(got, scalar, shape, rdt, what)
    x64 = _in_dtype(x.vals, _compute_dtype(rdt))
    with np.errstate(all="ignore"):
        want = getattr(ref, name)(x64, axis=norm_axes(axis, x64.ndim), keepdims=keepdims)
    want = cast_want(np.reshape(want, shape), rdt)
    scale = finite_scale(x64)
    if name == "entropy":  # terms p log p: magnitudes up to max|p log p|
        with np.errstate(all="ignore"):
            scale = finite_scale(x64 * np.log(np.abs(x64)))
    n = prod(np.atleast_1d(x64).shape[a] for a in norm_axes(axis, x64.ndim)) if x64.size else 1
    assert_close(got, want, rdt, scale=scale, factor=4 * max(1.0, math.sqrt(n) / 8), what=what + " vs reference")
    _maybe_bitwise_threads(rt, x.vals.size >= BLOCK, fn, (x.obj,), dict(axis=axis, keepdims=keepdims), got, what)


test_entropies = _short(_prop_entropies)
test_entropies_long = _long(_prop_entropies)


# --------------------------------------------------------------------------------------
# LogSumExpState


def _prop_state(data):
    """LogSumExpState: update / merge / from_arrays / copy / pickle against SciPy on the
    concatenated chunks; a call that raises leaves the state as it was."""
    d = data.draw
    rows = d(st.sampled_from([0, 1, 1, 2, 3, 5]))
    sdt = d(st.sampled_from(FLOATS))
    state = lc.LogSumExpState(rows, dtype=sdt)
    seen = [np.zeros((rows, 0))]
    tdt = sdt  # least precise dtype involved

    def chunk(k=None):
        k = d(st.sampled_from([0, 1, 3, 7, BLOCK + 1])) if k is None else k
        shape = (k,) if rows == 1 and d(st.booleans()) else (rows, k)
        return d(inputs(shape=shape))

    def state_bytes(s):
        return s.max.tobytes() + s.sumexp.tobytes()

    rt = d(runtimes())
    ops = d(st.lists(st.sampled_from(["update", "update", "update", "merge", "from_arrays", "copy", "pickle",
                                      "bad_chunk", "bad_merge", "bad_from"]), min_size=1, max_size=5))
    for op in ops:
        what = f"LogSumExpState(rows={rows}, dtype={sdt}).{op}"
        before = state_bytes(state)
        if op in ("update", "bad_chunk"):
            c = chunk()
            expected = None
            if op == "bad_chunk":
                c = d(inputs(shape=(rows + 1, 2)))
                expected = ValueError
            snap = Snapshot(chunk=c)
            got, exc = _call(rt, state.update, c.obj)
            snap.check(what)
            if check_raise(exc, expected, what + f"({c!r})"):
                assert got is state
                seen.append(_in_dtype(c.vals, _compute_dtype(c.vals.dtype)).reshape(rows, c.vals.shape[-1]))
                if _compute_dtype(c.vals.dtype) == F32:
                    tdt = F16 if tdt == F16 else F32
            else:
                assert state_bytes(state) == before, f"{what}: a raising update changed the state"
        elif op in ("merge", "bad_merge"):
            other_rows = rows if op == "merge" else rows + 1
            other = lc.LogSumExpState(other_rows)
            c = d(inputs(shape=(other_rows, d(st.sampled_from([1, 4, BLOCK + 1]))), dt=d(st.sampled_from(FLOATS))))
            other.update(c.obj)
            o_before = state_bytes(other)
            arg = other if op == "merge" or d(st.booleans()) else "not a state"
            expected = None if op == "merge" else (ValueError if arg is other else TypeError)
            got, exc = _call(rt, state.merge, arg)
            assert state_bytes(other) == o_before, f"{what}: merge modified its argument"
            if check_raise(exc, expected, what):
                assert got is state
                seen.append(_in_dtype(c.vals, _compute_dtype(c.vals.dtype)))
                if _compute_dtype(c.vals.dtype) == F32:
                    tdt = F16 if tdt == F16 else F32
            else:
                assert state_bytes(state) == before, f"{what}: a raising merge changed the state"
        elif op in ("from_arrays", "bad_from"):
            m, s = np.array(state.max), np.array(state.sumexp)
            expected = None
            if op == "bad_from":
                fault = d(st.sampled_from(["neg", "inf", "ninf_max", "shape", "2d"]))
                if fault in ("neg", "inf", "ninf_max") and rows == 0:
                    fault = "shape"
                if fault == "neg":
                    s[d(st.integers(0, rows - 1))] = -1.0
                elif fault == "inf":
                    s[d(st.integers(0, rows - 1))] = inf
                elif fault == "ninf_max":
                    i = d(st.integers(0, rows - 1))
                    m[i], s[i] = -inf, 2.0
                elif fault == "shape":
                    s = np.append(s, 1.0)
                else:
                    m, s = m.reshape(1, -1), s.reshape(1, -1)
                expected = ValueError
            mm, ss = d(layouts(m)), d(layouts(s))
            snap = Snapshot(max=mm, sumexp=ss)
            got, exc = _call(rt, lc.LogSumExpState.from_arrays, mm.obj, ss.obj, dtype=sdt)
            snap.check(what)
            if check_raise(exc, expected, what):
                assert np.array_equal(got.max, state.max, equal_nan=True)
                assert np.array_equal(got.sumexp, state.sumexp, equal_nan=True)
                state = got
        elif op == "copy":
            state = state.copy()
            assert state_bytes(state) == before
        else:
            state = pickle.loads(pickle.dumps(state))
            assert state_bytes(state) == before and state.dtype == sdt
    what = f"LogSumExpState(rows={rows}, dtype={sdt}) after {ops}"
    with warnings.catch_warnings():  # float16 results overflow to inf with a RuntimeWarning
        warnings.simplefilter("ignore", RuntimeWarning)
        res = state.result()
    check_kind(res, False, (rows,), sdt, what)
    allx = np.concatenate(seen, axis=1)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = sps.logsumexp(allx, axis=1) if allx.shape[1] else np.full(rows, -inf)
    assert_close(res, cast_want(want, sdt), tdt, scale=finite_scale(allx), factor=4, what=what)


test_state = _short(_prop_state)
test_state_long = _long(_prop_state)


# --------------------------------------------------------------------------------------
# entropy_normalize


def _row_ranges(X, logits, cdt=None):
    """Per row (rows along the last axis, float64): invalid, support count, ties count."""
    with np.errstate(invalid="ignore"):
        if logits:
            invalid = np.any(np.isnan(X) | (X == inf), axis=-1)
            # logits further below the row maximum than |kWMin| ln 2 are outside the support
            # (documented): w = (x - max) log2 e is clamped at kWMin
            kw_min = -1e18 if np.dtype(cdt or X.dtype) == np.float32 else -1e150
            with np.errstate(invalid="ignore", over="ignore"):
                mxl = np.max(np.where(np.isnan(X), -inf, X), axis=-1, initial=-inf)
                support = (X > -inf) & ((X - mxl[..., None]) * 1.4426950408889634 > kw_min)
        else:
            invalid = np.any(np.isnan(X) | np.isinf(X) | (X < 0), axis=-1)
            support = X > 0
        mx = np.max(np.where(support, X, -inf), axis=-1, initial=-inf)
        ties = support & (X == mx[..., None])
    return invalid, support, support.sum(-1), ties.sum(-1)


def _well_scaled(row, logits):
    """A row whose log-weights span at most 1e4 with distinct values at least 1e-3 apart: the
    default search (50 passes) must converge on it."""
    with np.errstate(divide="ignore"):
        w = np.unique(row if logits else np.log(row))
    return w.size < 2 or (w[-1] - w[0] <= 1e4 and np.min(np.diff(w)) >= 1e-3)


def _prop_entropy_normalize(data):
    """entropy_normalize: H(q) = target, rows sum to 1, zeros, ties and order kept, q a power
    of p, documented clipping and errors; a raising call leaves out= untouched."""
    d = data.draw
    logits = d(st.booleans())
    renormalize = d(st.booleans()) if not logits else d(st.integers(0, 5)) == 0
    shape = d(shapes(min_ndim=0, max_ndim=3, max_dim=4))
    nd = max(len(shape), 1)
    ax = d(st.integers(-nd, nd - 1))
    if logits:
        x = d(inputs(shape=shape))
    else:
        dt = d(dtypes())
        z = d(values(F64, shape, specials=d(st.integers(0, 3)) == 0))
        z1 = np.moveaxis(np.atleast_1d(z), ax, -1)
        with np.errstate(all="ignore"):
            p = ref.softmax(z1, axis=-1) if z1.size else z1
        if dt.kind == "f":
            with np.errstate(all="ignore"):
                pv = p.astype(dt)
        else:  # counts (valid with renormalize) or one-hot rows
            p = np.nan_to_num(p)
            pv = (p == np.max(p, axis=-1, keepdims=True, initial=-inf)).astype(dt) if not renormalize else \
                np.round(p * 3).astype(dt)
        fault = d(st.sampled_from([None] * 4 + ["scale", "neg", "zero_row", "nan"]))
        if fault and pv.size:
            r = d(st.integers(0, pv.size // max(pv.shape[-1], 1) - 1)) if pv.shape[-1] else 0
            row = pv.reshape(-1, pv.shape[-1])[r] if pv.shape[-1] else pv.reshape(-1)
            if fault == "scale" and dt.kind == "f":
                row *= row.dtype.type(d(st.sampled_from([0.5, 2.0, 1e-3])))
            elif fault == "neg" and dt.kind == "f" or fault == "neg" and dt.kind == "i":
                row[d(st.integers(0, row.size - 1))] = -1
            elif fault == "zero_row":
                row[...] = 0
            elif fault == "nan" and dt.kind == "f":
                row[d(st.integers(0, row.size - 1))] = nan
        pv = np.moveaxis(pv, -1, ax).reshape(shape) if len(shape) else pv.reshape(())
        x = d(layouts(np.ascontiguousarray(pv)))
    rdt = _result_dtype(np.asarray(x.obj).dtype)
    cdt = _compute_dtype(rdt)
    xa = np.atleast_1d(_in_dtype(x.vals, cdt))
    X = np.moveaxis(xa, ax, -1)
    batch, n = X.shape[:-1], X.shape[-1]
    X = X.reshape(prod(batch), n)
    nrows = X.shape[0]
    invalid, support, S, T = _row_ranges(X, logits, cdt)
    valid = ~invalid & (S > 0)
    with np.errstate(divide="ignore"):
        h_lo, h_hi = np.log(np.maximum(T, 1)), np.log(np.maximum(S, 1))

    # the target: scalar or per row, inside or outside the reachable range
    tkind = d(st.sampled_from(["inside", "inside", "above", "below", "any"]))
    per_row = d(st.booleans()) and nrows > 0
    r0 = int(np.flatnonzero(valid)[0]) if valid.any() else 0
    lo = h_lo if per_row else np.full(nrows, h_lo[r0] if nrows else 0.0)
    hi = h_hi if per_row else np.full(nrows, h_hi[r0] if nrows else 1.0)
    f = d(st.floats(0.02, 0.98))
    delta = d(st.sampled_from([1e-3, 0.3, 5.0, inf]))
    if tkind == "inside":
        t = np.where(hi - lo > 1e-3, lo + f * (hi - lo), hi + 0.5)
    elif tkind == "above":
        t = hi + delta
    elif tkind == "below":
        t = lo - delta
    else:
        t = np.full(nrows, d(st.floats(-1.0, 10.0)))
    t = t if per_row else (t[:1] if nrows else np.array([1.0]))
    use_perp = d(st.integers(0, 4)) == 0
    out_of_range = d(st.sampled_from(["clip", "clip", "raise"]))
    max_iter = d(st.sampled_from([50, 50, 50, 1, 3]))
    tol = d(st.sampled_from([None, None, 1e-3]))
    return_info = d(st.integers(0, 4)) > 0
    arg_fault = d(st.sampled_from([None] * 8 + ["axis_tuple", "axis_none", "axis_range", "both", "neither",
                                               "target_nan", "policy", "max_iter", "tol", "target_shape"]))
    expected = None
    with np.errstate(over="ignore"):
        tv = np.exp(t) if use_perp else t
    tobj = tv.reshape(batch) if per_row else d(st.sampled_from([float(tv[0]), np.float64(tv[0]), np.array(tv[0])]))
    kw = dict(axis=ax, logits=logits, renormalize=renormalize, out_of_range=out_of_range, max_iter=max_iter,
              tol=tol, return_info=return_info)
    kw["perplexity" if use_perp else "target"] = tobj
    if arg_fault == "axis_tuple":
        kw["axis"], expected = (ax,), TypeError
    elif arg_fault == "axis_none":
        kw["axis"], expected = None, TypeError
    elif arg_fault == "axis_range":
        kw["axis"], expected = nd + 1, ValueError
    elif arg_fault == "both":
        kw["target"], kw["perplexity"], expected = 1.0, 2.0, ValueError
    elif arg_fault == "neither":
        kw.pop("target", None), kw.pop("perplexity", None)
        expected = ValueError
    elif arg_fault == "target_nan":
        kw.pop("perplexity", None)
        kw["target"], expected = nan, ValueError
    elif arg_fault == "policy":
        kw["out_of_range"], expected = "wrap", ValueError
    elif arg_fault == "max_iter":
        kw["max_iter"], expected = 0, ValueError
    elif arg_fault == "tol":
        kw["tol"], expected = -1.0, ValueError
    elif arg_fault == "target_shape" and len(batch) >= 1 and batch[-1] >= 2:
        kw.pop("perplexity", None)
        kw["target"], expected = np.ones(batch[-1] + 1), ValueError
    if expected is None and use_perp and np.any(np.asarray(tv) < 1):
        expected = ValueError
    out = None
    if d(st.integers(0, 2)) == 0:
        out, fault = d(out_arrays(x.vals.shape, rdt))
        if expected is not None and fault is not None:
            expected = _cats(expected) | _cats(fault)  # two bad arguments: either may be reported
        else:
            expected = expected or fault
    # data errors (ValueError), certain or on a boundary
    tt = np.broadcast_to(np.asarray(t, dtype=F64), (nrows,)) if nrows else np.zeros(0)
    tol_eff = kw["tol"] if kw["tol"] is not None else (1e-9 if cdt == F64 else 1e-5)
    band = max(1e-4, 2 * tol_eff) if isinstance(tol_eff, float) else 1e-4  # within tol of a bound: either
    if expected is None and nrows:
        must = may = False
        if n == 0:
            must = True
        else:
            must |= bool(np.any(~valid))
            if not logits and not renormalize:
                with np.errstate(invalid="ignore"):
                    err = np.abs(X.sum(-1) - 1)
                thr = max(1e-6, float(np.finfo(x.vals.dtype).eps) if x.vals.dtype.kind == "f" else 0.0)
                must |= bool(np.any(valid & (err > 2 * thr)))
                may |= bool(np.any(valid & (err > thr / 2) & (err <= 2 * thr)))
            if out_of_range == "raise":
                outside = valid & ((tt > h_hi + band) | (tt < h_lo - band))
                edge = valid & ((np.abs(tt - h_hi) <= band) | (np.abs(tt - h_lo) <= band))
                must |= bool(np.any(outside))
                may |= bool(np.any(edge))
        expected = ValueError if must else (MAY if may else None)

    rt = d(runtimes())
    what = (f"entropy_normalize(x={x!r}, {', '.join(f'{k}={v!r}' for k, v in kw.items() if k not in ('target', 'perplexity'))}, "
            f"{'perplexity' if use_perp else 'target'}={tobj!r}, out={out!r})")
    snap = Snapshot(x=x, out=None, target=tobj if isinstance(tobj, np.ndarray) else None)
    out_before = out_copy(out)
    if out is not None:
        kw["out"] = out.obj
    got, exc = _call(rt, lc.entropy_normalize, x.obj, **kw)
    snap.check(what)
    if not check_raise(exc, expected, what):
        # documented: a failing call leaves its failing rows of out= as they were (rows that
        # succeeded hold their results) and never writes around the out= view
        if out is not None and out_before is not None and nrows and exc is not None and out.obj.shape == x.vals.shape:
            check_out_surroundings_only(out, out_before, what + " [raised]")
            must_fail = invalid | (S == 0)
            if out_of_range == "raise":
                must_fail |= ~invalid & (S > 0) & ((tt > h_hi + band) | (tt < h_lo - band))
            rows_of = lambda arr: np.moveaxis(np.atleast_1d(np.asarray(arr, dtype=F64)), ax, -1).reshape(nrows, n)
            before_rows = rows_of(out.view(out_before.copy()))
            after_rows = rows_of(out.obj)
            for r in np.flatnonzero(must_fail):
                assert np.array_equal(before_rows[r], after_rows[r], equal_nan=True), (
                    f"{what}: row {r} failed but out= was written there"
                )
        elif exc is not None:
            check_out_untouched(out, out_before, what + " [raised]")
        return
    q, info = got if return_info else (got, None)
    assert isinstance(q, np.ndarray), f"{what}: q is a {type(q).__name__}"
    if out is not None:
        assert q is out.obj, f"{what}: did not return out"
        check_out_surroundings(out, out_before, what)
    check_kind(q, None, x.vals.shape, rdt, what)
    if nrows == 0:
        return
    Q = np.ascontiguousarray(np.moveaxis(np.atleast_1d(np.asarray(q, dtype=F64)), ax, -1).reshape(nrows, n))
    eps = float(np.finfo(rdt).eps)
    sub = float(np.finfo(rdt).smallest_subnormal)
    assert np.all(np.isfinite(Q)) and np.all(Q >= 0), f"{what}: q has negative or non-finite entries"
    sums = np.array([math.fsum(row) for row in Q])
    # q = e / s with s a sum of n terms in vector lanes, each lane adding up to n / 16 of them
    # with a rounding error of up to eps each (equal terms round the same way, so the errors
    # add up rather than cancel); each q_i adds at most eps / 2 relative
    bad = np.abs(sums - 1) > (8 + n / 8) * eps + n * sub
    if bad.any():
        r = int(np.argmax(bad))
        raise AssertionError(f"{what}: row {r} of q sums to {sums[r]!r} (not 1); input row {X[r].tolist()[:12]}")
    assert np.all(Q[~support] == 0), f"{what}: entries outside the support (p = 0 / -inf logits) became nonzero"
    # equal entries give equal q; q keeps the order of the entries
    for r in range(min(nrows, 8)):
        order = np.argsort(X[r], kind="stable")
        xs, qs = X[r][order], Q[r][order]
        same = xs[1:] == xs[:-1]
        assert np.all(qs[1:][same] == qs[:-1][same]), f"{what}: row {r}: equal entries got different q"
        dq = qs[1:] - qs[:-1]
        assert np.all(dq >= -4 * eps * qs[1:] - 2 * sub), f"{what}: row {r}: q does not keep the order of p"
    if info is None:
        return
    gamma = np.asarray(info.gamma, dtype=F64).reshape(-1)
    clipped = np.asarray(info.clipped).reshape(-1)
    converged = np.asarray(info.converged).reshape(-1)
    n_iter = np.asarray(info.n_iter).reshape(-1)
    assert np.all(gamma >= 0), f"{what}: negative gamma {gamma}"
    assert np.all(n_iter <= max_iter), f"{what}: n_iter {n_iter} exceeds max_iter={max_iter}"
    assert_close(np.asarray(info.h_min).reshape(-1), h_lo, F64, what=what + " h_min = log #ties")
    assert_close(np.asarray(info.h_max).reshape(-1), h_hi, F64, what=what + " h_max = log #support")
    with np.errstate(divide="ignore", invalid="ignore"):
        H = -np.sum(np.where(Q > 0, Q * np.log(Q), 0.0), axis=-1)
    slack = 8 * eps * (H + 2) + 30 * n * sub + (2e-6 if cdt == F32 else 1e-12)
    above, below = tt > h_hi + band, tt < h_lo - band
    inside = ~above & ~below & (np.abs(tt - h_hi) > band) & (np.abs(tt - h_lo) > band)
    for r in range(nrows):
        rw = f"{what}: row {r} (target {tt[r]!r}, range [{h_lo[r]!r}, {h_hi[r]!r}], gamma {gamma[r]!r})"
        if above[r] or below[r]:
            assert clipped[r], rw + ": not flagged clipped"
            cnt = S[r] if above[r] else T[r]
            assert abs(H[r] - math.log(cnt)) <= slack[r] + 1e-12, rw + f": clipped row has entropy {H[r]!r}"
        elif inside[r]:
            assert not clipped[r], rw + ": flagged clipped"
            if max_iter == 50 and kw["tol"] is None and _well_scaled(X[r][support[r]], logits):
                assert converged[r], rw + f": did not converge in {n_iter[r]} passes (H = {H[r]!r})"
            if converged[r]:
                assert abs(H[r] - tt[r]) <= tol_eff + slack[r], rw + f": H(q) = {H[r]!r}"
        if converged[r] or clipped[r]:
            assert abs(float(info.entropy.reshape(-1)[r]) - H[r]) <= tol_eff + slack[r], (
                rw + f": info.entropy {float(info.entropy.reshape(-1)[r])!r} but H(q) = {H[r]!r}"
            )
        # q is the normalized power p^gamma (softmax(gamma z) for logits)
        g = gamma[r]
        if 0 < g < inf:
            xr = X[r][support[r]]
            with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
                w = (xr - xr.max()) if logits else (np.log(xr) - np.log(xr.max()))
                e = np.exp(g * w)
                qr = e / e.sum()
                mag = float(np.max(np.abs(xr))) if logits else float(np.max(np.abs(np.log(xr))))
            assert_close(Q[r][support[r]], qr, rdt, scale=4 * max(1.0, g * mag), what=rw + ": q vs p^gamma")


test_entropy_normalize = _short(_prop_entropy_normalize)
test_entropy_normalize_long = _long(_prop_entropy_normalize)


# --------------------------------------------------------------------------------------
# fused losses


LOSSES = {
    "gamma": (gamma_cross_entropy, ref.gamma_cross_entropy),
    "gce": (generalized_cross_entropy, ref.generalized_cross_entropy),
    "focal": (focal_loss, ref.focal_loss),
}


def _prop_losses(data):
    """The fused losses against logitcore.reference (float64): loss and gradient, weights,
    ignore_index, reductions, inplace=True."""
    d = data.draw
    name = d(st.sampled_from(sorted(LOSSES)))
    fn, rfn = LOSSES[name]
    kw = {}
    if name == "gamma":
        kw["gamma"] = d(st.one_of(st.sampled_from([0.0, 1e-7, 0.1, 0.5, 0.8, 1.0]), st.floats(0, 1)))
        kw["threshold"] = d(st.sampled_from([0.0, 0.0, 0.2, 1.0]))
    elif name == "gce":
        kw["q"] = d(st.one_of(st.sampled_from([0.7, 1.0, 1e-3]), st.floats(1e-6, 1)))
    else:
        kw["gamma"] = d(st.one_of(st.sampled_from([0.0, 2.0, 0.5, 5.0]), st.floats(0, 8)))
    V = d(st.sampled_from([1, 2, 3, 5, 7, 0, BLOCK + 3]))
    batch = d(shapes(min_ndim=0, max_ndim=2, max_dim=4)) if V < BLOCK else d(st.sampled_from([(), (1,), (3,)]))
    if prod(batch) * V > 4 * BLOCK * 3:
        batch = (2,)
    return_grad = d(st.booleans())
    inplace = return_grad and d(st.integers(0, 2)) == 0
    if inplace:
        logits = d(inputs(dt=d(st.sampled_from([F32, F64, F16])), shape=batch + (V,),
                          allowed=["C", "F", "neg", "slice", "perm"]))
    else:
        logits = d(inputs(shape=batch + (V,)))
    ignore_index = d(st.sampled_from([-100, -100, -1, 0, 2]))
    tdt = d(st.sampled_from([np.dtype(np.int64), np.dtype(np.int32), np.dtype(np.int8), np.dtype(np.uint8)]))
    nrows = prod(batch)
    if V:
        tv = np.array([d(st.integers(0, V - 1)) for _ in range(min(nrows, 6))] +
                      [0] * max(0, nrows - 6), dtype=np.int64)
        if nrows > 6:
            tv[6:] = np.random.default_rng(d(st.integers(0, 1000))).integers(0, V, nrows - 6)
    else:
        tv = np.full(nrows, ignore_index, dtype=np.int64)
    if nrows and d(st.booleans()):
        tv[np.random.default_rng(abs(int(tv.sum()))).random(nrows) < 0.3] = ignore_index
    if tdt.kind == "u" and ignore_index < 0 or np.iinfo(tdt).max < V:
        tdt = np.dtype(np.int64)
    target = tv.astype(tdt).reshape(batch)
    weight = None
    if V and d(st.booleans()):
        wv = d(values(d(st.sampled_from([F64, F32, np.dtype(np.int32)])), (V,), kinds=["normal", "ties", "tiny"],
                      specials=False))
        weight = d(layouts(np.abs(wv)))
    reduction = d(st.sampled_from(["mean", "sum", "none"]))
    fault = d(st.sampled_from([None] * 8 + ["target_oob", "target_float", "target_shape", "weight_shape", "reduction",
                                           "ignore_bool", "ignore_float", "param", "param_type", "inplace_no_grad",
                                           "inplace_int", "inplace_readonly", "logits_0d"]))
    expected = None
    target_obj = target
    if fault == "target_oob" and nrows:
        target_obj = target.astype(np.int64)
        target_obj.reshape(-1)[d(st.integers(0, nrows - 1))] = d(st.sampled_from([V, V + 3, -2, 10**12]).filter(
            lambda v: v != ignore_index))
        expected = IndexError
    elif fault == "target_float":
        target_obj, expected = target.astype(F64), TypeError
    elif fault == "target_shape":
        target_obj, expected = np.zeros(batch + (2,), dtype=np.int64), ValueError
    elif fault == "weight_shape" and V:
        weight, expected = Made(np.ones(V + 1), np.ones(V + 1), np.ones(V + 1), lambda b: b), ValueError
    elif fault == "reduction":
        reduction, expected = d(st.sampled_from(["avg", "MEAN", "", None])), ValueError
    elif fault == "ignore_bool":
        ignore_index, expected = True, TypeError
    elif fault == "ignore_float":
        ignore_index, expected = -100.0, TypeError
    elif fault == "param":
        key = next(iter(kw))
        kw[key] = {"gamma": -0.5 if name == "focal" else 1.5, "q": 0.0}[key]
        expected = ValueError
    elif fault == "param_type":
        kw[next(iter(kw))], expected = "0.5", TypeError
    elif fault == "inplace_no_grad":
        inplace, return_grad = True, False
        expected = ValueError
    elif fault == "inplace_int":  # integer logits are computed in float64: no room for the gradient
        inplace = return_grad = True
        logits = d(inputs(dt=np.int32, shape=batch + (V,), allowed=["C"]))
        expected = ValueError
    elif fault == "inplace_readonly":
        inplace = return_grad = True
        logits = d(inputs(dt=F64, shape=batch + (V,), allowed=["readonly"]))
        expected = ValueError
    elif fault == "logits_0d":
        logits, target_obj = d(inputs(shape=())), np.array(0)
        expected = ValueError
    if expected is None and nrows and V == 0 and np.any(tv != ignore_index):
        expected = IndexError
    rt = d(runtimes())
    call_kw = dict(kw, weight=None if weight is None else weight.obj, ignore_index=ignore_index, reduction=reduction,
                   return_grad=return_grad, inplace=inplace)
    tshow = target_obj.tolist() if target_obj.size <= 16 else f"{target_obj.dtype}{target_obj.shape}"
    what = (f"{fn.__name__}(logits={logits!r}, target={tshow}, "
            f"{', '.join(f'{k}={v!r}' for k, v in call_kw.items() if k != 'weight')}, weight={weight!r})")
    snap = Snapshot(logits=logits, target=target_obj, weight=weight)
    got, exc = _call(rt, fn, logits.obj, target_obj, **call_kw)
    if not check_raise(exc, expected, what):
        snap.check(what + " [raised]")
        return
    snap.check(what, skip=(logits.obj, logits.buf) if inplace else ())
    rdt = _result_dtype(np.asarray(logits.obj).dtype)
    loss, grad = got if return_grad else (got, None)
    check_kind(loss, reduction != "none" or not batch, () if reduction != "none" else batch, rdt, what + " loss")
    x64 = _in_dtype(logits.vals, _compute_dtype(rdt))
    # documented: a row whose logits are all -inf gives NaN (the reference gives the limit)
    dead = np.all(x64 == -inf, axis=-1) if V else np.zeros(batch, bool)
    xr = np.where(dead[..., None], nan, x64)
    w64 = None if weight is None else np.asarray(weight.vals, dtype=F64)
    if x64.size == 0:  # no rows, or no classes and every row ignored: nothing to sum
        want = (np.zeros(batch) if reduction == "none" else 0.0, np.zeros(x64.shape))
        want = want if return_grad else want[0]
    else:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = rfn(xr, target_obj, **kw, weight=w64, ignore_index=ignore_index, reduction=reduction,
                       return_grad=return_grad)
    wloss, wgrad = want if return_grad else (want, None)
    scale = finite_scale(x64)
    wscale = 1.0 if w64 is None else max(1.0, float(np.max(np.abs(w64), initial=0.0)))
    valid_rows = max(1, int(np.count_nonzero(tv != ignore_index)))
    factor = 4 * wscale * (valid_rows if reduction == "sum" else 1)
    if name == "gce":  # the reference's (1 - p^q) / q cancels for small q (the kernel uses expm1)
        factor *= max(1.0, float(np.finfo(F64).eps / tol_for(rdt)) / kw["q"])
    assert_close(loss, cast_want(wloss, rdt), rdt, scale=scale, factor=factor, what=what + " loss vs reference")
    if return_grad:
        if inplace:
            assert grad is logits.obj, f"{what}: inplace=True did not return logits as the gradient"
        check_kind(grad, False, batch + (V,), rdt, what + " grad")
        wg = cast_want(wgrad, rdt)
        # each row is c * (softmax - onehot) with |c| <= (row weight) * (reduction scale) * max w,
        # max w = 1 (1 + gamma for the focal loss): errors are relative to that coefficient
        tv_ok = tv[tv != ignore_index]
        roww = np.ones(tv_ok.size) if w64 is None else np.abs(w64[tv_ok])
        total = float(np.sum(roww)) if w64 is None else float(np.sum(w64[tv_ok]))
        red = 1.0 / abs(total) if reduction == "mean" and total != 0 else 1.0
        coef = float(np.max(roww, initial=0.0)) * red * (1 + (kw["gamma"] if name == "focal" else 0.0))
        m = max(coef, 1e-300)
        sub = float(np.finfo(rdt).smallest_subnormal)
        assert_close(np.asarray(grad, dtype=F64) / m, wg / m, F64 if rdt == F64 else rdt, scale=max(1.0, scale),
                     factor=4 + 4 * sub / m / tol_for(rdt),
                     what=what + f" grad vs reference (relative to the row coefficient bound {m:.3g})")
    if not inplace:
        _maybe_bitwise_threads(rt, logits.vals.size >= BLOCK, fn, (logits.obj, target_obj), call_kw, got, what)


test_losses = _short(_prop_losses)
test_losses_long = _long(_prop_losses)


# --------------------------------------------------------------------------------------
# set_num_threads


def _prop_threads(data):
    """set_num_threads accepts integers (n <= 0: the default), rejects the rest with
    TypeError; get_num_threads reports it."""
    d = data.draw
    n = d(st.one_of(st.integers(-3, 4), st.sampled_from([np.int64(2), 1.0, "2", None, 2.5])))
    before = lc.get_num_threads()
    try:
        exc = None
        try:
            lc.set_num_threads(n)
        except Exception as e:  # noqa: BLE001
            exc = e
        is_int = isinstance(n, (int, np.integer))
        check_raise(exc, None if is_int else TypeError, f"set_num_threads({n!r})")
        if is_int and n > 0:
            assert lc.get_num_threads() == n
            assert lc.get_config()["num_threads"] == n
        elif is_int:
            assert lc.get_num_threads() >= 1
        else:
            assert lc.get_num_threads() == before
    finally:
        lc.set_num_threads(before)
    assert lc.get_num_threads() == before


test_threads = _short(_prop_threads)
test_threads_long = _long(_prop_threads)
