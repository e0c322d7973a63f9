// Every ISA path: the suite is instantiated over the ISAs logitcore_isa_supported reports. SetUp
// selects the ISA with logitcore_set_isa, TearDown restores the previous ISA and thread count.
// Each ISA's results match the double-precision reference and the scalar kernels within the
// documented tolerances, and are bitwise identical for 1 and 2 threads (rows long enough to be
// split across threads: 3 x 70000, and many rows: 64 x 3000).
#include <functional>
#include <memory>

#include "test_support.h"

namespace {

using namespace lct;

struct Shape {
  i64 rows, cols;
};
// 3 x 70000: fewer rows than twice the threads, long rows: the blocks of a row are split across
// threads. 64 x 3000: rows split across threads. 5 x 37: masked tails, serial.
const Shape kShapes[] = {{3, 70000}, {64, 3000}, {5, 37}};

std::string shape_name(const Shape& s) { return std::to_string(s.rows) + " x " + std::to_string(s.cols); }

class IsaPaths : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    guard_ = std::make_unique<RuntimeGuard>();
    ASSERT_OK(logitcore_set_isa(GetParam().c_str()));
    ASSERT_STREQ(logitcore_isa_name(logitcore_get_isa()), GetParam().c_str());
  }
  void TearDown() override { guard_.reset(); }

 public:
  // f() computed on the scalar kernels; the ISA under test is selected again afterwards
  template <class F>
  auto on_scalar(F&& f) {
    EXPECT_OK(logitcore_set_isa("scalar"));
    auto r = f();
    EXPECT_OK(logitcore_set_isa(GetParam().c_str()));
    return r;
  }

  // run(num_threads) for 1, 2 and 0 with the process-wide setting at 2: the same bits each time.
  template <class R>
  R same_bits_for_thread_counts(const std::function<R(int)>& run, const std::string& what) {
    const R one = run(1);
    EXPECT_TRUE(BitEqual(run(2), one)) << what << ": 1 vs 2 threads";
    EXPECT_OK(logitcore_set_num_threads(2));
    EXPECT_TRUE(BitEqual(run(0), one)) << what << ": 1 thread vs the process-wide 2";
    EXPECT_OK(logitcore_set_num_threads(0));
    return one;
  }

 private:
  std::unique_ptr<RuntimeGuard> guard_;
};

