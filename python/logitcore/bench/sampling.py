"""Benchmark cases for token sampling (``logitcore.sample``, ``logitcore.apply_penalties``),
registered into the harness.

``register_sampling_cases()`` adds five cases, the group name ``sampling`` (``--cases sampling``
selects all five) and five targets to the ``python -m logitcore bench`` registry (idempotent):

* ``sample_topk_topp`` — temperature 0.8, top-k 50, top-p 0.9 on (64, 128256):
  ``logitcore.sample`` vs PyTorch written the fast way (``torch.topk(x, 50)``, softmax of the
  values / 0.8, cumsum, keep the smallest prefix of mass >= 0.9, renormalize,
  ``torch.multinomial``, gather the index), and one ``np.max(x, axis=-1)`` pass (the memory
  floor: the sampler must read every logit once).
* ``sample_top_p`` — top-p 0.95 alone on (64, 128256): without a top-k, PyTorch sorts the
  whole vocabulary (Hugging Face's ``TopPLogitsWarper``: sort, softmax, cumsum, mask, scatter
  back, then softmax and ``torch.multinomial``).
* ``sample_entropy`` — target entropy 2.0 nats on (64, 128256) (the row's temperature found
  by the entropy normalization of the logits) vs one ``logitcore.softmax`` of the batch.
* ``sample_llama_chain`` — one row of 128256 with llama.cpp's default chain (top-k 40, top-p
  0.95, min-p 0.05, temperature 0.8): the absolute time of one call (Python included) against
  a budget of 40 us, and PyTorch's top-k way for comparison.
* ``sample_penalties`` — ``logitcore.apply_penalties`` on (64, 128256) with 256 previous
  tokens per row (repetition 1.1, frequency 0.1, presence 0.1) into a preallocated output,
  the same in place, and PyTorch the way vLLM applies them (bin counts over the vocabulary by
  ``scatter_add_``, then masked full-vocabulary updates, in place). For reference, no target.

Targets (float32, one thread): ``sample_topk_topp`` >= 5x faster than torch and <= 1.5x the
``np.max`` time; ``sample_top_p`` >= 100x faster than torch; ``sample_entropy`` <= 4x one
softmax; ``sample_llama_chain`` <= 40 us per call.

Logits: 3 x, x the harness's N(0, 1) input of the shape (seed ``--seed``, 0 by default),
computed once per input and shared by every contestant. logitcore's calls pass seed 0 and an
offset that advances with every call (as a server passes the token position; the work does
not depend on it); torch draws from its global generator. Outside the timing, every
contestant's tokens are checked against the contract (docs/math.md §4: each token passes the
case's top-k, top-p and min-p filters on the tempered logits, float64, with a relative slack
of 1e-5 on the masses) and ``kept mean`` reports how many tokens per row the filters keep;
the penalties are checked against a float64 NumPy evaluation rounded once.
"""
from __future__ import annotations

import itertools
import math
from typing import Any, Callable, Dict, List

import numpy as np

import logitcore

from . import harness as B

__all__ = ["register_sampling_cases", "SAMPLING_SHAPE", "CHAIN_SHAPE", "GROUP", "CASE_NAMES", "SETTINGS",
           "CHAIN_BUDGET_S"]

GROUP = "sampling"
SAMPLING_SHAPE = (64, 128256)  # a LLaMA-3 vocabulary, a decoding batch
CHAIN_SHAPE = (1, 128256)
CHAIN_BUDGET_S = 40e-6  # target for one call of llama.cpp's default chain (llama.cpp: ~80 us per token)
LOGIT_SCALE = 3.0
PREVIOUS_TOKENS = 256  # per row, for the penalties
PENALTIES = dict(repetition_penalty=1.1, frequency_penalty=0.1, presence_penalty=0.1)

# the sampler settings of each case (keyword arguments of logitcore.sample)
SETTINGS: Dict[str, Dict[str, float]] = {
    "sample_topk_topp": dict(temperature=0.8, top_k=50, top_p=0.9),
    "sample_top_p": dict(top_p=0.95),
    "sample_entropy": dict(target_entropy=2.0),
    "sample_llama_chain": dict(temperature=0.8, top_k=40, top_p=0.95, min_p=0.05),
}
CASE_NAMES = list(SETTINGS) + ["sample_penalties"]

