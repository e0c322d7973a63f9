"""MaxEntClassifier: the conditional maximum-entropy model, a scikit-learn estimator."""
from __future__ import annotations

import numbers
import warnings

import numpy as np
from scipy import optimize
from scipy import sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from .. import _core, _family
from .._arrays import contiguous
from ..losses import gamma_cross_entropy
from ._features import JointFeatures
from ._models import InputModel, JointModel

__all__ = ["MaxEntClassifier"]

_SOLVERS = ("lbfgs", "gis")
_LOSSES = ("log", "gamma")


def _lbfgs_memory(n_params: int) -> int:
    """L-BFGS history length: SciPy's default 10, or 5 from 2^20 parameters on. Each L-BFGS-B
    step streams its 2 m history vectors through memory several times: at 4 million parameters
    (20000 features x 200 classes) m = 10 costs about 90 ms per step, more than the native
    sparse products of an evaluation, while m = 5 halves it for about as many iterations."""
    return 10 if n_params < 1 << 20 else 5


def _prior_step(e, m, lam, cf, inv_c):
    """GIS step δ under a Gaussian prior (Chen & Rosenfeld): the root of
    e − m·exp(cf δ) − (λ + δ)/C = 0 per feature (decreasing in δ), by Newton's method from 0."""
    d = np.zeros_like(e)
    for _ in range(60):
        ex = m * np.exp(cf * d)
        step = (e - ex - (lam + d) * inv_c) / (cf * ex + inv_c)
        d += step
        if np.max(np.abs(step), initial=0.0) <= 1e-15 * (1 + np.max(np.abs(d), initial=0.0)):
            break
    return d


def _phi_totals(phi, k: int) -> np.ndarray:
    """Σ_k χ_k(x_i, y) of joint features, (n, K)."""
    return np.asarray(phi.sum(axis=1), dtype=np.float64).reshape(-1, k)


def _correction_terms(correction, phi, k: int):
    """GIS's correction feature on these joint features: its weight and its values
    constant − Σ_k χ_k(x, y), (n, K); None without one."""
    if correction is None:
        return None
    return {"weight": correction["weight"], "values": correction["constant"] - _phi_totals(phi, k)}


def _canonical_csr(X):
    """A sparse X as CSR with sorted, summed indices (CSC arrives as its CSR form; a canonical
    CSR is kept as it is, no copy); dense X unchanged."""
    if not sp.issparse(X):
        return X
    X = sp.csr_matrix(X)
    if not X.has_canonical_format:
        X = X.copy()
        X.sum_duplicates()
    return X


def _label_indices(classes, y, what: str) -> np.ndarray:
    """The index in classes of every label of y (int64); ValueError naming an unknown one."""
    lookup = {c: i for i, c in enumerate(classes.tolist())}
    try:
        return np.fromiter((lookup[v] for v in y.tolist()), dtype=np.int64, count=y.shape[0])
    except KeyError as e:
        raise ValueError(f"label {e.args[0]!r} is not one of {what} {classes.tolist()}") from None


