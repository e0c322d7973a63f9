"""Vocabulary-parallel reductions on a Dask cluster (``python -m logitcore bench --cases dask``;
also part of ``--full``, never of the default run).

A float32 logits array of SHAPE (60000 x 128256, about 31 GB: more than the machine's memory)
is generated lazily, block by block (each block from its own seeded generator, uniform in
[-4, 4)), and reduced to per-row logsumexp and per-row cross-entropy (a random target per row)
on a LocalCluster of two worker processes with one thread each and a memory limit per worker,
so that the whole array is never held. Chunks are CHUNK_ROWS rows by V / COL_SPLITS classes:
the class axis is split too (vocabulary-parallel). Contestants, each timed on the same cluster
(one compute of both results per run, the median of ``REPEATS`` runs, the contestants taking
turns within each repetition):

* ``generation`` -- the blocks are generated and dropped: the floor under every contestant;
* ``logitcore`` -- :func:`logitcore.dask.logsumexp` and
  :func:`logitcore.dask.gamma_cross_entropy` (γ = 0, reduction 'none'): one native pass per
  block, partial states merged in a tree;
* ``dask.array NumPy`` -- the same reduction in dask.array operations:
  ``m = x.max(axis=1, keepdims=True)``, ``lse = log(exp(x - m).sum(axis=1)) + m``,
  ``ce = lse - x[i, target_i]`` (each block contributes the targets it holds): two passes over
  each block (max, then exp-sum).

Throughput is the array's bytes over the wall time (GB/s, 10^9 bytes). The two results are
checked against each other (float32 differences only). ``--shapes RxV`` replaces SHAPE (the
tests run a tiny one); the kernels run one OpenMP thread per worker (``OMP_NUM_THREADS=1``)
so that two workers use the two cores without oversubscription.
"""
from __future__ import annotations

import math
import statistics
import time

import numpy as np

GROUP = "dask"
SHAPE = (60000, 128256)
CHUNK_ROWS = 2000
COL_SPLITS = 8
N_WORKERS = 2
MEMORY_LIMIT = "6GiB"  # per worker: two workers hold at most 12 GiB of a 31 GB array
REPEATS = 3
SEED = 0


def _block(block_id=None, block_info=None, *, seed):
    """One block of the logits, from its own generator seeded by (seed, block position)."""
    shape = block_info[None]["chunk-shape"]
    rng = np.random.default_rng([seed, *block_id])
    x = rng.random(shape, dtype=np.float32)
    x *= 8
    x -= 4
    return x


def _targets(block_id=None, block_info=None, *, seed, n_classes):
    shape = block_info[None]["chunk-shape"]
    return np.random.default_rng([seed, 1 << 20, *block_id]).integers(0, n_classes, size=shape)


def _first_column(b):
    return np.ascontiguousarray(b[:, :1])


def make_inputs(shape, chunk_rows=CHUNK_ROWS, col_splits=COL_SPLITS, seed=SEED):
    """(lazy logits, lazy targets) of ``shape``, chunked rows x classes."""
    import dask.array as da

    rows, cols = shape
    rc = min(chunk_rows, rows)
    cc = max(1, math.ceil(cols / col_splits))
    from dask.array.core import normalize_chunks

    # map_blocks without array arguments: the blocks come from the chunk tuples alone
    chunks = normalize_chunks((rc, cc), shape, dtype=np.float32)
    x = da.map_blocks(_block, dtype=np.float32, chunks=chunks, seed=seed, meta=np.empty((0, 0), np.float32))
    t = da.map_blocks(_targets, dtype=np.int64, chunks=(chunks[0],), seed=seed, n_classes=cols,
                      meta=np.empty((0,), np.int64))
    return x, t


def contestants(x, t):
    import dask.array as da

    import logitcore.dask as ldask

    def generation():
        nb = len(x.chunks[1])
        return (x.map_blocks(_first_column, chunks=(x.chunks[0], (1,) * nb), dtype=x.dtype).sum(axis=1),)

    def logitcore_():
        return (ldask.logsumexp(x, axis=1), ldask.gamma_cross_entropy(x, t, reduction="none"))

    def numpy_():
        m = x.max(axis=1, keepdims=True)
        lse = da.log(da.exp(x - m).sum(axis=1)) + m[:, 0]
        return (lse, lse - _target_logits(x, t))

    return {"generation": generation, "logitcore": logitcore_, "dask.array NumPy": numpy_}


