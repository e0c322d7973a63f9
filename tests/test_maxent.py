"""logitcore.maxent: the maximum-entropy classifier against scikit-learn, NLTK and its own laws."""
from __future__ import annotations

import copy
import functools
import warnings

import numpy as np
import pytest

from tests._helpers import optional_import as require
from tests._helpers import set_threads

require("sklearn")
require("scipy")

import scipy.sparse as sp  # noqa: E402
import scipy.special as special  # noqa: E402

import logitcore as lc  # noqa: E402
from logitcore.maxent import JointFeatures, MaxEntClassifier  # noqa: E402
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, NotFittedError  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

LOADERS = {"iris": load_iris, "wine": load_wine, "breast_cancer": load_breast_cancer, "digits": load_digits}
C_OF = {"iris": 1.0, "wine": 0.5, "breast_cancer": 0.2, "digits": 0.05}


@functools.lru_cache(maxsize=None)
def dataset(name):
    X, y = LOADERS[name](return_X_y=True)
    X = StandardScaler().fit_transform(X)
    if name == "digits":  # a subset keeps the reference fits quick
        X, y = X[:600], y[:600]
    return X, y


def weights_for(y, kind):
    rng = np.random.default_rng(len(y))
    if kind == "sample":
        return rng.uniform(0.2, 3.0, len(y)), None
    if kind == "class":
        classes = np.unique(y)
        return None, {int(c): float(w) for c, w in zip(classes, rng.uniform(0.3, 2.5, len(classes)))}
    return None, None


def reference_objective(X, y, coef, intercept, C, sw=None, cw=None):
    """Σ s_i c_{y_i} (−log softmax(x_i W^T + b)_{y_i}) + ‖W‖²/(2C), in NumPy float64."""
    classes, yi = np.unique(y, return_inverse=True)
    X = X.toarray() if sp.issparse(X) else np.asarray(X, dtype=np.float64)
    s = X @ coef.T + intercept
    ls = special.log_softmax(s, axis=1)
    w = np.ones(len(y)) if sw is None else np.asarray(sw, dtype=np.float64)
    if cw is not None:
        w = w * np.array([cw[c] for c in classes])[yi]
    return float(-(w * ls[np.arange(len(y)), yi]).sum() + 0.5 * np.sum(coef**2) / C)


@functools.lru_cache(maxsize=None)
def sklearn_fit(name, wkind):
    X, y = dataset(name)
    sw, cw = weights_for(y, wkind)
    K = len(np.unique(y))
    C = C_OF[name]
    r = LogisticRegression(C=C * (2 if K == 2 else 1), tol=1e-10, max_iter=10000, class_weight=cw)
    r.fit(X, y, sample_weight=sw)
    coef, b = r.coef_, r.intercept_
    if K == 2:  # the binary fit as a K = 2 softmax: W = [−w/2, w/2]
        coef, b = np.vstack([-coef / 2, coef / 2]), np.array([0.0, b[0]])
    return r, coef, b


# every dataset x weighting x {dense, CSR} x {float64, float32}; CSC (converted to CSR) once each
PARITY_CASES = [(n, w, f, d) for n in LOADERS for w in ("none", "sample", "class") for f in ("dense", "csr")
                for d in (np.float64, np.float32)] + [(n, "none", "csc", np.float64) for n in LOADERS]


