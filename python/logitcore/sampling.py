"""Token sampling for inference servers (docs/math.md §4).

One fused, batched step per decoding position: tempering (or a target entropy), top-k, top-p,
min-p, then one draw per row, with optional log-probabilities, and the repetition / frequency /
presence penalties. Every setting may be a scalar or one value per row, as a server batches
requests with different settings.

The order of the steps (docs/math.md §4.1):

1. tempering: weights e_j = exp((z_j - max z) / T); ``temperature=0`` is greedy (the first
   index of the maximum). ``target_entropy=H`` (nats) replaces the temperature of its row by the
   power gamma with H(softmax(gamma z)) = H, clipped to the reachable range;
2. top-k: keep every token whose logit is >= the k-th largest (ties kept);
3. top-p: on the distribution renormalized over what top-k kept, the smallest set of most
   probable tokens with mass >= top_p, plus the tokens tied with the last one kept;
4. min-p: keep tokens with p >= min_p * p_max;
5. one token drawn from what is left, renormalized, by the inverse CDF in index order with a
   uniform u from Philox4x32-10 keyed by (seed, offset) (docs/math.md §4.2).

Nothing sorts the vocabulary. A row's token depends only on its logits, its settings, its seed
and its offset: not on the batch it is in, the thread count or the ISA. A server passes the
request's seed and the token position as ``offset``.
"""
from __future__ import annotations

import math
import operator
from typing import NamedTuple

import numpy as np

from . import _core
from ._arrays import contiguous, as_float_array, kernel_dtypes, native, result_dtypes, view_reshape

__all__ = [
    "sample",
    "SampleResult",
    "apply_penalties",
    "sample_probs",
    "kept_mask",
    "tempered_gamma",
    "sample_uniform",
]

_U64_MAX = (1 << 64) - 1


class SampleResult(NamedTuple):
    """Tokens with log-probabilities (``sample(..., logprobs=n)``), all of the model's raw
    distribution log_softmax(logits) at temperature 1 with no filter (as OpenAI's API reports)."""

    tokens: np.ndarray        #: int64, the batch shape
    logprob: np.ndarray       #: float64, log-probability of each chosen token
    top_tokens: np.ndarray    #: int64, batch shape + (n,): the n largest logits, ties in index order
    top_logprobs: np.ndarray  #: float64, their log-probabilities


def _logits_2d(logits, name: str = "logits", half: bool = False) -> tuple[np.ndarray, tuple[int, ...], np.dtype]:
    """(2-D native array (rows, V), batch shape, result dtype); half: float16 and bfloat16 are
    kept as they are (the call has half-precision kernels), else converted to float32."""
    a = as_float_array(logits, name)
    if a.ndim == 0:
        raise ValueError(f"{name} must have at least one dimension (the vocabulary), got a scalar")
    compute, result = (kernel_dtypes(a.dtype, name)[:2] if half else result_dtypes(a.dtype, name))
    a = native(a, compute)
    batch = a.shape[:-1]
    if a.ndim == 2:
        return a, batch, result
    rows = math.prod(batch)
    v = view_reshape(a, (rows, a.shape[-1]))
    if v is None:
        v = contiguous(a).reshape(rows, a.shape[-1])
    return v, batch, result


_DTYPES = {"f": np.float64, "i": np.int64, "u": np.uint64}
# one-entry arrays of the scalar settings seen most (read-only: the kernels only read them)
_SCALARS: dict = {}
_NAN = np.array([np.nan])
_NAN.flags.writeable = False


def _scalar(kind: str, value) -> np.ndarray:
    key = (kind, value)
    arr = _SCALARS.get(key)
    if arr is None:
        arr = np.array([value], dtype=_DTYPES[kind])
        arr.flags.writeable = False
        if len(_SCALARS) < 1024:
            _SCALARS[key] = arr
    return arr


def _setting(value, rows: int, name: str, kind: str, default) -> np.ndarray:
    """A setting as a 1-D array of 1 or `rows` entries: kind 'f' (float64), 'i' (int64), 'u' (uint64)."""
    if value is None:
        value = default
    t = type(value)
    if t is float and kind == "f":
        return _scalar(kind, value) if value == value else _NAN
    if t is int:
        if kind == "f":
            return _scalar(kind, float(value))
        if (kind == "u" and 0 <= value <= _U64_MAX) or (kind == "i" and -(1 << 63) <= value < (1 << 63)):
            return _scalar(kind, value)
    if kind in "iu":
        if isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{name} must be an integer, got {value!r}")
        if isinstance(value, (int, np.integer)):
            v = int(value)
            if kind == "u" and not 0 <= v <= _U64_MAX:
                raise ValueError(f"{name} = {v} is out of range: it must be in [0, 2**64)")
            if kind == "i" and not -(1 << 63) <= v < (1 << 63):
                raise ValueError(f"{name} = {v} is out of range for int64")
            return np.array([v], dtype=np.uint64 if kind == "u" else np.int64)
        arr = np.asarray(value)
        if arr.dtype.kind not in "iu":
            raise TypeError(f"{name} must be an integer or an array of integers, got dtype {arr.dtype}")
    else:
        if isinstance(value, (bool, np.bool_, str, bytes)):
            raise TypeError(f"{name} must be a real number, got {value!r}")
        arr = np.asarray(value)
        if arr.dtype.kind not in "fiu":
            raise TypeError(f"{name} must be a real number or an array of them, got dtype {arr.dtype}")
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1 or arr.shape[0] not in (1, rows):
        raise ValueError(
            f"{name} has shape {arr.shape}: expected a scalar or one value per row ({rows} rows)"
        )
    if kind == "u":
        if arr.dtype.kind == "i" and arr.size and arr.min() < 0:
            raise ValueError(f"{name} has a negative entry ({int(arr.min())}): it must be in [0, 2**64)")
        return contiguous(arr, dtype=np.uint64)
    if kind == "i":
        if arr.dtype == np.uint64 and arr.size and arr.max() > np.iinfo(np.int64).max:
            raise ValueError(f"{name} has an entry out of range for int64")
        return contiguous(arr, dtype=np.int64)
    return contiguous(arr, dtype=np.float64)