SLACK = 1e-5  # relative slack on the masses compared by the contract check


# --- inputs --------------------------------------------------------------------------------------


def _logits(d: B.Data) -> np.ndarray:
    """3 x in x's dtype (computed once per input)."""
    return d.cached("sampling_logits", lambda x: (x * LOGIT_SCALE).astype(x.dtype, copy=False))


def _torch_logits(d: B.Data):
    return d.cached("sampling_logits_torch", lambda x: B._torch().from_numpy(_logits(d)))


def _token_ids(d: B.Data) -> np.ndarray:
    """(rows, 256) previous tokens per row, uniform over the vocabulary (seed 0)."""
    return d.cached("sampling_token_ids", lambda x: np.random.default_rng(0).integers(
        0, x.shape[-1], (x.shape[0], PREVIOUS_TOKENS), dtype=np.int64))


def _torch_token_ids(d: B.Data):
    return d.cached("sampling_token_ids_torch", lambda x: B._torch().from_numpy(_token_ids(d)))


# --- contestants -----------------------------------------------------------------------------------


def _lc_sample(settings: Dict[str, float]) -> Callable[[B.Data], Callable[[], Any]]:
    def make(d):
        z = _logits(d)
        offsets = itertools.count()  # the token position of a server: a new offset per call
        return lambda: logitcore.sample(z, seed=0, offset=next(offsets), **settings)

    return make


def _torch_topk(temperature: float, top_k: int, top_p: float, min_p: float = 0.0):
    """top-k by torch.topk, then the tempered softmax of the k values, top-p on their cumsum
    (the smallest prefix of mass >= top_p), min-p, renormalize, multinomial, gather."""

    def make(d):
        torch = B._torch()
        z = _torch_logits(d)

        k = min(top_k, z.shape[-1])  # (tiny --shapes)

        def run():
            values, index = torch.topk(z, k, dim=-1)  # sorted, largest first
            p = torch.softmax(values / temperature, dim=-1)
            drop = (p.cumsum(dim=-1) - p) >= top_p  # the mass before a token already reaches top_p
            if min_p > 0.0:
                drop |= p < min_p * p[:, :1]
            p = p.masked_fill(drop, 0.0)
            p = p / p.sum(dim=-1, keepdim=True)
            return index.gather(-1, torch.multinomial(p, 1))[:, 0]

        return run

    return make


def _torch_sort_top_p(top_p: float):
    """Hugging Face's TopPLogitsWarper (ascending sort, softmax, cumsum, remove the tokens of
    cumulative mass <= 1 - top_p but the last, scatter the mask back), then softmax and
    multinomial."""

    def make(d):
        torch = B._torch()
        z = _torch_logits(d)

        def run():
            sorted_logits, sorted_index = torch.sort(z, descending=False)
            cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
            remove = cumulative <= (1 - top_p)
            remove[..., -1:] = False
            remove = remove.scatter(1, sorted_index, remove)
            scores = z.masked_fill(remove, -math.inf)
            return torch.multinomial(scores.softmax(dim=-1), 1)[:, 0]

        return run

    return make


def _np_max(d):
    z = _logits(d)
    return lambda: np.max(z, axis=-1)


def _lc_softmax(d):
    z = _logits(d)
    return lambda: logitcore.softmax(z, axis=-1)


def _lc_penalties(d):
    z, ids = _logits(d), _token_ids(d)
    out = np.zeros_like(z)  # touched: page faults stay out of the timing
    return lambda: logitcore.apply_penalties(z, ids, out=out, **PENALTIES)


def _lc_penalties_inplace(d):
    buf = _logits(d).copy()  # a private copy that the calls keep adjusting (same cost per call)
    ids = _token_ids(d)
    return lambda: logitcore.apply_penalties(buf, ids, out=buf, **PENALTIES)