@pytest.mark.parametrize("name, wkind, fmt, dtype", PARITY_CASES)
def test_parity_with_sklearn(name, wkind, fmt, dtype):
    X, y = dataset(name)
    sw, cw = weights_for(y, wkind)
    r, rcoef, rb = sklearn_fit(name, wkind)
    Xf = X.astype(dtype)
    if fmt != "dense":
        Xf = getattr(sp, fmt + "_matrix")(Xf)
    m = MaxEntClassifier(C=C_OF[name], tol=1e-10, max_iter=10000, class_weight=cw, dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # float32 may stop on rounding before tol 1e-10
        m.fit(Xf, y, sample_weight=sw)
    ours = reference_objective(X, y, m.coef_, m.intercept_, C_OF[name], sw, cw)
    theirs = reference_objective(X, y, rcoef, rb, C_OF[name], sw, cw)
    # the library's own objective agrees with the NumPy formula
    assert m.objective(X, y, sample_weight=sw) == pytest.approx(ours, rel=1e-10 if dtype == np.float64 else 1e-5)
    assert m.objective_ == pytest.approx(ours, rel=1e-10 if dtype == np.float64 else 1e-5)
    # float32 scores carry a rounding of ~6e-8 relative, so the float32 objective is only known to
    # about that much and the fit stops there; flat directions then move the probabilities more
    assert abs(ours - theirs) / theirs <= (1e-7 if dtype == np.float64 else 1e-6)
    np.testing.assert_allclose(m.predict_proba(Xf), r.predict_proba(X), atol=1e-5 if dtype == np.float64 else 5e-4,
                               rtol=0)
    assert m.predict_proba(Xf).dtype == dtype
    assert m.coef_.shape == (len(m.classes_), X.shape[1]) and m.intercept_.shape == (len(m.classes_),)


def test_float32_sparse_is_not_upcast(monkeypatch):
    from logitcore.maxent import _models

    X, y = dataset("iris")
    Xs = sp.csr_matrix(X.astype(np.float32))
    seen = []
    real = _models.spmm

    def spy(a, b, out):
        seen.append((a.dtype, b.dtype, out.dtype, np.shares_memory(a.data, Xs.data)))
        return real(a, b, out)

    monkeypatch.setattr(_models, "spmm", spy)
    MaxEntClassifier(dtype=np.float32).fit(Xs, y)
    assert seen and all(tuple(d) == (np.float32, np.float32, np.float32) for *d, _ in seen)
    assert any(same for *_, same in seen)  # the caller's CSR data itself, not a copy


def test_binary_is_k2_softmax():
    X, y = dataset("breast_cancer")
    m = MaxEntClassifier(C=0.2, tol=1e-10, max_iter=5000).fit(X, y)
    assert m.coef_.shape == (2, X.shape[1])
    d = m.decision_function(X)
    assert d.shape == (len(y),)
    np.testing.assert_allclose(d, np.log(m.predict_proba(X)[:, 1] / m.predict_proba(X)[:, 0]), atol=1e-9)
    # the optimum splits the weights symmetrically (both rows are penalized)
    np.testing.assert_allclose(m.coef_[0], -m.coef_[1], atol=1e-6)


def test_string_labels_and_feature_names():
    pd = require("pandas")
    X, y = dataset("iris")
    names = np.array(["setosa", "versicolor", "virginica"])
    df = pd.DataFrame(X, columns=["sl", "sw", "pl", "pw"])
    m = MaxEntClassifier().fit(df, names[y])
    assert list(m.classes_) == list(names) and list(m.feature_names_in_) == ["sl", "sw", "pl", "pw"]
    assert set(m.predict(df)) <= set(names)
    assert m.score(df, names[y]) > 0.9
    top = m.most_informative_features(3)
    assert len(top) == 3 and all(isinstance(d, str) and "label is" in d for d, _ in top)
    assert abs(top[0][1]) >= abs(top[1][1]) >= abs(top[2][1])


def test_pipeline_gridsearch_cross_val():
    from sklearn.model_selection import GridSearchCV, cross_val_score
    from sklearn.pipeline import make_pipeline

    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), MaxEntClassifier())
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.85
    gs = GridSearchCV(pipe, {"maxentclassifier__C": [0.01, 1.0]}, cv=3).fit(X, y)
    assert gs.best_params_["maxentclassifier__C"] in (0.01, 1.0) and gs.score(X, y) > 0.85


@parametrize_with_checks([MaxEntClassifier()])
def test_sklearn_estimator_checks(estimator, check):
    # every check runs; pandas-based checks need pandas (CI installs it). The one that skips
    # itself is check_array_api_input: it runs only with SCIPY_ARRAY_API=1, and the estimator
    # does not claim array-API support (it computes in NumPy and the native kernels).
    check(estimator)


# ---- joint features ----------------------------------------------------------------------


def kron_joint(X, K):
    """χ(x, y) = x ⊗ e_y as joint features: row i·K + c holds x_i in block c."""
    n, F = X.shape
    rows = []
    for c in range(K):
        e = np.zeros((1, K))
        e[0, c] = 1
        rows.append(sp.kron(sp.csr_matrix(X), sp.csr_matrix(e)))
    # kron(x, e_c) puts x_i[j] at column j·K + c; stack the K label rows of each sample
    stacked = sp.vstack(rows).tocsr()
    order = np.arange(n * K).reshape(K, n).T.reshape(-1)
    return stacked[order]