def _pick(b, tb, block_info=None):
    c0, c1 = block_info[0]["array-location"][1]
    tt = tb.reshape(-1) - c0
    inside = (tt >= 0) & (tt < c1 - c0)
    out = np.zeros(b.shape[0], dtype=b.dtype)
    out[inside] = b[np.flatnonzero(inside), tt[inside]]
    return out[:, None]


def _target_logits(x, t):
    """x[i, t_i] per row, lazily (blockwise: each block contributes the targets it holds)."""
    import dask.array as da

    nb = len(x.chunks[1])
    part = da.map_blocks(_pick, x, t[:, None], chunks=(x.chunks[0], (1,) * nb), dtype=x.dtype)
    return part.sum(axis=1)


def run(args, out) -> dict:
    """Run the suite on a fresh LocalCluster, print the table, return the JSON-able report."""
    from . import harness as B

    missing = [m for m in ("dask", "distributed") if B.optional_import(m) is None]
    if missing:
        print(f"\ndask: skipped ({', '.join(missing)} not installed; pip install 'logitcore[bench]')", file=out)
        return {"skipped": missing}
    import dask
    from distributed import Client, LocalCluster

    shape = SHAPE
    given = [s for s in (getattr(args, "shapes", None) or []) if len(s) == 2]
    if given:
        shape = given[0]
    repeats = 1 if getattr(args, "quick", False) else REPEATS
    x, t = make_inputs(shape)
    nbytes = x.size * x.dtype.itemsize
    print(f"\ndask: float32 logits {shape[0]} x {shape[1]} ({nbytes / 1e9:.2f} GB), chunks {x.chunksize[0]} x "
          f"{x.chunksize[1]} ({len(x.chunks[0])} x {len(x.chunks[1])} blocks), generated lazily block by block; "
          f"LocalCluster of {N_WORKERS} worker processes, 1 thread each, memory_limit {MEMORY_LIMIT} per worker; "
          f"per-row logsumexp and cross-entropy; time = median of {repeats} run(s); GB/s = array bytes / time",
          file=out)
    out.flush()
    rows = []
    results = {}
    with LocalCluster(n_workers=N_WORKERS, processes=True, threads_per_worker=1, memory_limit=MEMORY_LIMIT,
                      dashboard_address=None, env={"OMP_NUM_THREADS": "1"}) as cluster, Client(cluster) as client:
        client.wait_for_workers(N_WORKERS)
        makers = contestants(x, t)
        times = {name: [] for name in makers}
        for _ in range(repeats):  # contestants interleaved within each repetition
            for name, make in makers.items():
                graph = make()
                t0 = time.perf_counter()
                results[name] = dask.compute(*graph, scheduler=client)
                times[name].append(time.perf_counter() - t0)
        for name, ts in times.items():
            med = statistics.median(ts)
            rows.append({"contestant": name, "seconds": med, "runs": ts, "gb_per_s": nbytes / med / 1e9})
            print(f"  {name:<18} {med:>9.2f} s {nbytes / med / 1e9:>8.2f} GB/s   (runs: "
                  + ", ".join(f"{s:.2f}" for s in ts) + ")", file=out)
        out.flush()
    lc_lse, lc_ce = results["logitcore"]
    np_lse, np_ce = (np.asarray(v, dtype=np.float64) for v in results["dask.array NumPy"])
    lse_diff = float(np.max(np.abs(lc_lse - np_lse) / np.maximum(1, np.abs(np_lse)))) if np_lse.size else 0.0
    ce_diff = float(np.max(np.abs(lc_ce - np_ce) / np.maximum(1, np.abs(np_ce)))) if np_ce.size else 0.0
    by = {r["contestant"]: r["seconds"] for r in rows}
    speedup = by["dask.array NumPy"] / by["logitcore"]
    floor = by["generation"]
    over = [(by[k] - floor) for k in ("logitcore", "dask.array NumPy")]
    print(f"  logitcore vs dask.array NumPy: {speedup:.2f}x the throughput; above the generation floor "
          f"{over[0]:.2f} s vs {over[1]:.2f} s"
          + (f" ({over[1] / over[0]:.1f}x)" if over[0] > 0 else "")
          + f"; results agree within {max(lse_diff, ce_diff):.1e} (relative, float32)", file=out)
    return {"shape": list(shape), "chunks": [x.chunksize[0], x.chunksize[1]], "bytes": nbytes, "rows": rows,
            "speedup": speedup, "max_rel_diff": max(lse_diff, ce_diff), "targets": []}