def _torch_penalties(d):
    """vLLM's way: bin counts over the vocabulary (scatter_add_), then masked updates of the
    whole logits, in place on a private copy."""
    torch = B._torch()
    buf = _torch_logits(d).clone()
    ids = _torch_token_ids(d)
    rep, freq, pres = (PENALTIES[k] for k in ("repetition_penalty", "frequency_penalty", "presence_penalty"))

    def run():
        counts = torch.zeros_like(buf).scatter_add_(1, ids, torch.ones_like(ids, dtype=buf.dtype))
        seen = counts > 0
        scale = torch.where(buf > 0, 1.0 / rep, rep)
        buf.copy_(torch.where(seen, buf * scale, buf))
        buf.sub_(counts * freq)
        buf.sub_(seen.to(buf.dtype) * pres)
        return buf

    return run


# --- the contract check and the untimed figures ----------------------------------------------------


def _kth_largest(z: np.ndarray, settings: Dict[str, float]) -> np.ndarray:
    """Per row (as a column), the k-th largest logit counted with multiplicity; -inf without
    top-k. (A partition in z's own dtype: NumPy's is fast there.)"""
    k = int(settings.get("top_k", 0))
    n = z.shape[-1]
    if not 0 < k < n:
        return np.full((z.shape[0], 1), -np.inf)
    return np.partition(z, n - k, axis=-1)[:, n - k:n - k + 1].astype(np.float64)


def _untempered(settings: Dict[str, float]) -> bool:
    """Greedy or target-entropy settings: no filter applies, every finite entry may be drawn."""
    return "target_entropy" in settings or settings.get("temperature", 1.0) == 0.0


def _tokens_ok(z: np.ndarray, tokens: np.ndarray, settings: Dict[str, float]) -> np.ndarray:
    """Per row: does the token pass the case's filters (docs/math.md §4.1), in float64 with
    SLACK on the masses? Top-k keeps z_j >= the k-th largest; top-p keeps j when the mass of
    the entries above z_j is < P * (the mass top-k kept); min-p keeps e_j >= pi."""
    rows = np.arange(z.shape[0])
    ok = (tokens >= 0) & (tokens < z.shape[-1])
    t = np.where(ok, tokens, 0)
    zt = np.asarray(z[rows, t], dtype=np.float64)[:, None]
    ok &= np.isfinite(zt[:, 0])
    if _untempered(settings):
        return ok
    kth = _kth_largest(z, settings)
    ok &= zt[:, 0] >= kth[:, 0]
    z = np.asarray(z, dtype=np.float64)
    m = np.max(z, axis=-1, keepdims=True)
    temperature = settings.get("temperature", 1.0)
    top_p = settings.get("top_p", 1.0)
    if top_p < 1.0:
        kept = np.where(z >= kth, np.exp((z - m) / temperature), 0.0)
        above = np.sum(np.where(z > zt, kept, 0.0), axis=-1)
        ok &= above < top_p * np.sum(kept, axis=-1) * (1 + SLACK)
    min_p = settings.get("min_p", 0.0)
    if min_p > 0.0:
        ok &= np.exp((zt[:, 0] - m[:, 0]) / temperature) >= min_p * (1 - SLACK)
    return ok


def _kept_count(z: np.ndarray, settings: Dict[str, float]) -> np.ndarray:
    """Per row, how many tokens the filters keep (ties ignored: the logits are continuous)."""
    if _untempered(settings):
        return np.sum(np.isfinite(z), axis=-1)
    zs = np.sort(z, axis=-1)[:, ::-1].astype(np.float64)  # largest first
    es = np.exp((zs - zs[:, :1]) / settings.get("temperature", 1.0))
    keep = zs >= _kth_largest(z, settings)
    es = np.where(keep, es, 0.0)
    top_p = settings.get("top_p", 1.0)
    if top_p < 1.0:
        cum = np.cumsum(es, axis=-1)
        keep &= (cum - es) < top_p * cum[:, -1:]
    min_p = settings.get("min_p", 0.0)
    if min_p > 0.0:
        keep &= es >= min_p
    return np.sum(keep, axis=-1)


def _as_numpy(v) -> np.ndarray:
    return np.asarray(v.numpy() if hasattr(v, "numpy") else v)