def test_joint_kron_equals_input_model():
    X, y = dataset("wine")
    K = 3
    J = JointFeatures.from_matrix(kron_joint(X, K), np.unique(y))
    a = MaxEntClassifier(C=0.5, tol=1e-10, max_iter=5000).fit(X, y)
    b = MaxEntClassifier(C=0.5, tol=1e-10, max_iter=5000).fit(J, y)
    np.testing.assert_allclose(b.predict_proba(J), a.predict_proba(X), atol=1e-7)
    np.testing.assert_allclose(b.coef_.reshape(X.shape[1], K).T, a.coef_, atol=1e-5)
    assert b.objective_ == pytest.approx(a.objective_, rel=1e-9)
    assert list(b.predict(J)) == list(a.predict(X))


def weather(n=60, seed=0, label_dependent=False):
    rng = np.random.default_rng(seed)
    values = {"outlook": ["sunny", "rain", "overcast"], "temp": ["hot", "mild", "cool"], "wind": ["yes", "no"],
              "hum": ["high", "normal"]}
    toks = []
    for _ in range(n):
        fs = {k: v[rng.integers(len(v))] for k, v in values.items()}
        if rng.random() < 0.3:
            del fs["hum"]
        score = (fs["outlook"] == "sunny") + (fs.get("hum") == "high") - (fs["wind"] == "yes") + rng.normal() * 0.8
        lab = "play" if score > 0.5 else ("maybe" if score > -0.2 else "stay")
        if label_dependent and lab == "stay":
            fs["rare"] = "x"  # a feature seen with one label only: the feature sums depend on the label
        toks.append((fs, lab))
    return toks


@pytest.mark.parametrize("label_dependent", [False, True])
def test_gis_matches_lbfgs_featuresets(label_dependent):
    toks = weather(label_dependent=label_dependent)
    fs, ys = [f for f, _ in toks], [lab for _, lab in toks]
    J = JointFeatures.from_featuresets(fs, ys)
    # a feature seen with one label only separates the data: no finite optimum without a prior
    for C in (1.0,) if label_dependent else (1.0, np.inf):
        g = MaxEntClassifier(C=C, solver="gis", fit_intercept=False, max_iter=20000, tol=1e-8).fit(J, ys)
        assert (g.correction_ is not None) == label_dependent
        if label_dependent:
            # the correction feature belongs to the GIS model: give L-BFGS the same column
            cfix = g.correction_["constant"] - np.asarray(J.matrix.sum(axis=1)).ravel()
            J2 = JointFeatures.from_matrix(sp.hstack([J.matrix, sp.csr_matrix(cfix[:, None])]), J.classes)
            lb = MaxEntClassifier(C=C, fit_intercept=False, tol=1e-10, max_iter=5000).fit(J2, ys)
            np.testing.assert_allclose(g.predict_proba(J), lb.predict_proba(J2), atol=2e-6)
            assert lb.coef_[-1] == pytest.approx(g.correction_["weight"], abs=1e-5)
            assert g.objective_ == pytest.approx(lb.objective_, rel=1e-9)
        else:
            lb = MaxEntClassifier(C=C, fit_intercept=False, tol=1e-10, max_iter=5000).fit(J, ys)
            np.testing.assert_allclose(g.predict_proba(J), lb.predict_proba(J), atol=2e-6)
            assert g.objective_ == pytest.approx(lb.objective_, rel=1e-9)


def test_gis_matches_lbfgs_input_features():
    X, y = load_digits(return_X_y=True)
    X, y = X[:300] / 16.0, y[:300]
    g = MaxEntClassifier(C=0.1, solver="gis", tol=1e-7, max_iter=20000).fit(X, y)
    lb = MaxEntClassifier(C=0.1, tol=1e-10, max_iter=5000).fit(X, y)
    assert g.objective_ == pytest.approx(lb.objective_, rel=1e-8)
    np.testing.assert_allclose(g.predict_proba(X), lb.predict_proba(X), atol=1e-5)


