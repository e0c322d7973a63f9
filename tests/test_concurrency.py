"""Concurrent calls from many Python threads (the kernels release the GIL): results are
bitwise those of serial calls, and other Python threads make progress during a long call."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import logitcore as lc
from logitcore import LogSumExpState

from ._helpers import BLOCK, assert_bitwise_equal, forced_isa


def _work(x, b, p):
    """Every public entry point on one input (fresh outputs, an out= buffer, a state)."""
    out = np.empty_like(x)
    lc.log_softmax(x, axis=1, out=out)
    st = LogSumExpState(x.shape[0]).update(x[:, : x.shape[1] // 2]).update(x[:, x.shape[1] // 2 :])
    return [
        lc.logsumexp(x, axis=1),
        lc.logsumexp(x, axis=1, b=b),
        lc.logsumexp(x, axis=0),
        lc.logsumexp(x),
        lc.softmax(x, axis=1),
        lc.softmax(x[:, ::-2], axis=1),
        out,
        lc.softmax_entropy(x, axis=1),
        lc.entropy(p, axis=1),
        st.max.copy(),
        st.sumexp.copy(),
    ]


def _inputs(rng, k):
    res = []
    for i in range(k):
        rows, n = [(3, 3 * BLOCK + 5), (40, 300), (1, 20 * BLOCK + 1), (7, BLOCK)][i % 4]
        dtype = np.float32 if i % 2 else np.float64
        x = (rng.standard_normal((rows, n)) * 5).astype(dtype)
        b = rng.uniform(0, 2, size=(1, n)).astype(dtype)
        p = rng.random((rows, n)).astype(dtype)
        p /= p.sum(axis=1, keepdims=True)
        res.append((x, b, p))
    return res


def test_threads_match_serial_bitwise(rng):
    inputs = _inputs(rng, 12)
    serial = [_work(*args) for args in inputs]
    shared = inputs[0]
    # each task: its own input, then the shared one (read concurrently by all threads)
    tasks = list(range(len(inputs))) * 4

    def job(i):
        return i, _work(*inputs[i]), _work(*shared)

    with ThreadPoolExecutor(max_workers=8) as ex:
        results = list(ex.map(job, tasks))
    for i, mine, sh in results:
        for k, (g, w) in enumerate(zip(mine, serial[i])):
            assert_bitwise_equal(g, w, f"input {i} output {k}")
        for k, (g, w) in enumerate(zip(sh, serial[0])):
            assert_bitwise_equal(g, w, f"shared input output {k}")
    # the shared inputs were not modified
    assert_bitwise_equal(shared[0], inputs[0][0])


def test_threads_inplace_on_distinct_buffers(rng):
    xs = [(rng.standard_normal((4, 5000)) * 3).astype(np.float32) for _ in range(16)]
    want = [lc.softmax(x, axis=1) for x in xs]
    bufs = [x.copy() for x in xs]

    def job(i):
        lc.softmax(bufs[i], axis=1, out=bufs[i])

    with ThreadPoolExecutor(max_workers=8) as ex:
        list(ex.map(job, range(len(bufs))))
    for got, w in zip(bufs, want):
        assert_bitwise_equal(got, w)


def _progress_during(call, attempts=3):
    """(True if another Python thread ran strictly inside call(), duration of the last call).

    The counter thread stamps the time every few iterations; it can only do so while holding
    the GIL. If the call kept the GIL, no stamp could fall strictly inside it (away from its
    edges, where argument checking runs in Python). Retries only guard against a starved
    scheduler: a call that holds the GIL fails every attempt."""
    stamps = []
    stop = threading.Event()

    def counter():
        i = 0
        while not stop.is_set():
            i += 1
            if i % 200 == 0:
                stamps.append(time.perf_counter())

    th = threading.Thread(target=counter, daemon=True)
    th.start()
    try:
        for _ in range(attempts):
            while not stamps:
                time.sleep(0.001)
            t0 = time.perf_counter()
            call()
            t1 = time.perf_counter()
            margin = min(0.05, (t1 - t0) / 4)
            if any(t0 + margin < t < t1 - margin for t in list(stamps)):
                return True, t1 - t0
    finally:
        stop.set()
        th.join()
    return False, t1 - t0


def test_gil_harness_detects_a_gil_holding_call():
    """Control: a long C call that keeps the GIL (math.factorial) shows no progress."""
    import math

    ok, dt = _progress_during(lambda: math.factorial(150_000), attempts=1)
    assert dt > 0.1 and not ok


def test_gil_released_during_native_call(restore_threads):
    """While one thread is inside a long softmax call, another Python thread keeps running."""
    lc.set_num_threads(1)  # a slower call, and a core left for the counter thread
    x = np.random.default_rng(0).standard_normal(2 * 10**7)
    out = np.empty_like(x)
    with forced_isa("scalar"):  # the C library exp: a call long enough to measure
        ok, dt = _progress_during(lambda: lc.softmax(x, out=out))
    assert ok, f"no Python progress during a {dt:.3f}s native call: the GIL was held"
    assert np.isclose(out.sum(), 1.0)


def test_gil_released_reductions(restore_threads):
    """Same check for logsumexp and softmax_entropy (other bindings)."""
    lc.set_num_threads(1)
    x = np.random.default_rng(1).standard_normal((2, 2 * 10**7))
    with forced_isa("scalar"):
        for f in (lambda: lc.logsumexp(x, axis=1), lambda: lc.softmax_entropy(x, axis=1)):
            ok, dt = _progress_during(f)
            assert ok, f"no Python progress during a {dt:.3f}s native reduction"
