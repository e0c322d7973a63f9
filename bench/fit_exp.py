import numpy as np
L = np.log(2)/2
def fit(deg_hi, fixed, N=4000, iters=30):
    # p(r) = sum_{k<fixed} r^k/k! + sum_{k=fixed}^{deg_hi} c_k r^k ; minimize max rel error (IRLS ~ Lawson)
    r = np.cos(np.pi*(np.arange(N)+0.5)/N)*L
    f = np.exp(r)
    base = sum(r**k/np.prod(np.arange(1,k+1)) for k in range(fixed))
    A = np.stack([r**k for k in range(fixed, deg_hi+1)], 1) / f[:,None]
    y = (f - base)/f
    w = np.ones(N)/N
    for it in range(200):
        W = np.sqrt(w)
        c, *_ = np.linalg.lstsq(A*W[:,None], y*W, rcond=None)
        e = np.abs(A@c - y)
        w = w*e; w /= w.sum()
    return c, np.max(np.abs(A@c-y))
for deg in (5,6):
    c, err = fit(deg, 2)
    print(deg, err, [float(np.float32(x)) for x in c], list(c))
for deg in (11,12):
    c, err = fit(deg, 2)
    print(deg, err, list(c))