def test_parity_with_nltk_gis():
    """NLTK's MaxentClassifier (GIS, no prior) run to convergence on data with a finite optimum."""
    require("nltk")
    import nltk.classify.maxent as nltk_maxent

    toks = weather(n=80, seed=3)
    fs, ys = [f for f, _ in toks], [lab for _, lab in toks]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nl = nltk_maxent.MaxentClassifier.train(toks, algorithm="gis", trace=0, max_iter=1000, min_lldelta=0)
    J = JointFeatures.from_featuresets(fs, ys)
    m = MaxEntClassifier(C=np.inf, solver="gis", fit_intercept=False, max_iter=20000, tol=1e-9).fit(J, ys)
    pn = np.array([[nl.prob_classify(f).prob(c) for c in J.classes] for f in fs])
    np.testing.assert_allclose(m.predict_proba(J), pn, atol=1e-6)
    # new samples through the same encoding (an unknown feature is ignored by both); without a
    # prior only samples with every always-present feature are identified by the training data
    new = [{"outlook": "sunny", "temp": "hot", "wind": "no"},
           {"outlook": "rain", "temp": "cool", "wind": "yes", "hum": "normal", "unknown": 1}]
    pn_new = np.array([[nl.prob_classify(f).prob(c) for c in J.classes] for f in new])
    np.testing.assert_allclose(m.predict_proba(J.transform(new)), pn_new, atol=1e-6)
    assert [J.describe(i) for i in range(J.n_features)] == [nl._encoding.describe(i) for i in range(J.n_features)]


def test_joint_from_function_and_describe():
    samples = [0.5, 1.5, -1.0, 2.0, 0.0, -2.0, 1.0, -0.5]
    ys = ["a", "b", "a", "b", "a", "a", "b", "b"]

    def chi(x, label):
        return [(0, x)] if label == "b" else [(1, 1.0)]

    J = JointFeatures.from_function(chi, samples, ["a", "b"], 2, names=["x if b", "bias a"])
    assert J.matrix.shape == (16, 2) and J.describe(1) == "bias a"
    m = MaxEntClassifier(C=10.0, fit_intercept=False).fit(J, ys)
    top = m.most_informative_features(2, J)
    assert {d for d, _ in top} == {"x if b", "bias a"}
    p = m.predict_proba(J.transform([10.0]))
    assert p[0, 1] > 0.99
    with pytest.raises(IndexError, match="out of range for 2 features"):
        JointFeatures.from_function(lambda x, y: [(5, 1.0)], samples, ["a", "b"], 2)
    with pytest.raises(TypeError, match=r"\(index, value\) pair"):
        JointFeatures.from_function(lambda x, y: [5], samples, ["a", "b"], 2)
    with pytest.raises(ValueError, match="not a multiple of the 2 classes"):
        JointFeatures.from_matrix(np.ones((3, 2)), ["a", "b"])
    with pytest.raises(ValueError, match="cannot encode new samples"):
        JointFeatures.from_matrix(np.ones((4, 2)), ["a", "b"]).transform([1])
    with pytest.raises(IndexError, match="out of range"):
        J.describe(2)


def test_count_cutoff_and_alwayson():
    toks = weather(n=30, seed=1)
    fs, ys = [f for f, _ in toks], [lab for _, lab in toks]
    full = JointFeatures.from_featuresets(fs, ys)
    cut = JointFeatures.from_featuresets(fs, ys, count_cutoff=8)
    on = JointFeatures.from_featuresets(fs, ys, alwayson=True)
    assert cut.n_features < full.n_features
    assert on.n_features == full.n_features + 3
    assert on.describe(full.n_features) == "label is 'maybe'"
    # alwayson features are per-label biases: every row of label c has one
    dense = on.matrix.toarray().reshape(on.n_samples, 3, -1)
    np.testing.assert_array_equal(dense[:, :, full.n_features:], np.broadcast_to(np.eye(3), (on.n_samples, 3, 3)))


# ---- the γ-cross-entropy loss ----------------------------------------------------------