def _filter_settings(rows, temperature, top_k, top_p, min_p, target_entropy):
    return (
        _setting(temperature, rows, "temperature", "f", 1.0),
        _setting(top_k, rows, "top_k", "i", 0),
        _setting(top_p, rows, "top_p", "f", 1.0),
        _setting(min_p, rows, "min_p", "f", 0.0),
        _setting(target_entropy, rows, "target_entropy", "f", np.nan),
    )


def sample(logits, *, temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, target_entropy=None, seed=0,
           offset=0, logprobs=0, out=None):
    """Draw one token per row of ``logits`` (docs/math.md §4).

    Parameters
    ----------
    logits : array_like, shape (..., V)
        float32, float64, float16 or bfloat16 (the half types read as they are, each row widened
        to float32 by the kernels' loads: the same tokens as float32 logits holding the same
        values); any strides. A NaN logit raises
        ValueError naming the row; so does a row whose logits are all -inf. +inf logits make the
        row uniform over them.
    temperature : float or array of one per row
        finite, >= 0; 0 is greedy (argmax, lowest index on ties).
    top_k : int or array (0: off), top_p : float in (0, 1] (1: off), min_p : float in [0, 1] (0: off)
    target_entropy : None, float or array (nats; None or NaN entries: off)
        Replaces the row's temperature: the power gamma with H(softmax(gamma z)) equal to it,
        clipped to [log #ties at the maximum, log #finite logits].
    seed, offset : int or array of ints in [0, 2**64)
        The generator's key and counter: the request's seed and the token position.
    logprobs : int
        n >= 0: also return the log-probability of each chosen token and the n most probable
        tokens with theirs (of the raw log_softmax at temperature 1), as a :class:`SampleResult`.
    out : ndarray of int64, optional
        Receives the tokens (shape: the batch shape).

    Returns
    -------
    tokens : int64 ndarray of the batch shape (a NumPy int64 for 1-D logits), or a
    :class:`SampleResult` when ``logprobs > 0``.
    """
    x, batch, _ = _logits_2d(logits, half=True)
    rows = x.shape[0]
    if isinstance(logprobs, (bool, np.bool_)):
        raise TypeError(f"logprobs must be an integer, got {logprobs!r}")
    try:
        n = operator.index(logprobs)
    except TypeError:
        raise TypeError(f"logprobs must be an integer, got {logprobs!r}") from None
    if n < 0:
        raise ValueError(f"logprobs must be >= 0, got {n}")
    if n > x.shape[1]:
        raise ValueError(f"logprobs = {n} exceeds the vocabulary size {x.shape[1]}")
    settings = _filter_settings(rows, temperature, top_k, top_p, min_p, target_entropy)
    seeds = _setting(seed, rows, "seed", "u", 0)
    offsets = _setting(offset, rows, "offset", "u", 0)
    if out is not None:
        if not isinstance(out, np.ndarray):
            raise TypeError(f"out must be a numpy.ndarray, got {type(out).__name__}")
        if out.shape != batch:
            raise ValueError(f"out has shape {out.shape}, expected {batch}")
        if out.dtype != np.int64:
            raise TypeError(f"out has dtype {out.dtype}, expected int64")
        if not out.flags.writeable:
            raise ValueError("out is read-only")
    tokens = np.empty(rows, dtype=np.int64)
    tlp = np.empty(rows, dtype=np.float64) if n > 0 else None
    ids = np.empty(rows * n, dtype=np.int64) if n > 0 else None
    lps = np.empty(rows * n, dtype=np.float64) if n > 0 else None
    _core._sample(x, tokens, *settings, seeds, offsets, n, tlp, ids, lps)
    if out is not None:
        out[...] = tokens.reshape(batch)
        result = out
    elif batch == ():
        result = tokens[0]
    else:
        result = tokens.reshape(batch)
    if n == 0:
        return result
    if batch == ():
        return SampleResult(result, tlp[0], ids, lps)
    return SampleResult(result, tlp.reshape(batch), ids.reshape(batch + (n,)), lps.reshape(batch + (n,)))


