"""Calls behind the instruction counts in RESULTS.md (maximum-dominated rows): run under
``valgrind --tool=callgrind python bench/dominated_rows.py {short,long} {rand,conf}``."""
import sys, numpy as np, logitcore as lc
lc.set_num_threads(1)
rng = np.random.default_rng(0)
shape = (4096, 256) if sys.argv[1] == "short" else (64, 32000)
x = rng.standard_normal(shape, dtype=np.float32)
if sys.argv[2] == "conf":
    x[:, 3] = 40.0
b = rng.uniform(0.5, 2, shape).astype(np.float32)
t = np.full(shape[0], 3, np.int64)
for _ in range(10):
    lc.logsumexp(x, axis=-1); lc.log_softmax(x, axis=-1); lc.softmax(x, axis=-1); lc.softmax_entropy(x)
    lc.gamma_cross_entropy(x, t, return_grad=True); lc.logsumexp(x, axis=-1, b=b)