@pytest.mark.parametrize("fmt", ["dense", "csr"])
@pytest.mark.parametrize("gamma", [0.0, 0.3, 0.9])
def test_gamma_gradient_matches_finite_differences(gamma, fmt):
    X, y = dataset("iris")
    X = X if fmt == "dense" else sp.csr_matrix(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # a few steps: any point will do
        m = MaxEntClassifier(C=0.7, loss="gamma", gamma=gamma, max_iter=3).fit(X, y)
    rng = np.random.default_rng(1)
    m.coef_ = m.coef_ + rng.normal(0, 0.3, m.coef_.shape)
    m.intercept_ = m.intercept_ + rng.normal(0, 0.3, 3)
    f0, gw, gb = m.objective(X, y, return_grad=True)
    for _ in range(6):
        dw, db = rng.normal(size=m.coef_.shape), rng.normal(size=3)
        h = 1e-6
        mp, mm = copy.deepcopy(m), copy.deepcopy(m)
        mp.coef_, mp.intercept_ = m.coef_ + h * dw, m.intercept_ + h * db
        mm.coef_, mm.intercept_ = m.coef_ - h * dw, m.intercept_ - h * db
        fd = (mp.objective(X, y) - mm.objective(X, y)) / (2 * h)
        assert fd == pytest.approx(np.sum(gw * dw) + np.sum(gb * db), rel=1e-6, abs=1e-7)


def test_gamma_loss_fits_and_threshold_fixed_point():
    X, y = dataset("wine")
    m = MaxEntClassifier(C=0.5, loss="gamma", gamma=0.5, tol=1e-9, max_iter=2000).fit(X, y)
    _, gw, gb = m.objective(X, y, return_grad=True)
    assert np.max(np.abs(gw)) < 1e-5 * len(y) and np.max(np.abs(gb)) < 1e-5 * len(y)
    t = MaxEntClassifier(C=0.5, loss="gamma", gamma=0.5, threshold=0.3, tol=1e-9, max_iter=2000).fit(X, y)
    # at the fixed point the paper's update direction vanishes
    _, gw, gb = t.objective(X, y, return_grad=True)
    assert np.max(np.abs(gw)) < 1e-4 * len(y) and np.max(np.abs(gb)) < 1e-4 * len(y)
    assert t.score(X, y) > 0.9


# ---- threads and ISAs ------------------------------------------------------------------


def test_sparse_fit_independent_of_threads_and_isa(isa, restore_threads):
    rng = np.random.default_rng(5)
    X = sp.random(300, 400, density=0.05, format="csr", random_state=5)
    y = rng.integers(0, 7, 300)
    fits = []
    for nt in (1, 2):
        set_threads(nt)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fits.append(MaxEntClassifier(C=1.0, max_iter=30).fit(X, y))
    np.testing.assert_array_equal(fits[0].coef_, fits[1].coef_)
    np.testing.assert_array_equal(fits[0].predict_proba(X), fits[1].predict_proba(X))


# ---- bad input ---------------------------------------------------------------------------


def assert_unfitted(m):
    with pytest.raises(NotFittedError):
        m.predict(np.zeros((1, 4)))


@pytest.mark.parametrize(
    "kwargs, X, y, exc, match",
    [
        ({}, "nan", None, ValueError, "NaN"),
        ({}, "inf", None, ValueError, "infinity"),
        ({}, None, "short", ValueError, "inconsistent numbers of samples"),
        ({}, None, "one", ValueError, "at least 2 classes"),
        ({}, None, "negw", ValueError, "[Nn]egative values in .*sample_weight"),
        ({"C": 0.0}, None, None, ValueError, r"C must lie in \(0"),
        ({"C": -1.0}, None, None, ValueError, r"C must lie in \(0"),
        ({"C": "1"}, None, None, TypeError, "C must be a real number"),
        ({"solver": "newton"}, None, None, ValueError, "solver must be one of"),
        ({"loss": "hinge"}, None, None, ValueError, "loss must be one of"),
        ({"gamma": 0.5}, None, None, ValueError, "apply to loss='gamma'"),
        ({"loss": "gamma", "gamma": 1.5}, None, None, ValueError, r"gamma must lie in \[0"),
        ({"solver": "gis"}, "neg", None, ValueError, "needs features >= 0"),
        ({"solver": "gis", "loss": "gamma", "gamma": 0.2}, None, None, ValueError, "fits loss='log' only"),
        ({"max_iter": 0}, None, None, ValueError, "max_iter must be >= 1"),
        ({"tol": -1.0}, None, None, ValueError, r"tol must lie in \(0"),
        ({"dtype": np.int32}, None, None, ValueError, "dtype must be numpy.float32 or numpy.float64"),
        ({"class_weight": "sometimes"}, None, None, ValueError, "class_weight"),
    ],
)
def test_bad_input(kwargs, X, y, exc, match):
    Xg, yg = dataset("iris")
    Xb = Xg.copy()
    yb = yg.copy()
    sw = None
    if X == "nan":
        Xb[3, 1] = np.nan
    elif X == "inf":
        Xb[3, 1] = np.inf
    elif X == "neg":
        Xb = Xb  # standardized features have negative values
    if y == "short":
        yb = yb[:-1]
    elif y == "one":
        yb = np.zeros_like(yb)
    elif y == "negw":
        sw = np.ones(len(yb))
        sw[4] = -1
    m = MaxEntClassifier(**kwargs)
    with pytest.raises(exc, match=match):
        m.fit(Xb, yb, sample_weight=sw)
    assert_unfitted(m)
    # a failed refit leaves no stale fit behind either
    m2 = MaxEntClassifier().fit(Xg, yg)
    m2.set_params(**kwargs)
    with pytest.raises(exc, match=match):
        m2.fit(Xb, yb, sample_weight=sw)
    assert_unfitted(m2)


def test_bad_input_at_predict():
    X, y = dataset("iris")
    m = MaxEntClassifier()
    with pytest.raises(NotFittedError):
        m.predict(X)
    m.fit(X, y)
    with pytest.raises(ValueError, match="4 features"):
        m.predict(X[:, :3])
    with pytest.raises(ValueError, match="NaN"):
        m.predict_proba(np.full((1, 4), np.nan))
    J = JointFeatures.from_matrix(kron_joint(X[:5], 3), np.unique(y))
    with pytest.raises(ValueError, match="fitted on an input feature matrix"):
        m.predict(J)
    toks = weather()
    fs, ys = [f for f, _ in toks], [lab for _, lab in toks]
    Jw = JointFeatures.from_featuresets(fs, ys)
    mj = MaxEntClassifier().fit(Jw, ys)
    with pytest.raises(ValueError, match="fitted on JointFeatures"):
        mj.predict(X)
    with pytest.raises(ValueError, match="one label per sample"):
        MaxEntClassifier().fit(Jw, ys[:-1])
    with pytest.raises(ValueError, match="is not one of the JointFeatures' classes"):
        MaxEntClassifier().fit(Jw, ys[:-1] + ["never"])
    with pytest.raises(ValueError, match="C=inf: feature"):
        Jz = JointFeatures.from_matrix(sp.hstack([Jw.matrix, sp.csr_matrix((Jw.matrix.shape[0], 1))]), Jw.classes)
        MaxEntClassifier(C=np.inf, solver="gis").fit(Jz, ys)


def test_warm_start_and_convergence_warning():
    X, y = dataset("digits")
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        m = MaxEntClassifier(C=1.0, max_iter=3, warm_start=True).fit(X, y)
    first = m.objective_
    with pytest.warns(ConvergenceWarning):
        m.fit(X, y)
    assert m.objective_ < first  # continued from the previous coefficients


def test_import_without_sklearn_keeps_logitcore_working():
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['sklearn'] = None\n"
        "import numpy as np, logitcore as lc\n"
        "print(float(lc.logsumexp(np.zeros(4))))\n"
        "try:\n    lc.MaxEntClassifier\nexcept ImportError as e:\n    print('IMPORTERROR', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "1.386" in out and "IMPORTERROR" in out and "logitcore[maxent]" in out


@pytest.mark.parametrize("cutoff, alwayson", [(0, False), (3, False), (5, True)])
def test_binary_encoding_matches_nltk(cutoff, alwayson):
    require("nltk")
    from nltk.classify.maxent import BinaryMaxentFeatureEncoding

    toks = weather(n=50, seed=2, label_dependent=True)
    fs, ys = [f for f, _ in toks], [lab for _, lab in toks]
    enc = BinaryMaxentFeatureEncoding.train(toks, count_cutoff=cutoff, labels=sorted(set(ys)),
                                            alwayson_features=alwayson)
    J = JointFeatures.from_featuresets(fs, ys, count_cutoff=cutoff, alwayson=alwayson)
    assert J.n_features == enc.length()
    assert [J.describe(i) for i in range(J.n_features)] == [enc.describe(i) for i in range(enc.length())]
    dense = J.matrix.toarray()
    for i, f in enumerate(fs[:20]):
        for c, lab in enumerate(J.classes):
            want = np.zeros(J.n_features)
            for j, v in enc.encode(f, lab):
                want[j] += v
            np.testing.assert_array_equal(dense[i * len(J.classes) + c], want)