def _filter(logits, temperature, top_k, top_p, min_p, target_entropy, want_probs, want_kept, want_gamma):
    x, batch, result = _logits_2d(logits, half=True)
    rows, v = x.shape
    settings = _filter_settings(rows, temperature, top_k, top_p, min_p, target_entropy)
    probs = np.empty((rows, v), dtype=x.dtype) if want_probs else None
    kept = np.empty((rows, v), dtype=bool) if want_kept else None
    gamma = np.empty(rows, dtype=np.float64) if want_gamma else None
    _core._sample_filter(x, *settings, probs, kept, gamma)
    return x, batch, result, probs, kept, gamma


def sample_probs(logits, *, temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, target_entropy=None):
    """The distribution :func:`sample` draws from: the renormalized kept distribution of
    docs/math.md §4.1 (zeros outside the kept set), in the logits' dtype (float16 and bfloat16
    in, the same out: the float32 probabilities rounded to nearest even). For greedy rows,
    one-hot at the token."""
    _, batch, result, probs, _, _ = _filter(logits, temperature, top_k, top_p, min_p, target_entropy,
                                            True, False, False)
    return probs.reshape(batch + probs.shape[-1:]).astype(result, copy=False)


def kept_mask(logits, *, temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, target_entropy=None):
    """Boolean mask of the tokens :func:`sample` may draw from (the kept set of docs/math.md §4.1;
    for greedy rows the one token)."""
    _, batch, _, _, kept, _ = _filter(logits, temperature, top_k, top_p, min_p, target_entropy,
                                      False, True, False)
    return kept.reshape(batch + kept.shape[-1:])


def tempered_gamma(logits, target_entropy=None, *, temperature=1.0):
    """The inverse temperature each row is sampled at (float64, batch shape): 1/temperature, or
    the gamma solved for ``target_entropy`` (0 or inf at the clipped ends); inf for greedy rows."""
    _, batch, _, _, _, gamma = _filter(logits, temperature, 0, 1.0, 0.0, target_entropy, False, False, True)
    return gamma.reshape(batch) if batch else gamma[0]


def sample_uniform(seed, offset) -> float:
    """The uniform in [0, 1) a row with this seed and offset draws (docs/math.md §4.2)."""
    s = int(_setting(seed, 1, "seed", "u", 0)[0])
    o = int(_setting(offset, 1, "offset", "u", 0)[0])
    return float(_core._sample_uniform(s, o))


def apply_penalties(logits, token_ids, *, repetition_penalty=1.0, frequency_penalty=0.0, presence_penalty=0.0,
                    out=None):
    """Penalize the tokens each row generated before (docs/math.md §4.4).

    For every token j occurring c_j >= 1 times in the row's ``token_ids`` (shape (..., L), padded
    with -1): the repetition penalty rho divides a positive logit and multiplies a negative one,
    then c_j * frequency_penalty and presence_penalty (once) are subtracted. Each adjusted logit is
    computed in float64 and rounded once. Settings: scalars or one per row. ``out=logits`` works in
    place. Returns the adjusted logits (float16 in, float16 out; bfloat16 likewise: half-precision
    logits are read and written as they are).
    """
    x2, batch, result = _logits_2d(logits, half=True)
    rows, v = x2.shape
    shape = batch + (v,)
    ids = np.asarray(token_ids)
    if ids.dtype.kind not in "iu" and not (ids.size == 0 and ids.dtype.kind == "f"):
        raise TypeError(f"token_ids must be an integer array, got dtype {ids.dtype}")
    if ids.ndim != len(shape) or ids.shape[:-1] != batch:
        raise ValueError(
            f"token_ids has shape {ids.shape}: expected the logits' batch shape {batch} plus one "
            "axis of previous tokens"
        )
    if ids.dtype == np.uint64 and ids.size and ids.max() > np.iinfo(np.int64).max:
        raise IndexError(f"token_ids has an id ({int(ids.max())}) out of range for a vocabulary of {v}")
    if out is not None:
        if not isinstance(out, np.ndarray):
            raise TypeError(f"out must be a numpy.ndarray, got {type(out).__name__}")
        if out.shape != shape:
            raise ValueError(f"out has shape {out.shape}, expected {shape}")
        if out.dtype != result:
            raise TypeError(f"out has dtype {out.dtype}, expected {result}")
        if not out.flags.writeable:
            raise ValueError("out is read-only")
    ids2 = contiguous(ids, dtype=np.int64).reshape(rows, ids.shape[-1])
    rep = _setting(repetition_penalty, rows, "repetition_penalty", "f", 1.0)
    freq = _setting(frequency_penalty, rows, "frequency_penalty", "f", 0.0)
    pres = _setting(presence_penalty, rows, "presence_penalty", "f", 0.0)
    direct = None
    if out is not None and out.dtype == x2.dtype:
        direct = view_reshape(out, (rows, v))
    y = direct if direct is not None else np.empty((rows, v), dtype=x2.dtype)
    _core._apply_penalties(x2, y, ids2, rep, freq, pres)
    if out is not None:
        if direct is None:
            out[...] = y.reshape(shape)
        return out
    return y.reshape(shape).astype(result, copy=False)