def _verify_sample(settings: Dict[str, float], samplers: List[str]):
    def verify(d, outputs: Dict[str, Any]) -> List[str]:
        z = _logits(d)
        warnings = []
        for name in samplers:
            if name not in outputs:
                continue
            tokens = _as_numpy(outputs[name])
            if tokens.shape != (z.shape[0],) or not np.issubdtype(tokens.dtype, np.integer):
                warnings.append(f"{name}: tokens of shape {tokens.shape} and dtype {tokens.dtype}, "
                                f"expected ({z.shape[0]},) integers")
                continue
            bad = ~_tokens_ok(z, tokens.astype(np.int64), settings)
            if np.any(bad):
                warnings.append(f"{name}: the token of {int(np.sum(bad))} of {z.shape[0]} rows does not pass "
                                f"the filters (first: row {int(np.argmax(bad))})")
        return warnings

    return verify


def _info_sample(settings: Dict[str, float]):
    def info(d) -> Dict[str, float]:
        return {"kept mean": float(np.mean(_kept_count(_logits(d), settings)))}

    return info


def _penalized(z: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """docs/math.md §4.4 in float64, rounded once to z's dtype."""
    out = np.asarray(z, dtype=np.float64).copy()
    rep, freq, pres = (PENALTIES[k] for k in ("repetition_penalty", "frequency_penalty", "presence_penalty"))
    for r in range(z.shape[0]):
        j, c = np.unique(ids[r][ids[r] >= 0], return_counts=True)
        v = out[r, j]
        v = np.where(v > 0, v / rep, v * rep) - c * freq - pres
        out[r, j] = np.where(np.isfinite(out[r, j]), v, out[r, j])
    return out.astype(z.dtype)


def _verify_penalties(d, outputs: Dict[str, Any]) -> List[str]:
    """Each contestant's result, from its first call (the in-place ones have adjusted their
    copy once by then), against the float64 evaluation."""
    want = _penalized(_logits(d), _token_ids(d))
    warnings = []
    for name, v in outputs.items():
        got = _as_numpy(v)
        # float32: within 1e-6 relative (the order of the float64 operations may move the rounding)
        if got.shape != want.shape or not np.allclose(got, want, rtol=1e-6, atol=1e-6, equal_nan=True):
            warnings.append(f"{name}: result differs from the float64 evaluation of the penalties")
    return warnings


# --- registration ----------------------------------------------------------------------------------


def register_sampling_cases() -> None:
    """Add the sampling cases, their group name and targets to the harness (once)."""
    if any(c.name == "sample_topk_topp" for c in B.CASES):
        return
    C = B.Contestant
    torch_only = ("torch",)
    common_note = "logits = 3 x, x ~ N(0, 1); logitcore.sample(z, seed=0, offset=<call count>, ...)"
    kept_note = "; kept mean: tokens per row the filters keep (NumPy, float64, outside the timing)"

    s = SETTINGS["sample_topk_topp"]
    B.register(B.Case(
        name="sample_topk_topp",
        title="token sampling: temperature 0.8, top-k 50, top-p 0.9",
        shapes=[SAMPLING_SHAPE],
        contestants={
            "logitcore": C(_lc_sample(s)),
            "torch": C(_torch_topk(0.8, 50, 0.9), requires=torch_only),
            "np.max": C(_np_max),
        },
        ratios=[("torch/logitcore", "torch", "logitcore"), ("logitcore/np.max", "logitcore", "np.max")],
        note=common_note + kept_note + "; torch: topk(z, 50), softmax(values / 0.8), cumsum, keep the "
        "smallest prefix of mass >= 0.9, renormalize, multinomial, gather; np.max(z, axis=-1): one read of the "
        "logits (the floor)",
        info=_info_sample(s),
        verify=_verify_sample(s, ["logitcore", "torch"]),
    ))
    s = SETTINGS["sample_top_p"]
    B.register(B.Case(
        name="sample_top_p",
        title="token sampling: top-p 0.95 alone (torch sorts the vocabulary)",
        shapes=[SAMPLING_SHAPE],
        contestants={
            "logitcore": C(_lc_sample(s)),
            "torch": C(_torch_sort_top_p(0.95), requires=torch_only),
        },
        ratios=[("torch/logitcore", "torch", "logitcore")],
        note=common_note + kept_note + "; torch: Hugging Face's TopPLogitsWarper (sort, softmax, cumsum, mask, "
        "scatter back), softmax, multinomial",
        info=_info_sample(s),
        verify=_verify_sample(s, ["logitcore", "torch"]),
    ))
    s = SETTINGS["sample_entropy"]
    B.register(B.Case(
        name="sample_entropy",
        title="token sampling at a target entropy of 2 nats vs one softmax",
        shapes=[SAMPLING_SHAPE],
        contestants={
            "logitcore": C(_lc_sample(s)),
            "softmax": C(_lc_softmax),
        },
        ratios=[("sample/softmax", "logitcore", "softmax")],
        note=common_note + "; target_entropy=2.0: each row's temperature found by entropy normalization of "
        "its logits; softmax = logitcore.softmax(z, axis=-1) of the batch (lower ratio is better)",
        verify=_verify_sample(s, ["logitcore"]),
    ))
    s = SETTINGS["sample_llama_chain"]
    B.register(B.Case(
        name="sample_llama_chain",
        title="token sampling, one row: llama.cpp's default chain (top-k 40, top-p 0.95, min-p 0.05, T 0.8)",
        shapes=[CHAIN_SHAPE],
        contestants={
            "logitcore": C(_lc_sample(s)),
            "torch": C(_torch_topk(0.8, 40, 0.95, min_p=0.05), requires=torch_only),
        },
        ratios=[("torch/logitcore", "torch", "logitcore"), ("logitcore/40us", "logitcore", CHAIN_BUDGET_S)],
        note=common_note + kept_note + "; logitcore/40us: the time of one Python call over a 40 us budget "
        "(llama.cpp reports about 80 us per token for this chain; it applies the temperature after the filters, "
        "logitcore before them, docs/math.md §4.1); torch: topk(z, 40), softmax(values / 0.8), top-p and min-p "
        "masks, renormalize, multinomial, gather",
        info=_info_sample(s),
        verify=_verify_sample(s, ["logitcore", "torch"]),
        repeat_scale=5,  # cheap calls deciding a target
    ))
    B.register(B.Case(
        name="sample_penalties",
        title="repetition, frequency and presence penalties, 256 previous tokens per row",
        shapes=[SAMPLING_SHAPE],
        contestants={
            "logitcore": C(_lc_penalties),
            "lc inplace": C(_lc_penalties_inplace),
            "torch": C(_torch_penalties, requires=torch_only),
        },
        note="logits = 3 x; token ids uniform over the vocabulary (seed 0); repetition 1.1, frequency 0.1, "
        "presence 0.1; logitcore.apply_penalties(z, ids, out=<preallocated>) [inplace: out= the logits, a "
        "private copy]; torch: vLLM's way (bin counts by scatter_add_, masked updates of the whole logits, "
        "in place); ratio = other time / logitcore time",
        verify=_verify_penalties,
    ))
    B.GROUPS[GROUP] = list(CASE_NAMES)
    B.TARGETS.extend([
        B.Target("logitcore.sample (T 0.8, top-k 50, top-p 0.9) >= 5x faster than torch topk + multinomial "
                 "(torch at 1 thread)", "sample_topk_topp", SAMPLING_SHAPE, 1, "torch/logitcore", ">=", 5.0),
        B.Target("logitcore.sample (T 0.8, top-k 50, top-p 0.9) time <= 1.5x one np.max pass",
                 "sample_topk_topp", SAMPLING_SHAPE, 1, "logitcore/np.max", "<=", 1.5),
        B.Target("logitcore.sample (top-p 0.95) >= 100x faster than torch sort + top-p (Hugging Face's way)",
                 "sample_top_p", SAMPLING_SHAPE, 1, "torch/logitcore", ">=", 100.0,
                 in_default=False),  # torch's sort takes about a second per call
        B.Target("logitcore.sample (target entropy 2 nats) time <= 4x one logitcore.softmax",
                 "sample_entropy", SAMPLING_SHAPE, 1, "sample/softmax", "<=", 4.0),
        B.Target("logitcore.sample, llama.cpp's default chain, one row: <= 40 us per call",
                 "sample_llama_chain", CHAIN_SHAPE, 1, "logitcore/40us", "<=", 1.0),
    ])