INSTANTIATE_TEST_SUITE_P(Supported, IsaPaths, ::testing::ValuesIn(supported_isa_names()),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

TEST_P(IsaPaths, SelectedIsaIsInUse) {
  EXPECT_EQ(logitcore_isa_supported(logitcore_get_isa()), 1);
  EXPECT_STREQ(logitcore_isa_name(logitcore_get_isa()), GetParam().c_str());
}

// ---- logsumexp -------------------------------------------------------------------------------------------

template <class T>
void lse_case(IsaPaths& t, const Shape& s, unsigned seed) {
  using A = Api<T>;
  const std::string what = std::string(A::name) + " " + shape_name(s);
  auto x = uniform<T>(static_cast<size_t>(s.rows * s.cols), -6, 6, seed);
  auto b = uniform<T>(x.size(), -0.5, 1.5, seed + 1);
  const auto mx = mat(x.data(), s.rows, s.cols), mb = mat(b.data(), s.rows, s.cols);
  const std::function<std::vector<T>(int)> plain = [&](int nt) {
    std::vector<T> out(static_cast<size_t>(s.rows), static_cast<T>(kSentinel));
    const auto vo = vec(out.data(), s.rows);
    EXPECT_OK(A::logsumexp(&mx, nullptr, &vo, nullptr, nt));
    return out;
  };
  const std::function<std::vector<T>(int)> weighted = [&](int nt) {
    std::vector<T> out(static_cast<size_t>(2 * s.rows), static_cast<T>(kSentinel));
    const auto vo = vec(out.data(), s.rows), vs = vec(out.data() + s.rows, s.rows);
    EXPECT_OK(A::logsumexp(&mx, &mb, &vo, &vs, nt));
    return out;
  };
  const auto r = t.same_bits_for_thread_counts(plain, what + " logsumexp");
  const auto rw = t.same_bits_for_thread_counts(weighted, what + " weighted logsumexp");
  const auto sr = t.on_scalar([&] { return plain(1); });
  const auto srw = t.on_scalar([&] { return weighted(1); });
  for (i64 i = 0; i < s.rows; ++i) {
    const size_t k = static_cast<size_t>(i);
    EXPECT_TRUE(Near(r[k], ref_lse(row_of<T>(mx, i)), A::lse_tol)) << what << " row " << i;
    EXPECT_TRUE(Near(r[k], sr[k], A::lse_tol)) << what << " vs scalar, row " << i;
    const SignedValue ref = ref_lse_weighted(row_of<T>(mx, i), row_of<T>(mb, i));
    EXPECT_TRUE(Near(rw[k], ref.value, 4 * A::lse_tol)) << what << " weighted row " << i;
    EXPECT_TRUE(Near(rw[k], srw[k], 4 * A::lse_tol)) << what << " weighted vs scalar, row " << i;
    EXPECT_EQ(rw[k + static_cast<size_t>(s.rows)], ref.sign) << what << " sign, row " << i;
  }
}

TEST_P(IsaPaths, Logsumexp) {
  unsigned seed = 100;
  for (const Shape& s : kShapes) {
    lse_case<float>(*this, s, ++seed);
    lse_case<double>(*this, s, ++seed);
  }
}

// ---- softmax, log_softmax -------------------------------------------------------------------------------------

template <class T>
void softmax_case(IsaPaths& t, const Shape& s, bool log, unsigned seed) {
  using A = Api<T>;
  const std::string what = std::string(A::name) + " " + shape_name(s) + (log ? " log_softmax" : " softmax");
  auto x = uniform<T>(static_cast<size_t>(s.rows * s.cols), -8, 8, seed);
  const auto mx = mat(x.data(), s.rows, s.cols);
  const std::function<std::vector<T>(int)> run = [&](int nt) {
    std::vector<T> y(x.size(), static_cast<T>(kSentinel));
    const auto my = mat(y.data(), s.rows, s.cols);
    EXPECT_OK(log ? A::log_softmax(&mx, &my, nt) : A::softmax(&mx, &my, nt));
    return y;
  };
  const auto y = t.same_bits_for_thread_counts(run, what);
  const auto sy = t.on_scalar([&] { return run(1); });
  // in place: the same bits
  std::vector<T> z = x;
  const auto mz = mat(z.data(), s.rows, s.cols);
  ASSERT_OK(log ? A::log_softmax(&mz, &mz, 2) : A::softmax(&mz, &mz, 2));
  EXPECT_TRUE(BitEqual(z, y)) << what << " in place";
  int bad = 0;
  for (i64 i = 0; i < s.rows && bad < 5; ++i) {
    const auto xi = row_of<T>(mx, i);
    const double l = ref_lse(xi);
    const auto want = log ? ref_log_softmax(xi) : ref_softmax(xi);
    for (i64 j = 0; j < s.cols && bad < 5; ++j) {
      const size_t k = static_cast<size_t>(i * s.cols + j);
      // the error of softmax entries is relative, that of log_softmax absolute, both from lse's
      const double tol = A::lse_tol * (1 + std::fabs(xi[static_cast<size_t>(j)]) + std::fabs(l)) + 4 * A::eps;
      const double w = want[static_cast<size_t>(j)];
      const double scale = log ? 1.0 : w;
      if (!(std::fabs(y[k] - w) <= tol * scale + std::numeric_limits<T>::denorm_min()) ||
          !(std::fabs(y[k] - sy[k]) <= 2 * tol * scale + std::numeric_limits<T>::denorm_min())) {
        ADD_FAILURE() << what << " (" << i << ", " << j << "): " << y[k] << ", reference " << w << ", scalar " << sy[k];
        ++bad;
      }
    }
  }
}

TEST_P(IsaPaths, SoftmaxAndLogSoftmax) {
  unsigned seed = 200;
  for (const Shape& s : kShapes)
    for (bool log : {false, true}) {
      softmax_case<float>(*this, s, log, ++seed);
      softmax_case<double>(*this, s, log, ++seed);
    }
}

// ---- entropies ------------------------------------------------------------------------------------------------

template <class T>
void entropy_case(IsaPaths& t, const Shape& s, unsigned seed) {
  using A = Api<T>;
  const std::string what = std::string(A::name) + " " + shape_name(s);
  auto x = uniform<T>(static_cast<size_t>(s.rows * s.cols), -5, 5, seed);
  auto p = prob_rows<T>(s.rows, s.cols, seed + 1);
  for (size_t k = 5; k < p.size(); k += 11) p[k] = 0;
  const auto mx = mat(x.data(), s.rows, s.cols), mp = mat(p.data(), s.rows, s.cols);
  const std::function<std::vector<T>(int)> run = [&](int nt) {
    std::vector<T> out(static_cast<size_t>(2 * s.rows), static_cast<T>(kSentinel));
    const auto v1 = vec(out.data(), s.rows), v2 = vec(out.data() + s.rows, s.rows);
    EXPECT_OK(A::softmax_entropy(&mx, &v1, nt));
    EXPECT_OK(A::entropy(&mp, &v2, nt));
    return out;
  };
  const auto h = t.same_bits_for_thread_counts(run, what + " entropies");
  const auto sh = t.on_scalar([&] { return run(1); });
  for (i64 i = 0; i < s.rows; ++i) {
    const size_t k = static_cast<size_t>(i), k2 = static_cast<size_t>(i + s.rows);
    const double tol = A::ent_tol * 6, want = ref_softmax_entropy(row_of<T>(mx, i)), want2 = ref_entropy(row_of<T>(mp, i));
    EXPECT_NEAR(h[k], want, tol) << what << " softmax_entropy row " << i;
    EXPECT_NEAR(h[k], sh[k], tol) << what << " softmax_entropy vs scalar, row " << i;
    EXPECT_NEAR(h[k2], want2, A::ent_tol * (1 + want2)) << what << " entropy row " << i;
    EXPECT_NEAR(h[k2], sh[k2], A::ent_tol * (1 + want2)) << what << " entropy vs scalar, row " << i;
  }
}

TEST_P(IsaPaths, SoftmaxEntropyAndEntropy) {
  unsigned seed = 300;
  for (const Shape& s : kShapes) {
    entropy_case<float>(*this, s, ++seed);
    entropy_case<double>(*this, s, ++seed);
  }
}

// ---- the streaming state --------------------------------------------------------------------------------------

template <class T>
void state_case(IsaPaths& t, const Shape& s, unsigned seed) {
  using A = Api<T>;
  const std::string what = std::string(A::name) + " " + shape_name(s);
  auto x = uniform<T>(static_cast<size_t>(s.rows * s.cols), -6, 6, seed);
  const i64 k = s.cols / 3;
  const auto left = mat(x.data(), s.rows, k, s.cols, 1), right = mat(x.data() + k, s.rows, s.cols - k, s.cols, 1);
  const std::function<std::vector<double>(int)> run = [&](int nt) {
    std::vector<double> m(static_cast<size_t>(s.rows)), u(m.size()), r(2 * m.size());
    EXPECT_OK(logitcore_lse_state_init(m.data(), u.data(), s.rows));
    EXPECT_OK(A::state_update(m.data(), u.data(), &left, nt));
    EXPECT_OK(A::state_update(m.data(), u.data(), &right, nt));
    EXPECT_OK(logitcore_lse_state_result(m.data(), u.data(), s.rows, r.data()));
    std::copy(u.begin(), u.end(), r.begin() + s.rows);
    return r;
  };
  const auto r = t.same_bits_for_thread_counts(run, what + " state");
  const auto sr = t.on_scalar([&] { return run(1); });
  const auto whole = mat(x.data(), s.rows, s.cols);
  for (i64 i = 0; i < s.rows; ++i) {
    EXPECT_TRUE(Near(r[static_cast<size_t>(i)], ref_lse(row_of<T>(whole, i)), A::lse_tol)) << what << " row " << i;
    EXPECT_TRUE(Near(r[static_cast<size_t>(i)], sr[static_cast<size_t>(i)], A::lse_tol)) << what << " vs scalar " << i;
  }
}

TEST_P(IsaPaths, StateUpdate) {
  unsigned seed = 400;
  for (const Shape& s : kShapes) {
    state_case<float>(*this, s, ++seed);
    state_case<double>(*this, s, ++seed);
  }
}

// ---- entropy normalization ------------------------------------------------------------------------------------

template <class T>
void en_case(IsaPaths& t, const Shape& s, bool logits, unsigned seed) {
  using A = Api<T>;
  const std::string what = std::string(A::name) + " " + shape_name(s) + (logits ? " logits" : " probabilities");
  auto x = logits ? uniform<T>(static_cast<size_t>(s.rows * s.cols), -4, 4, seed) : prob_rows<T>(s.rows, s.cols, seed);
  std::vector<double> target(static_cast<size_t>(s.rows));
  const double hmax = std::log(static_cast<double>(s.cols));
  for (i64 i = 0; i < s.rows; ++i)
    target[static_cast<size_t>(i)] = 0.1 + (hmax - 0.2) * static_cast<double>(i + 1) / static_cast<double>(s.rows + 1);
  logitcore_en_options o = logitcore_en_default_options();
  o.input = logits ? LOGITCORE_EN_LOGITS : LOGITCORE_EN_PROBABILITIES;
  const auto mx = mat(x.data(), s.rows, s.cols);
  const std::function<std::vector<T>(int)> run = [&](int nt) {
    std::vector<T> q(x.size(), static_cast<T>(kSentinel));
    const auto mq = mat(q.data(), s.rows, s.cols);
    std::vector<double> gamma(static_cast<size_t>(s.rows));
    std::vector<std::int8_t> st(static_cast<size_t>(s.rows), 77);
    std::vector<std::uint8_t> conv(static_cast<size_t>(s.rows), 77);
    logitcore_en_info info{};
    info.gamma = gamma.data();
    info.status = st.data();
    info.converged = conv.data();
    EXPECT_OK(A::entropy_normalize(&mx, &mq, target.data(), 1, &o, &info, nt));
    for (i64 i = 0; i < s.rows; ++i) {
      EXPECT_EQ(st[static_cast<size_t>(i)], LOGITCORE_EN_OK) << what << " row " << i;
      EXPECT_EQ(conv[static_cast<size_t>(i)], 1) << what << " row " << i;
    }
    return q;
  };
  const auto q = t.same_bits_for_thread_counts(run, what + " entropy_normalize");
  const auto sq = t.on_scalar([&] { return run(1); });
  const double tol = logitcore_en_effective_tol(&o, A::is_f64);
  const auto mq = mat(q.data(), s.rows, s.cols), msq = mat(sq.data(), s.rows, s.cols);
  for (i64 i = 0; i < s.rows; ++i) {
    const double tg = target[static_cast<size_t>(i)];
    EXPECT_LE(std::fabs(ref_entropy(row_of<T>(mq, i)) - tg), tol) << what << " row " << i;
    EXPECT_LE(std::fabs(ref_entropy(row_of<T>(msq, i)) - tg), tol) << what << " scalar row " << i;
  }
}

TEST_P(IsaPaths, EntropyNormalize) {
  unsigned seed = 500;
  for (const Shape& s : kShapes)
    for (bool logits : {false, true}) {
      en_case<float>(*this, s, logits, ++seed);
      en_case<double>(*this, s, logits, ++seed);
    }
}

// ---- losses -----------------------------------------------------------------------------------------------------

template <class T>
void loss_case(IsaPaths& t, const Shape& s, int kind, double param, unsigned seed) {
  using A = Api<T>;
  const std::string what = std::string(A::name) + " " + shape_name(s) + " kind " + std::to_string(kind);
  auto x = uniform<T>(static_cast<size_t>(s.rows * s.cols), -5, 5, seed);
  std::vector<i64> target(static_cast<size_t>(s.rows));
  for (i64 i = 0; i < s.rows; ++i) target[static_cast<size_t>(i)] = (i * 977 + 13) % s.cols;
  target[1] = LOGITCORE_LOSS_DEFAULT_IGNORE_INDEX;
  std::vector<double> cw(static_cast<size_t>(s.cols));
  for (i64 j = 0; j < s.cols; ++j) cw[static_cast<size_t>(j)] = 0.5 + static_cast<double>(j % 7) / 4;
  logitcore_loss_options o = logitcore_loss_default_options();
  o.kind = kind;
  o.param = param;
  o.threshold = kind == LOGITCORE_LOSS_GAMMA_CE ? 0.1 : 0.0;
  o.class_weight = cw.data();
  const auto mx = mat(x.data(), s.rows, s.cols);
  // row losses, the reduction, then the gradient (as doubles, bit for bit)
  const std::function<std::vector<double>(int)> run = [&](int nt) {
    std::vector<double> r(static_cast<size_t>(s.rows) + 1 + x.size());
    std::vector<T> g(x.size(), static_cast<T>(kSentinel));
    const auto mg = mat(g.data(), s.rows, s.cols);
    EXPECT_OK(A::loss(&mx, target.data(), &o, r.data(), r.data() + s.rows, &mg, nt));
    std::copy(g.begin(), g.end(), r.begin() + s.rows + 1);
    return r;
  };
  const auto r = t.same_bits_for_thread_counts(run, what + " loss");
  const auto sr = t.on_scalar([&] { return run(1); });
  // in place over the logits: the same bits
  std::vector<T> xin = x;
  std::vector<double> rl(static_cast<size_t>(s.rows));
  double red;
  const auto mxin = mat(xin.data(), s.rows, s.cols);
  ASSERT_OK(A::loss(&mxin, target.data(), &o, rl.data(), &red, &mxin, 2));
  EXPECT_TRUE(BitEqual(rl, std::vector<double>(r.begin(), r.begin() + s.rows))) << what << " in place";
  EXPECT_EQ(red, r[static_cast<size_t>(s.rows)]) << what;
  for (size_t k = 0; k < xin.size(); ++k)
    if (static_cast<double>(xin[k]) != r[static_cast<size_t>(s.rows) + 1 + k]) {
      ADD_FAILURE() << what << ": in-place gradient differs at " << k;
      break;
    }
  // against the reference (the gradient on a sample of rows) and the scalar kernels
  std::vector<double> xd(x.begin(), x.end());
  const BatchLossRef ref = ref_batch_loss(xd, s.rows, s.cols, target, o);
  const double tol = A::is_f64 ? 1e-11 : 4e-5;
  for (i64 i = 0; i < s.rows; ++i) {
    EXPECT_TRUE(Near(r[static_cast<size_t>(i)], ref.row_loss[static_cast<size_t>(i)], tol)) << what << " row " << i;
    EXPECT_TRUE(Near(r[static_cast<size_t>(i)], sr[static_cast<size_t>(i)], tol)) << what << " vs scalar, row " << i;
  }
  EXPECT_TRUE(Near(r[static_cast<size_t>(s.rows)], ref.reduced, tol)) << what << " reduced";
  EXPECT_TRUE(Near(r[static_cast<size_t>(s.rows)], sr[static_cast<size_t>(s.rows)], tol)) << what;
  int bad = 0;
  for (size_t k = 0; k < x.size() && bad < 5; k += 7) {
    const double g = r[static_cast<size_t>(s.rows) + 1 + k], sg = sr[static_cast<size_t>(s.rows) + 1 + k];
    if (!Near(g, ref.grad[k], tol) || !Near(g, sg, tol)) {
      ADD_FAILURE() << what << " grad " << k << ": " << g << ", reference " << ref.grad[k] << ", scalar " << sg;
      ++bad;
    }
  }
}

TEST_P(IsaPaths, Loss) {
  unsigned seed = 600;
  for (const Shape& s : kShapes) {
    loss_case<float>(*this, s, LOGITCORE_LOSS_GAMMA_CE, 0.3, ++seed);
    loss_case<double>(*this, s, LOGITCORE_LOSS_FOCAL, 2.0, ++seed);
    loss_case<float>(*this, s, LOGITCORE_LOSS_GCE, 0.7, ++seed);
    loss_case<double>(*this, s, LOGITCORE_LOSS_GAMMA_CE, 0.0, ++seed);
  }
}

// ---- elementwise --------------------------------------------------------------------------------------------------

template <class T>
void elementwise_case(IsaPaths& t) {
  using A = Api<T>;
  const bool f64 = A::is_f64;
  const i64 n = 100003;  // not a multiple of any vector width
  std::vector<T> xe(static_cast<size_t>(n)), xl(xe.size()), x2(xe.size());
  for (i64 i = 0; i < n; ++i) {
    const double u = static_cast<double>(i) / static_cast<double>(n - 1);
    xe[static_cast<size_t>(i)] = static_cast<T>((f64 ? 1400 : 174) * (u - 0.5));
    xl[static_cast<size_t>(i)] = static_cast<T>(std::exp((f64 ? 1400 : 170) * (u - 0.5)));
    x2[static_cast<size_t>(i)] = static_cast<T>((f64 ? 2044 : 252) * (u - 0.5));
  }
  auto apply = [&](logitcore_status (*f)(const T*, i64, T*), const std::vector<T>& in) {
    std::vector<T> y(in.size(), static_cast<T>(kSentinel));
    EXPECT_OK(f(in.data(), n, y.data()));
    return y;
  };
  struct Op {
    const char* name;
    logitcore_status (*f)(const T*, i64, T*);
    const std::vector<T>* in;
    long double (*exact)(long double);
    double bound;
    bool ulp;  // error in ulps (exp, exp2) or in eps (log, log2: relative above 1, absolute below)
  };
  const Op ops[] = {
      {"exp", &A::exp, &xe, [](long double v) { return std::exp(v); }, A::exp_ulps, true},
      {"log", &A::log, &xl, [](long double v) { return std::log(v); }, A::log_eps, false},
      {"exp2_core", &A::exp2_core, &x2, [](long double v) { return std::exp2(v); }, A::exp2_ulps, true},
      {"log2_core", &A::log2_core, &xl, [](long double v) { return std::log2(v); }, A::log_eps, false},
  };
  for (const Op& op : ops) {
    const auto y = apply(op.f, *op.in);
    const auto sy = t.on_scalar([&] { return apply(op.f, *op.in); });
    double worst = 0, worst_scalar = 0;
    size_t at_worst = 0;
    for (size_t k = 0; k < y.size(); ++k) {
      const double e = static_cast<double>(op.exact(static_cast<long double>((*op.in)[k])));
      const double err = op.ulp ? ulps<T>(y[k], e) : log_err<T>(y[k], e);
      if (err > worst) worst = err, at_worst = k;
      worst_scalar = std::max(worst_scalar, op.ulp ? ulps<T>(sy[k], e) : log_err<T>(sy[k], e));
    }
    EXPECT_LE(worst, op.bound) << A::name << " " << op.name << ": worst at x = " << (*op.in)[at_worst] << ", "
                               << y[at_worst] << " (" << (op.ulp ? "ulps" : "eps") << ")";
    EXPECT_LE(worst_scalar, op.bound) << A::name << " " << op.name << " on the scalar kernels";
  }
}

TEST_P(IsaPaths, Elementwise) {
  elementwise_case<float>(*this);
  elementwise_case<double>(*this);
}

}  // namespace