class MaxEntClassifier(ClassifierMixin, BaseEstimator):
    """Conditional maximum-entropy classifier (multinomial logistic regression), on logitcore's
    fused loss kernel and native sparse products.

    The model (SPEC §4, docs/math.md §5) is p(y|x) = exp(Σ_k λ_k χ_k(x, y)) / Z(x). With an
    input feature matrix X (dense or scipy.sparse) the features are χ(x, y) = x ⊗ e_y, i.e.
    scores X·Wᵀ + b; with a :class:`JointFeatures` the features may depend on the label in any
    way. Fitting minimizes

        Σ_i s_i c_{y_i} L_i + ‖W‖² / (2 C)

    (s: sample weights, c: class weights, L: cross-entropy, or the γ-cross-entropy with
    ``loss="gamma"``; the intercept is not penalized; C = inf: no penalty). This is the
    maximum-likelihood dual of the maximum-entropy problem under a Gaussian prior of variance
    C, and the objective of scikit-learn's ``LogisticRegression(C=C)`` for K > 2 classes. Two
    classes are fitted as a K = 2 softmax whose penalty covers both weight rows: it equals
    scikit-learn's binary fit at ``LogisticRegression(C=2*C)`` (same probabilities and
    objective); ``decision_function`` then returns the log-odds of the second class.

    Parameters
    ----------
    C : float > 0 (may be inf)
        Inverse penalty strength (the prior's variance).
    loss : {"log", "gamma"}
        Cross-entropy, or the γ-cross-entropy of :func:`logitcore.gamma_cross_entropy`
        (robust to label noise; ``gamma`` in [0, 1]). With ``threshold`` b > 0 the paper's
        stop-gradient floor is used: the fit alternates fixing the row weights
        max(b, p_y / (γ + (1 − γ) p_y)) and minimizing the weighted cross-entropy, until the
        weights settle (a fixed point of the paper's update).
    solver : {"lbfgs", "gis"}
        L-BFGS-B (scipy.optimize; history 10, or 5 from 2^20 parameters on, where the optimizer's
        own vector work would outweigh an evaluation) on the objective and its exact gradient; or the article's
        generalized iterative scaling (features must be >= 0; a correction feature is added
        when the feature sums depend on the label; with finite C each update solves the
        Gaussian-prior condition per feature by Newton's method). GIS supports ``loss="log"``.
    max_iter : int
        Iterations of the solver (L-BFGS iterations, or GIS updates).
    tol : float
        Stop when the largest gradient entry of the objective divided by Σ s_i is <= tol.
    fit_intercept : bool
        A per-class bias (not penalized).
    class_weight : dict, "balanced" or None
    warm_start : bool
        Start from the previous fit's coefficients when shapes agree.
    dtype : numpy.float64 or numpy.float32
        Compute dtype of the scores, the loss kernel and the products (a float32 sparse X is
        used as is, never upcast). The optimizer's state is float64.
    verbose : int
        > 0 prints the objective at every evaluation.

    Attributes
    ----------
    classes_ : ndarray (K,)
    coef_ : ndarray (K, F) for input features; (F,) for joint features
    intercept_ : ndarray (K,)
    n_iter_ : int
    n_features_in_, feature_names_in_ : as in scikit-learn
    objective_ : float
        The objective at the solution (unscaled: the formula above).
    """

    def __init__(self, C=1.0, *, loss="log", gamma=0.0, threshold=0.0, solver="lbfgs", max_iter=200, tol=1e-6,
                 fit_intercept=True, class_weight=None, warm_start=False, dtype=np.float64, verbose=0):
        self.C = C
        self.loss = loss
        self.gamma = gamma
        self.threshold = threshold
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.fit_intercept = fit_intercept
        self.class_weight = class_weight
        self.warm_start = warm_start
        self.dtype = dtype
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    # ---- parameters --------------------------------------------------------------------

    def _check_params(self):
        def real(name, lo, hi, lo_open=False, allow_inf=False):
            v = getattr(self, name)
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
                raise TypeError(f"{name} must be a real number, got {v!r}")
            v = float(v)
            ok = (v > lo if lo_open else v >= lo) and v <= hi and (allow_inf or np.isfinite(v))
            if np.isnan(v) or not ok:
                rng = f"{'(' if lo_open else '['}{lo}, {hi}]"
                raise ValueError(f"{name} must lie in {rng}, got {v!r}")
            return v

        C = real("C", 0.0, np.inf, lo_open=True, allow_inf=True)
        if self.loss not in _LOSSES:
            raise ValueError(f"loss must be one of {_LOSSES}, got {self.loss!r}")
        if self.solver not in _SOLVERS:
            raise ValueError(f"solver must be one of {_SOLVERS}, got {self.solver!r}")
        gamma = real("gamma", 0.0, 1.0)
        threshold = real("threshold", 0.0, 1.0)
        if self.loss == "log" and (gamma != 0 or threshold != 0):
            raise ValueError("gamma and threshold apply to loss='gamma' (loss='log' is plain cross-entropy)")
        if self.solver == "gis" and self.loss != "log":
            raise ValueError("solver='gis' fits loss='log' only (use solver='lbfgs' for loss='gamma')")
        if isinstance(self.max_iter, (bool, np.bool_)) or not isinstance(self.max_iter, numbers.Integral):
            raise TypeError(f"max_iter must be an integer, got {self.max_iter!r}")
        if self.max_iter < 1:
            raise ValueError(f"max_iter must be >= 1, got {self.max_iter}")
        tol = real("tol", 0.0, np.inf, lo_open=True)
        try:
            dt = np.dtype(self.dtype)
        except TypeError:
            raise TypeError(f"dtype must be numpy.float32 or numpy.float64, got {self.dtype!r}") from None
        if dt not in (np.float32, np.float64):
            raise ValueError(f"dtype must be numpy.float32 or numpy.float64, got {dt}")
        return C, gamma, threshold, tol, dt

    # ---- data --------------------------------------------------------------------------

    def _validate_X(self, X, dt, reset):
        if isinstance(X, JointFeatures):
            return X
        return _canonical_csr(validate_data(self, X, reset=reset, accept_sparse=["csr", "csc"], dtype=dt, order="C",
                                            ensure_all_finite=True))

    def _row_weights(self, sample_weight, yi, classes) -> np.ndarray:
        """s_i · c_{y_i}: the sample weights (finite, >= 0) times the class weights."""
        sw = _check_sample_weight(sample_weight, np.empty(yi.shape[0]), dtype=np.float64, ensure_non_negative=True)
        if self.class_weight is not None:
            sw = sw * compute_class_weight(self.class_weight, classes=classes, y=classes[yi])[yi]
        return sw

    def _model(self, X, K, dt):
        if isinstance(X, JointFeatures):
            phi = X.matrix if X.matrix.dtype == dt else X.matrix.astype(dt)
            return JointModel(phi, K, bool(self.fit_intercept))
        return InputModel(X, K, bool(self.fit_intercept))

    # ---- fit ---------------------------------------------------------------------------

    def fit(self, X, y, sample_weight=None):
        """Fit on X (array, sparse matrix or :class:`JointFeatures`) and labels y."""
        prev = {a: self.__dict__.get(a) for a in ("coef_", "intercept_", "classes_")}
        try:
            return self._fit(X, y, sample_weight, prev)
        except BaseException:
            self._unfit()
            raise

    def _unfit(self):
        for attr in ("coef_", "intercept_", "classes_", "n_iter_", "objective_", "correction_", "n_features_in_",
                     "feature_names_in_", "_joint"):
            if attr in self.__dict__:
                delattr(self, attr)

    def _fit(self, X, y, sample_weight, prev):
        C, gamma, threshold, tol, dt = self._check_params()
        joint = isinstance(X, JointFeatures)
        if joint:
            y = np.asarray(y)
            if y.ndim != 1 or y.shape[0] != X.n_samples:
                raise ValueError(f"y has shape {y.shape}, expected ({X.n_samples},): one label per sample of the "
                                 "JointFeatures")
            check_classification_targets(y)
            classes = X.classes
            yi = _label_indices(classes, y, "the JointFeatures' classes")
            self.n_features_in_ = X.n_features
            if hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
        else:
            X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], dtype=dt, order="C", ensure_all_finite=True,
                                 y_numeric=False, multi_output=False)
            X = _canonical_csr(X)
            check_classification_targets(y)
            classes, yi = np.unique(y, return_inverse=True)
            yi = yi.astype(np.int64)
        K = classes.size
        if len(np.unique(yi)) < 2:
            raise ValueError(f"MaxEntClassifier needs samples of at least 2 classes in y; got 1 class ({classes[yi[0]]!r})"
                             if yi.size else "MaxEntClassifier needs at least one sample")
        sw = self._row_weights(sample_weight, yi, classes)
        total = float(sw.sum())
        if not total > 0:
            raise ValueError("the sample weights (times the class weights) sum to 0: nothing to fit")

        model = self._model(X, K, dt)
        theta0 = np.zeros(model.n_params)
        if self.warm_start and prev["coef_"] is not None and np.array_equal(prev["classes_"], classes):
            t = self._pack(model, prev["coef_"], prev["intercept_"])
            if t is not None:
                theta0 = t
        if self.solver == "gis":
            theta, n_iter, correction = self._fit_gis(model, yi, sw, C, tol, total, theta0)
        else:
            correction = None
            theta, n_iter = self._fit_lbfgs(model, yi, sw, C, gamma, threshold, tol, total, theta0)
        self.classes_ = classes
        self._joint = joint
        w, b = model.split(theta)
        self.coef_ = np.ascontiguousarray(w.T if not joint else w, dtype=np.float64)
        self.intercept_ = np.zeros(K) if b is None else np.array(b, dtype=np.float64)
        self.correction_ = correction
        self.n_iter_ = int(max(n_iter, 1))
        self.objective_ = self._objective(model, theta, yi, sw, C, gamma, _correction_terms(correction, model.X, K))
        return self

    def _pack(self, model, coef, intercept):
        want = (model.k, model.f) if not model.joint else (model.f,)
        if coef is None or coef.shape != want:
            return None
        t = np.zeros(model.n_params)
        t[: coef.size] = coef.T.reshape(-1) if not model.joint else coef
        if model.fit_intercept and intercept is not None:
            t[coef.size:] = intercept
        return t

    # ---- the objective -----------------------------------------------------------------

    def _loss_grad(self, model, theta, yi, sw, gamma, buf, correction=None):
        """Σ s_i L_i and, in buf, G = d(Σ s_i L_i)/d scores (one fused kernel call, in place)."""
        model.scores(theta, buf)
        if correction is not None:
            buf += (correction["weight"] * correction["values"]).astype(buf.dtype)
        # the library's loss call itself (validated inputs: contiguous int64 targets in range,
        # finite weights >= 0): no per-call argument handling of the Python wrapper
        opt = _core.LossOptions(_core.LOSS_GAMMA_CE, gamma, 0.0, -1, _core.REDUCTION_SUM)
        row_loss = np.empty(buf.shape[0])
        return float(_core._loss(buf, contiguous(yi, dtype=np.int64), opt, None, row_loss, buf,
                                 contiguous(sw, dtype=np.float64)))

    def _objective(self, model, theta, yi, sw, C, gamma, correction=None):
        buf = np.empty((model.n, model.k), dtype=model.dtype)
        loss = self._loss_grad(model, theta, yi, sw, gamma, buf, correction)
        pen = 0.0 if np.isinf(C) else 0.5 * float(np.dot(theta[model.penalized()], theta[model.penalized()])) / C
        if correction is not None and not np.isinf(C):
            pen += 0.5 * correction["weight"] ** 2 / C  # GIS's correction feature is a penalized weight too
        return loss + pen

    def _fit_lbfgs(self, model, yi, sw, C, gamma, threshold, tol, total, theta0):
        buf = np.empty((model.n, model.k), dtype=model.dtype)
        pen = model.penalized()
        inv_c = 0.0 if np.isinf(C) else 1.0 / C

        tmp = np.empty(pen.stop - pen.start)

        def run(theta0, weights, g):
            def fun(theta):
                loss = self._loss_grad(model, theta, yi, weights, g, buf)
                grad = model.backward(buf)  # a new vector per call (the optimizer keeps it)
                tp = theta[pen]
                f = loss + 0.5 * inv_c * float(np.dot(tp, tp))
                np.multiply(tp, inv_c, out=tmp)
                grad[pen] += tmp
                grad *= 1.0 / total
                if self.verbose:
                    print(f"MaxEntClassifier: objective {f:.12g}")
                return f / total, grad

            res = optimize.minimize(fun, theta0, jac=True, method="L-BFGS-B",
                                    options={"maxiter": int(self.max_iter), "gtol": tol, "maxls": 50,
                                             "ftol": 64 * np.finfo(float).eps,
                                             "maxcor": _lbfgs_memory(theta0.size)})
            return res

        if gamma != 0 and threshold > 0:
            # the paper's floored, stop-gradient weights: alternate (weights, weighted CE)
            theta, n_iter, w_prev = theta0, 0, None
            for _ in range(50):
                w = self._gamma_weights(model, theta, yi, gamma, threshold, buf)
                if w_prev is not None and np.max(np.abs(w - w_prev)) <= max(tol, 1e-12):
                    break
                res = run(theta, sw * w, 0.0)
                theta, n_iter, w_prev = res.x, n_iter + res.nit, w
            else:
                warnings.warn("MaxEntClassifier: the thresholded gamma weights did not settle in 50 rounds",
                              ConvergenceWarning, stacklevel=3)
            return theta, n_iter
        res = run(theta0, sw, gamma)
        if not res.success:
            warnings.warn(f"MaxEntClassifier (lbfgs) did not converge in {self.max_iter} iterations: {res.message}; "
                          "increase max_iter or scale the data", ConvergenceWarning, stacklevel=3)
        return res.x, res.nit

    def _gamma_weights(self, model, theta, yi, gamma, threshold, buf):
        """max(b, p_y / (γ + (1 − γ) p_y)) per row, from ℓ = log p_y (the cross-entropy kernel)."""
        model.scores(theta, buf)
        ce = gamma_cross_entropy(buf, yi, 0.0, reduction="none").astype(np.float64)
        ell = -ce
        a = np.logaddexp(np.log(gamma), np.log1p(-gamma) + ell) if gamma < 1 else ell
        return np.maximum(threshold, np.minimum(1.0, np.exp(ell - a)))

    # ---- generalized iterative scaling --------------------------------------------------

    def _fit_gis(self, model, yi, sw, C, tol, total, theta0):
        if model.min_feature() < 0:
            raise ValueError("solver='gis' needs features >= 0 (generalized iterative scaling); "
                             f"the smallest feature value is {model.min_feature()!r}; use solver='lbfgs'")
        n, K = model.n, model.k
        totals = model.totals()
        label_dependent = model.joint and not np.all(totals == totals[:, :1])
        if label_dependent:
            cf = float(totals.max()) + 1.0  # the correction feature is > 0 for every pair
            # its value cf − Σ_k χ_k(x, y) − [intercept]: stored as (constant − Σ_k χ_k(x, y))
            const = cf - (1.0 if model.fit_intercept else 0.0)
            corr = {"constant": const, "values": const - _phi_totals(model.X, K), "weight": 0.0}
        else:
            cf = float(totals.max())
            corr = None
        if not cf > 0:
            raise ValueError("solver='gis' needs at least one non-zero feature")
        onehot = np.zeros((n, K), dtype=model.dtype)
        onehot[np.arange(n), yi] = sw
        emp = model.backward(onehot)
        emp_c = float(np.dot(sw, corr["values"][np.arange(n), yi])) if corr else 0.0
        pen = model.penalized()
        inv_c = 0.0 if np.isinf(C) else 1.0 / C
        penalize = np.zeros(model.n_params, dtype=bool)
        if inv_c:
            penalize[pen] = True
        if not inv_c and np.any(emp[pen] <= 0):
            j = int(np.flatnonzero(emp[pen] <= 0)[0])
            raise ValueError(f"solver='gis' with C=inf: feature {j} is never active in the training data, so its "
                             "maximum-likelihood weight is -inf; use a finite C or drop the feature")
        buf = np.empty((n, K), dtype=model.dtype)
        theta = theta0.copy()
        n_iter = 0
        converged = False
        for n_iter in range(1, int(self.max_iter) + 1):
            self._loss_grad(model, theta, yi, sw, 0.0, buf, corr)
            g = model.backward(buf)  # model expectation − empirical expectation
            grad = g + penalize * theta * inv_c
            gc = float(np.sum(buf * corr["values"])) + corr["weight"] * inv_c if corr is not None else 0.0
            if max(np.max(np.abs(grad)), abs(gc)) / total <= tol:
                converged = True
                break
            model_exp = np.maximum(emp + g, np.finfo(float).tiny)
            delta = np.zeros_like(theta)
            free = ~penalize & (emp > 0)
            delta[free] = np.log(emp[free] / model_exp[free]) / cf
            if penalize.any():
                delta[penalize] = _prior_step(emp[penalize], model_exp[penalize], theta[penalize], cf, inv_c)
            theta += delta
            if corr is not None:  # the correction feature's weight, under the same prior
                mc = max(emp_c + float(np.sum(buf * corr["values"])), np.finfo(float).tiny)
                w = corr["weight"]
                corr["weight"] = w + (float(_prior_step(np.array([emp_c]), np.array([mc]), np.array([w]), cf, inv_c)[0])
                                      if inv_c else np.log(emp_c / mc) / cf)
        if not converged:
            warnings.warn(f"MaxEntClassifier (gis) did not converge in {self.max_iter} iterations; GIS is slow: "
                          "increase max_iter or use solver='lbfgs'", ConvergenceWarning, stacklevel=3)
        if corr is not None:
            corr = {"constant": corr["constant"], "weight": float(corr["weight"])}
        return theta, n_iter, corr

    # ---- prediction --------------------------------------------------------------------

    def _scores(self, X):
        check_is_fitted(self, "coef_")
        dt = np.dtype(self.dtype) if np.dtype(self.dtype) in (np.float32, np.float64) else np.float64
        if isinstance(X, JointFeatures) or (self._joint and not hasattr(X, "shape")):
            if not self._joint:
                raise ValueError("this MaxEntClassifier was fitted on an input feature matrix, not on JointFeatures")
            if not isinstance(X, JointFeatures):
                raise TypeError("this MaxEntClassifier was fitted on JointFeatures: pass JointFeatures "
                                "(e.g. features.transform(samples)) to predict")
            if X.n_features != self.coef_.shape[0]:
                raise ValueError(f"X has {X.n_features} joint features, but MaxEntClassifier was fitted with "
                                 f"{self.coef_.shape[0]}")
            if not np.array_equal(X.classes, self.classes_):
                raise ValueError("the JointFeatures' classes differ from the fitted classes_")
            model = JointModel(X.matrix.astype(dt, copy=False), self.classes_.size, True)
            out = model.scores(self._pack(model, self.coef_, self.intercept_),
                               np.empty((X.n_samples, self.classes_.size), dtype=dt))
            corr = _correction_terms(self.correction_, model.X, model.k)
            if corr is not None:
                out += (corr["weight"] * corr["values"]).astype(dt)
            return out
        if self._joint:
            raise ValueError("this MaxEntClassifier was fitted on JointFeatures: pass JointFeatures to predict")
        X = self._validate_X(X, dt, reset=False)
        model = InputModel(X, self.classes_.size, True)
        return model.scores(self._pack(model, self.coef_, self.intercept_),
                            np.empty((X.shape[0], self.classes_.size), dtype=dt))

    def decision_function(self, X):
        """Scores Σ_k λ_k χ_k(x, y) per class, (n, K); for two classes the log-odds of
        classes_[1], (n,)."""
        s = self._scores(X)
        if s.shape[1] == 2:
            return s[:, 1] - s[:, 0]
        return s

    def predict_proba(self, X):
        """p(y|x), (n, K), rows summing to 1."""
        return _family.softmax(self._scores(X), axis=-1)

    def predict_log_proba(self, X):
        """log p(y|x), (n, K)."""
        return _family.log_softmax(self._scores(X), axis=-1)

    def predict(self, X):
        """The most probable label per sample (the first on ties)."""
        s = self._scores(X)
        return self.classes_[np.argmax(s, axis=1)]

    def objective(self, X, y, sample_weight=None, *, return_grad=False):
        """The fit objective Σ s_i c_{y_i} L_i + ‖W‖²/(2C) at the current coefficients on (X, y)
        (L: the estimator's loss; float64).

        With ``return_grad`` also its gradient with respect to ``coef_`` and ``intercept_``, as
        ``(value, grad_coef, grad_intercept)`` (for loss="gamma" with a threshold: the gradient
        of the loss with the floored weights held fixed, the paper's update direction)."""
        check_is_fitted(self, "coef_")
        C, gamma, threshold, _, dt = self._check_params()
        joint = isinstance(X, JointFeatures)
        if joint:
            if X.n_features != self.coef_.shape[0] or not np.array_equal(X.classes, self.classes_):
                raise ValueError("the JointFeatures do not match the fitted features or classes_")
        else:
            if self._joint:
                raise ValueError("this MaxEntClassifier was fitted on JointFeatures: pass JointFeatures")
            X = self._validate_X(X, dt, reset=False)
        y = np.asarray(y)
        n_rows = X.n_samples if joint else X.shape[0]
        if y.ndim != 1 or y.shape[0] != n_rows:
            raise ValueError(f"y has shape {y.shape}, expected ({n_rows},)")
        yi = _label_indices(self.classes_, y, "the fitted classes")
        n = yi.shape[0]
        sw = self._row_weights(sample_weight, yi, self.classes_)
        model = self._model(X, self.classes_.size, dt)
        model.fit_intercept = True
        theta = self._pack(model, self.coef_, self.intercept_)
        corr = _correction_terms(self.correction_, model.X, model.k) if joint else None
        buf = np.empty((n, model.k), dtype=model.dtype)
        w = self.coef_.reshape(-1)
        inv_c = 0.0 if np.isinf(C) else 1.0 / C
        value = self._loss_grad(model, theta, yi, sw, gamma, buf, corr) + 0.5 * inv_c * float(np.dot(w, w))
        if corr is not None:
            value += 0.5 * inv_c * corr["weight"] ** 2
        if not return_grad:
            return value
        if gamma != 0 and threshold > 0:
            fixed = sw * self._gamma_weights(model, theta, yi, gamma, threshold, buf)
            self._loss_grad(model, theta, yi, fixed, 0.0, buf, corr)
        g = model.backward(buf)
        gw, gb = model.split(g)
        gw = (gw.T if not joint else gw) + inv_c * self.coef_
        return value, np.ascontiguousarray(gw), np.array(gb)

    # ---- description -------------------------------------------------------------------

    def most_informative_features(self, n=10, features: JointFeatures | None = None):
        """The n weights of largest |λ| as (description, weight) pairs, largest first.

        Descriptions come from ``features`` (the JointFeatures of a joint fit) or, for input
        features, from ``feature_names_in_`` (or ``x[j]``) and the class."""
        check_is_fitted(self, "coef_")
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
            raise ValueError(f"n must be an integer >= 0, got {n!r}")
        w = self.coef_.reshape(-1)
        order = np.argsort(-np.abs(w), kind="stable")[:n]
        out = []
        for j in order.tolist():
            if self._joint:
                desc = features.describe(j) if features is not None else f"feature {j}"
            else:
                c, f = divmod(j, self.coef_.shape[1])
                names = getattr(self, "feature_names_in_", None)
                fname = str(names[f]) if names is not None else f"x[{f}]"
                desc = f"{fname} and label is {self.classes_[c].item()!r}"
            out.append((desc, float(w[j])))
        return out

