// The C++ wrapper (logitcore.hpp): views, overloads for float and double, LogSumExpState,
// EntropyNormalizeOptions/Info, LossOptions builders, and errors as std exceptions whose messages
// are logitcore_last_error()'s. Values are checked bit for bit against the C functions (whose
// values test_c_api.cpp checks against the reference).
#include "logitcore/logitcore.hpp"

#include <thread>
#include <type_traits>

#include "test_support.h"

namespace {

namespace lc = logitcore;
using namespace lct;

// Runs f, which must throw E; returns what() (empty if it did not throw E).
template <class E, class F>
std::string what_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw another exception type: " << e.what();
    return "";
  }
  ADD_FAILURE() << "did not throw";
  return "";
}
#define EXPECT_THROW_MSG(stmt, E, needle)                                    \
  do {                                                                       \
    const std::string msg_ = lower(what_of<E>([&] { stmt; }));                \
    EXPECT_NE(msg_.find(lower(needle)), std::string::npos) << #stmt << ": \"" << msg_ << "\""; \
  } while (0)

// ---- views ------------------------------------------------------------------------------------------

static_assert(std::is_convertible<lc::Matrix<float>, lc::Matrix<const float>>::value, "T -> const T");
static_assert(!std::is_convertible<lc::Matrix<const float>, lc::Matrix<float>>::value, "no const_cast");
static_assert(!std::is_convertible<lc::Matrix<double>, lc::Matrix<const float>>::value, "no type change");
static_assert(std::is_convertible<std::vector<double>&, lc::Vector<double>>::value, "containers are vectors");
static_assert(std::is_convertible<const std::vector<double>&, lc::Vector<const double>>::value, "const containers");

TEST(CppViews, Matrix) {
  const lc::Matrix<float> d;
  EXPECT_EQ(d.data, nullptr);
  EXPECT_EQ(d.rows, 0);
  EXPECT_EQ(d.cols, 0);
  EXPECT_EQ(d.col_stride, 1);
  EXPECT_TRUE(d.empty());
  std::vector<float> buf(12);
  for (size_t k = 0; k < buf.size(); ++k) buf[k] = static_cast<float>(k);
  const lc::Matrix<float> m(buf.data(), 3, 4);
  EXPECT_EQ(m.row_stride, 4);
  EXPECT_EQ(m.col_stride, 1);
  EXPECT_FALSE(m.empty());
  EXPECT_EQ(m(2, 1), 9.0f);
  m(0, 0) = 42;
  EXPECT_EQ(buf[0], 42.0f);
  const lc::Matrix<float> t(buf.data() + 11, 4, 3, -1, -4);  // reversed transpose
  EXPECT_EQ(t(0, 0), 11.0f);
  EXPECT_EQ(t(1, 2), 2.0f);
  const lc::Matrix<float> s(buf.data(), 2, 2, 6);
  EXPECT_EQ(s.col_stride, 1);
  EXPECT_EQ(s(1, 1), 7.0f);
  EXPECT_TRUE(lc::Matrix<float>(buf.data(), 0, 5).empty());
  EXPECT_TRUE(lc::Matrix<float>(buf.data(), 5, 0).empty());
  const lc::Matrix<const float> cm = m;
  EXPECT_EQ(cm.data, m.data);
  EXPECT_EQ(cm.rows, 3);
  EXPECT_EQ(cm.row_stride, 4);
  const logitcore_matrix c = t.c();
  EXPECT_EQ(c.data, static_cast<void*>(buf.data() + 11));
  EXPECT_EQ(c.rows, 4);
  EXPECT_EQ(c.cols, 3);
  EXPECT_EQ(c.row_stride, -1);
  EXPECT_EQ(c.col_stride, -4);
}

TEST(CppViews, Vector) {
  const lc::Vector<double> d;
  EXPECT_EQ(d.data, nullptr);
  EXPECT_EQ(d.size, 0);
  EXPECT_EQ(d.stride, 1);
  std::vector<double> buf = {0, 1, 2, 3, 4, 5};
  const lc::Vector<double> v(buf);
  EXPECT_EQ(v.data, buf.data());
  EXPECT_EQ(v.size, 6);
  EXPECT_EQ(v.stride, 1);
  const lc::Vector<double> r(buf.data() + 5, 3, -2);
  EXPECT_EQ(r[0], 5.0);
  EXPECT_EQ(r[2], 1.0);
  r[1] = -3;
  EXPECT_EQ(buf[3], -3.0);
  const std::vector<double>& cbuf = buf;
  const lc::Vector<const double> cv(cbuf);
  EXPECT_EQ(cv.size, 6);
  const logitcore_vector c = r.c();
  EXPECT_EQ(c.data, static_cast<void*>(buf.data() + 5));
  EXPECT_EQ(c.size, 3);
  EXPECT_EQ(c.stride, -2);
}

// ---- errors, version, ISA, threads ------------------------------------------------------------------------

TEST(CppErrors, StatusToExceptionMapping) {
  EXPECT_NO_THROW(lc::detail::check(LOGITCORE_OK));
  // the message is the thread's last error
  EXPECT_EQ(logitcore_set_isa("bogus_isa"), LOGITCORE_INVALID_ARGUMENT);
  EXPECT_THROW_MSG(lc::detail::check(LOGITCORE_INVALID_ARGUMENT), std::invalid_argument, "bogus_isa");
  EXPECT_THROW_MSG(lc::detail::check(LOGITCORE_UNSUPPORTED), std::invalid_argument, "bogus_isa");
  EXPECT_THROW_MSG(lc::detail::check(LOGITCORE_OUT_OF_RANGE), std::out_of_range, "bogus_isa");
  EXPECT_THROW(lc::detail::check(LOGITCORE_OUT_OF_MEMORY), std::bad_alloc);
  EXPECT_THROW_MSG(lc::detail::check(LOGITCORE_INTERNAL), std::runtime_error, "logitcore: ");
  EXPECT_THROW_MSG(lc::detail::check(LOGITCORE_INTERNAL), std::runtime_error, "bogus_isa");
}

TEST(CppRuntime, VersionIsaThreads) {
  RuntimeGuard guard;
  EXPECT_EQ(lc::version(), LOGITCORE_VERSION_STRING);
  EXPECT_EQ(lc::isa(), logitcore_isa_name(logitcore_get_isa()));
  const auto compiled = lc::compiled_isas(), supported = lc::supported_isas();
  ASSERT_FALSE(supported.empty());
  EXPECT_EQ(supported.front(), "scalar");
  for (const auto& s : supported) EXPECT_NE(std::find(compiled.begin(), compiled.end(), s), compiled.end()) << s;
  EXPECT_EQ(supported, supported_isa_names());
  for (const auto& s : supported) {
    lc::set_isa(s);
    EXPECT_EQ(lc::isa(), s);
  }
  lc::set_isa("auto");
  EXPECT_EQ(lc::isa(), supported.back());
  EXPECT_THROW_MSG(lc::set_isa("sse9"), std::invalid_argument, "sse9");
  for (const auto& c : compiled) {
    if (std::find(supported.begin(), supported.end(), c) == supported.end()) {
      EXPECT_THROW_MSG(lc::set_isa(c), std::invalid_argument, c);  // UNSUPPORTED maps to invalid_argument
    }
  }
  lc::set_num_threads(2);
  EXPECT_EQ(lc::num_threads(), 2);
  EXPECT_THROW_MSG(lc::set_num_threads(5000), std::invalid_argument, "5000");
  EXPECT_EQ(lc::num_threads(), 2);
  EXPECT_EQ(lc::have_openmp(), logitcore_have_openmp() != 0);
  EXPECT_EQ(lc::block_size(), 2048);
}

// ---- the logsumexp family ---------------------------------------------------------------------------------

template <class T>
class CppFamily : public ::testing::Test {};
TYPED_TEST_SUITE(CppFamily, FloatTypes, TypeNames);

TYPED_TEST(CppFamily, LogsumexpOverloadsMatchTheCApi) {
  using T = TypeParam;
  using A = Api<T>;
  const i64 rows = 4, cols = 9;
  auto x = uniform<T>(static_cast<size_t>(rows * cols), -3, 3, 1);
  auto b = uniform<T>(x.size(), -1, 1, 2);
  const lc::Matrix<T> mx(x.data(), rows, cols);  // non-const: converts to Matrix<const T>
  const lc::Matrix<const T> mb(b.data(), rows, cols);
  const auto cx = mat(x.data(), rows, cols), cb = mat(b.data(), rows, cols);
  std::vector<T> out(rows), sign(rows), cout(rows), csign(rows);
  const auto co = vec(cout.data(), rows), cs = vec(csign.data(), rows);
  // unweighted
  lc::logsumexp(mx, out);
  ASSERT_OK(A::logsumexp(&cx, nullptr, &co, nullptr, 0));
  EXPECT_TRUE(BitEqual(out, cout));
  // weighted without sign: negative sums NaN, like the C call with sign NULL
  lc::logsumexp(mx, mb, out);
  ASSERT_OK(A::logsumexp(&cx, &cb, &co, nullptr, 0));
  EXPECT_TRUE(BitEqual(out, cout));
  // weighted with sign, through a strided output and an explicit thread count
  std::vector<T> wide(2 * rows, static_cast<T>(kSentinel));
  lc::logsumexp(mx, mb, lc::Vector<T>(wide.data(), rows, 2), lc::Vector<T>(sign), 1);
  ASSERT_OK(A::logsumexp(&cx, &cb, &co, &cs, 0));
  for (i64 i = 0; i < rows; ++i) EXPECT_EQ(wide[static_cast<size_t>(2 * i)], cout[static_cast<size_t>(i)]);
  EXPECT_TRUE(BitEqual(sign, csign));
  // errors become exceptions, outputs untouched
  std::vector<T> small(static_cast<size_t>(rows - 1), static_cast<T>(kSentinel));
  EXPECT_THROW_MSG(lc::logsumexp(mx, small), std::invalid_argument, "out");
  EXPECT_TRUE(Untouched(small));
  const lc::Matrix<const T> b_bad(b.data(), rows, cols - 1);
  EXPECT_THROW_MSG(lc::logsumexp(mx, b_bad, out), std::invalid_argument, "b");
  EXPECT_THROW_MSG(lc::logsumexp(mx, out, -1), std::invalid_argument, "num_threads");
}

TYPED_TEST(CppFamily, SoftmaxLogSoftmaxEntropies) {
  using T = TypeParam;
  using A = Api<T>;
  const i64 rows = 3, cols = 17;
  auto x = uniform<T>(static_cast<size_t>(rows * cols), -4, 4, 3);
  const auto cx = mat(x.data(), rows, cols);
  const lc::Matrix<const T> mx(x.data(), rows, cols);
  for (bool log : {false, true}) {
    std::vector<T> y(x.size()), cy(x.size());
    const auto mcy = mat(cy.data(), rows, cols);
    if (log) lc::log_softmax(mx, lc::Matrix<T>(y.data(), rows, cols));
    else lc::softmax(mx, lc::Matrix<T>(y.data(), rows, cols));
    ASSERT_OK(log ? A::log_softmax(&cx, &mcy, 0) : A::softmax(&cx, &mcy, 0));
    EXPECT_TRUE(BitEqual(y, cy));
    // in place: a Matrix<T> is both the input and the output
    std::vector<T> z = x;
    const lc::Matrix<T> mz(z.data(), rows, cols);
    if (log) lc::log_softmax(mz, mz, 1);
    else lc::softmax(mz, mz, 1);
    EXPECT_TRUE(BitEqual(z, cy));
    // a shape mismatch and a partial overlap throw and write nothing
    std::vector<T> bad(x.size(), static_cast<T>(kSentinel));
    EXPECT_THROW_MSG(lc::softmax(mx, lc::Matrix<T>(bad.data(), rows, cols - 1)), std::invalid_argument, "shape");
    EXPECT_TRUE(Untouched(bad));
    std::vector<T> w = x;
    EXPECT_THROW_MSG(lc::log_softmax(lc::Matrix<const T>(w.data(), 2, cols),
                                     lc::Matrix<T>(w.data() + 1, 2, cols)),
                     std::invalid_argument, "overlap");
    EXPECT_TRUE(BitEqual(w, x));
  }
  std::vector<T> h(rows), ch(rows);
  const auto vch = vec(ch.data(), rows);
  lc::softmax_entropy(mx, h);
  ASSERT_OK(A::softmax_entropy(&cx, &vch, 0));
  EXPECT_TRUE(BitEqual(h, ch));
  auto p = prob_rows<T>(rows, cols, 4);
  const auto cp = mat(p.data(), rows, cols);
  lc::entropy(lc::Matrix<const T>(p.data(), rows, cols), h, 2);
  ASSERT_OK(A::entropy(&cp, &vch, 0));
  EXPECT_TRUE(BitEqual(h, ch));
  std::vector<T> h2(2, static_cast<T>(kSentinel));
  EXPECT_THROW_MSG(lc::entropy(lc::Matrix<const T>(p.data(), rows, cols), h2), std::invalid_argument, "out");
  EXPECT_THROW_MSG(lc::softmax_entropy(lc::Matrix<const T>(nullptr, rows, cols), h), std::invalid_argument, "null");
  EXPECT_TRUE(Untouched(h2));
}

// ---- LogSumExpState ---------------------------------------------------------------------------------------

TEST(CppState, UpdateMergeResult) {
  const i64 rows = 3, cols = 5000;
  auto xf = uniform<float>(static_cast<size_t>(rows * cols), -5, 5, 5);
  auto xd = uniform<double>(static_cast<size_t>(rows * cols), -5, 5, 6);
  lc::LogSumExpState empty;
  EXPECT_EQ(empty.rows(), 0);
  EXPECT_TRUE(empty.result().empty());
  lc::LogSumExpState st(rows);
  EXPECT_EQ(st.rows(), rows);
  for (i64 i = 0; i < rows; ++i) {
    EXPECT_EQ(st.max()[static_cast<size_t>(i)], -kInf);
    EXPECT_EQ(st.excess()[static_cast<size_t>(i)], -1.0);
    EXPECT_EQ(st.result()[static_cast<size_t>(i)], -kInf);
  }
  // float blocks and double blocks, chained; equals the C state bit for bit
  const lc::Matrix<const float> f1(xf.data(), rows, 2000, cols), f2(xf.data() + 2000, rows, cols - 2000, cols);
  const lc::Matrix<const double> d1(xd.data(), rows, cols);
  lc::LogSumExpState& same = st.update(f1).update(f2, 1).update(d1, 2);
  EXPECT_EQ(&same, &st);
  std::vector<double> m(rows), u(rows), r(rows);
  ASSERT_OK(logitcore_lse_state_init(m.data(), u.data(), rows));
  const logitcore_matrix c1 = f1.c(), c2 = f2.c(), c3 = d1.c();
  ASSERT_OK(logitcore_lse_state_update_f32(m.data(), u.data(), &c1, 0));
  ASSERT_OK(logitcore_lse_state_update_f32(m.data(), u.data(), &c2, 0));
  ASSERT_OK(logitcore_lse_state_update_f64(m.data(), u.data(), &c3, 0));
  ASSERT_OK(logitcore_lse_state_result(m.data(), u.data(), rows, r.data()));
  EXPECT_TRUE(BitEqual(st.max(), m));
  EXPECT_TRUE(BitEqual(st.excess(), u));
  EXPECT_TRUE(BitEqual(st.result(), r));
  // against the reference: every entry of both matrices in one row
  for (i64 i = 0; i < rows; ++i) {
    std::vector<double> all(xf.begin() + i * cols, xf.begin() + (i + 1) * cols);
    all.insert(all.end(), xd.begin() + i * cols, xd.begin() + (i + 1) * cols);
    EXPECT_TRUE(Near(st.result()[static_cast<size_t>(i)], ref_lse(all), 1e-6)) << i;
  }
  // merge: (f1) + (f2 + d1) equals the chain within rounding
  lc::LogSumExpState a(rows), b(rows);
  a.update(f1);
  b.update(f2).update(d1);
  EXPECT_EQ(&a.merge(b), &a);
  for (i64 i = 0; i < rows; ++i)
    EXPECT_NEAR(a.result()[static_cast<size_t>(i)], st.result()[static_cast<size_t>(i)],
                1e-12 * std::fabs(st.result()[static_cast<size_t>(i)]));
  // errors: states of different sizes; a bad matrix (state unchanged)
  lc::LogSumExpState other(rows + 1);
  EXPECT_THROW_MSG(a.merge(other), std::invalid_argument, "row");
  const std::vector<double> before = a.max();
  EXPECT_THROW_MSG(a.update(lc::Matrix<const float>(nullptr, rows, 4)), std::invalid_argument, "null");
  EXPECT_THROW_MSG(a.update(f1, -1), std::invalid_argument, "num_threads");
  EXPECT_TRUE(BitEqual(a.max(), before));
}

// ---- entropy normalization --------------------------------------------------------------------------------

TEST(CppEntropyNormalize, OptionsAndInfo) {
  const lc::EntropyNormalizeOptions o;
  const logitcore_en_options c = logitcore_en_default_options();
  EXPECT_EQ(o.input, c.input);
  EXPECT_EQ(o.tol, c.tol);
  EXPECT_EQ(o.max_iter, c.max_iter);
  EXPECT_EQ(o.check_sum, c.check_sum);
  EXPECT_EQ(o.sum_tol, c.sum_tol);
  EXPECT_EQ(o.out_of_range_fails, c.out_of_range_fails);
  const lc::EntropyNormalizeOptions l = lc::EntropyNormalizeOptions::logits();
  EXPECT_EQ(l.input, LOGITCORE_EN_LOGITS);
  EXPECT_EQ(l.max_iter, c.max_iter);
  EXPECT_EQ(logitcore_en_effective_tol(&l, 0), LOGITCORE_EN_DEFAULT_TOL_F32);
  lc::EntropyNormalizeInfo info;
  info.resize(5);
  EXPECT_EQ(info.gamma.size(), 5u);
  EXPECT_EQ(info.h_min.size(), 5u);
  EXPECT_EQ(info.h_max.size(), 5u);
  EXPECT_EQ(info.entropy.size(), 5u);
  EXPECT_EQ(info.n_iter.size(), 5u);
  EXPECT_EQ(info.converged.size(), 5u);
  EXPECT_EQ(info.clipped.size(), 5u);
  EXPECT_EQ(info.status.size(), 5u);
  const logitcore_en_info ci = info.c();
  EXPECT_EQ(ci.gamma, info.gamma.data());
  EXPECT_EQ(ci.n_iter, info.n_iter.data());
  EXPECT_EQ(ci.converged, info.converged.data());
  EXPECT_EQ(ci.clipped, info.clipped.data());
  EXPECT_EQ(ci.status, info.status.data());
  EXPECT_EQ(ci.h_min, info.h_min.data());
  EXPECT_EQ(ci.h_max, info.h_max.data());
  EXPECT_EQ(ci.entropy, info.entropy.data());
}

TYPED_TEST(CppFamily, EntropyNormalizeOverloads) {
  using T = TypeParam;
  using A = Api<T>;
  const i64 rows = 4, cols = 50;
  auto p = prob_rows<T>(rows, cols, 7);
  const lc::Matrix<const T> mp(p.data(), rows, cols);
  const auto cp = mat(p.data(), rows, cols);
  const std::vector<double> targets = {0.5, 1.5, 2.5, 3.5};
  // per-row targets with info: the same as the C call
  std::vector<T> q(p.size()), cq(p.size());
  lc::EntropyNormalizeInfo info;  // sized by the call
  lc::entropy_normalize(mp, lc::Matrix<T>(q.data(), rows, cols), targets.data(), 1, {}, &info);
  ASSERT_EQ(info.status.size(), static_cast<size_t>(rows));
  const auto mcq = mat(cq.data(), rows, cols);
  ASSERT_OK(A::entropy_normalize(&cp, &mcq, targets.data(), 1, nullptr, nullptr, 0));
  EXPECT_TRUE(BitEqual(q, cq));
  const double tol = A::is_f64 ? 1e-9 : 1e-5;
  for (i64 i = 0; i < rows; ++i) {
    EXPECT_EQ(info.status[static_cast<size_t>(i)], LOGITCORE_EN_OK);
    EXPECT_EQ(info.converged[static_cast<size_t>(i)], 1);
    EXPECT_LE(std::fabs(ref_entropy(std::vector<double>(q.begin() + i * cols, q.begin() + (i + 1) * cols)) -
                        targets[static_cast<size_t>(i)]),
              tol);
  }
  // one target for every row, logits, in place, explicit threads
  auto z = uniform<T>(p.size(), -3, 3, 8);
  std::vector<T> cz(z.size());
  const auto czm = mat(z.data(), rows, cols), czo = mat(cz.data(), rows, cols);
  const auto lo = lc::EntropyNormalizeOptions::logits();
  ASSERT_OK(A::entropy_normalize(&czm, &czo, std::vector<double>{2.0}.data(), 0, &lo, nullptr, 0));
  const lc::Matrix<T> mz(z.data(), rows, cols);
  lc::entropy_normalize(mz, mz, 2.0, lo, nullptr, 2);
  EXPECT_TRUE(BitEqual(z, cz));
  // errors: bad options, NaN target; nothing written
  std::vector<T> out(p.size(), static_cast<T>(kSentinel));
  lc::EntropyNormalizeOptions bad;
  bad.max_iter = 0;
  EXPECT_THROW_MSG(lc::entropy_normalize(mp, lc::Matrix<T>(out.data(), rows, cols), 1.0, bad), std::invalid_argument,
                   "max_iter");
  bad = lc::EntropyNormalizeOptions();
  bad.tol = kNaN;
  EXPECT_THROW_MSG(lc::entropy_normalize(mp, lc::Matrix<T>(out.data(), rows, cols), 1.0, bad), std::invalid_argument,
                   "tol");
  EXPECT_THROW_MSG(lc::entropy_normalize(mp, lc::Matrix<T>(out.data(), rows, cols), kNaN), std::invalid_argument,
                   "target");
  EXPECT_TRUE(Untouched(out));
  // scratch that cannot be allocated: std::bad_alloc
#ifndef __SANITIZE_ADDRESS__  // (ASan reports an impossible allocation instead of throwing)
  // (2^42 entries: the output view, from a heap address, must not reach the target, a static)
  std::vector<T> buf = {T(0.5), static_cast<T>(kSentinel)};
  const i64 n = i64(1) << 42;
  static const double target = 1.0;
  EXPECT_THROW(lc::entropy_normalize(lc::Matrix<const T>(buf.data(), 1, n, n, 0), lc::Matrix<T>(buf.data() + 1, 1, n),
                                     &target, 0, lc::EntropyNormalizeOptions::logits(), nullptr, 1),
               std::bad_alloc);
  EXPECT_EQ(buf[1], static_cast<T>(kSentinel));
#endif
}

// ---- losses -----------------------------------------------------------------------------------------------

TEST(CppLoss, OptionBuilders) {
  const lc::LossOptions d;
  const logitcore_loss_options c = logitcore_loss_default_options();
  EXPECT_EQ(d.kind, c.kind);
  EXPECT_EQ(d.param, c.param);
  EXPECT_EQ(d.threshold, c.threshold);
  EXPECT_EQ(d.ignore_index, c.ignore_index);
  EXPECT_EQ(d.class_weight, c.class_weight);
  EXPECT_EQ(d.reduction, c.reduction);
  const auto g = lc::LossOptions::gamma_cross_entropy(0.1, 0.3);
  EXPECT_EQ(g.kind, LOGITCORE_LOSS_GAMMA_CE);
  EXPECT_EQ(g.param, 0.1);
  EXPECT_EQ(g.threshold, 0.3);
  EXPECT_EQ(g.reduction, LOGITCORE_REDUCTION_MEAN);
  EXPECT_EQ(lc::LossOptions::gamma_cross_entropy(0.5).threshold, 0.0);
  const auto q = lc::LossOptions::generalized_cross_entropy(0.7);
  EXPECT_EQ(q.kind, LOGITCORE_LOSS_GCE);
  EXPECT_EQ(q.param, 0.7);
  const auto f = lc::LossOptions::focal(2.0);
  EXPECT_EQ(f.kind, LOGITCORE_LOSS_FOCAL);
  EXPECT_EQ(f.param, 2.0);
  const double w[3] = {1, 2, 3};
  lc::LossOptions o = lc::LossOptions::focal(1.0);
  lc::LossOptions& r = o.reduce(LOGITCORE_REDUCTION_SUM).weights(w).ignore(2);
  EXPECT_EQ(&r, &o);
  EXPECT_EQ(o.reduction, LOGITCORE_REDUCTION_SUM);
  EXPECT_EQ(o.class_weight, w);
  EXPECT_EQ(o.ignore_index, 2);
  EXPECT_EQ(o.kind, LOGITCORE_LOSS_FOCAL);
}

TYPED_TEST(CppFamily, LossMatchesTheCApi) {
  using T = TypeParam;
  using A = Api<T>;
  const i64 rows = 6, cols = 7;
  auto x = uniform<T>(static_cast<size_t>(rows * cols), -3, 3, 9);
  const std::vector<i64> target = {0, 6, 3, -100, 2, 5};
  const std::vector<double> w = {1, 0.5, 2, 1, 1, 3, 0.25};
  const auto cx = mat(x.data(), rows, cols);
  const lc::Matrix<const T> mx(x.data(), rows, cols);
  for (const auto& opt : {lc::LossOptions(), lc::LossOptions::gamma_cross_entropy(0.3, 0.2).weights(w.data()),
                          lc::LossOptions::generalized_cross_entropy(0.7).reduce(LOGITCORE_REDUCTION_SUM),
                          lc::LossOptions::focal(2.0).reduce(LOGITCORE_REDUCTION_NONE).ignore(-100)}) {
    std::vector<double> rl(rows), crl(rows);
    std::vector<T> g(x.size()), cg(x.size());
    double cred;
    const auto mcg = mat(cg.data(), rows, cols);
    const double red = lc::loss(mx, target.data(), opt, rl.data(), lc::Matrix<T>(g.data(), rows, cols));
    ASSERT_OK(A::loss(&cx, target.data(), &opt, crl.data(), &cred, &mcg, 0));
    EXPECT_EQ(red, cred);
    EXPECT_TRUE(BitEqual(rl, crl));
    EXPECT_TRUE(BitEqual(g, cg));
    // the loss alone, and the gradient in place
    EXPECT_EQ(lc::loss(mx, target.data(), opt), cred);
    std::vector<T> xin = x;
    const lc::Matrix<T> mxin(xin.data(), rows, cols);
    EXPECT_EQ(lc::loss(mxin, target.data(), opt, nullptr, mxin, 2), cred);
    EXPECT_TRUE(BitEqual(xin, cg));
  }
  // errors: a target out of range (std::out_of_range), a bad parameter (std::invalid_argument)
  std::vector<T> g(x.size(), static_cast<T>(kSentinel));
  std::vector<double> rl(rows, kSentinel);
  std::vector<i64> bad_t = target;
  bad_t[4] = 7;
  EXPECT_THROW_MSG(lc::loss(mx, bad_t.data(), {}, rl.data(), lc::Matrix<T>(g.data(), rows, cols)), std::out_of_range,
                   "7");
  EXPECT_THROW_MSG(lc::loss(mx, target.data(), lc::LossOptions::generalized_cross_entropy(0.0), rl.data(),
                            lc::Matrix<T>(g.data(), rows, cols)),
                   std::invalid_argument, "q");
  EXPECT_THROW_MSG(lc::loss(mx, target.data(), lc::LossOptions().reduce(static_cast<logitcore_reduction>(9))),
                   std::invalid_argument, "reduction");
  EXPECT_TRUE(Untouched(g));
  EXPECT_TRUE(Untouched(rl));
}

TEST(CppLoss, LossFromLogp) {
  for (const auto& opt : {lc::LossOptions(), lc::LossOptions::gamma_cross_entropy(0.5, 0.1),
                          lc::LossOptions::generalized_cross_entropy(0.3), lc::LossOptions::focal(1.5)}) {
    for (double l : {-0.01, -1.0, -7.0}) {
      const lc::LossValue v = lc::loss_from_logp(opt, l);
      double loss, weight;
      ASSERT_OK(logitcore_loss_from_logp(&opt, l, &loss, &weight));
      EXPECT_EQ(v.loss, loss);
      EXPECT_EQ(v.weight, weight);
    }
  }
  EXPECT_THROW_MSG(lc::loss_from_logp(lc::LossOptions::focal(-2), -1), std::invalid_argument, "gamma");
}

// ---- elementwise ------------------------------------------------------------------------------------------

TYPED_TEST(CppFamily, ExpLog) {
  using T = TypeParam;
  using A = Api<T>;
  auto x = uniform<T>(101, -20, 20, 10);
  std::vector<T> y(x.size()), cy(x.size());
  lc::exp(x.data(), static_cast<i64>(x.size()), y.data());
  ASSERT_OK(A::exp(x.data(), static_cast<i64>(x.size()), cy.data()));
  EXPECT_TRUE(BitEqual(y, cy));
  lc::log(y.data(), static_cast<i64>(y.size()), y.data());  // in place
  ASSERT_OK(A::log(cy.data(), static_cast<i64>(cy.size()), cy.data()));
  EXPECT_TRUE(BitEqual(y, cy));
  EXPECT_THROW_MSG(lc::exp(x.data(), -1, y.data()), std::invalid_argument, "-1");
  EXPECT_THROW_MSG(lc::log(static_cast<const T*>(nullptr), 3, y.data()), std::invalid_argument, "null");
  EXPECT_THROW_MSG(lc::exp(x.data(), 10, x.data() + 1), std::invalid_argument, "overlap");
}

// ---- reentrancy -------------------------------------------------------------------------------------------

TEST(CppThreads, ConcurrentCallsAgree) {
  const i64 rows = 16, cols = 4096;
  auto x = uniform<float>(static_cast<size_t>(rows * cols), -5, 5, 11);
  const lc::Matrix<const float> mx(x.data(), rows, cols);
  std::vector<float> want(x.size());
  lc::softmax(mx, lc::Matrix<float>(want.data(), rows, cols), 1);
  std::vector<std::vector<float>> got(6, std::vector<float>(x.size()));
  std::vector<std::thread> pool;
  for (size_t t = 0; t < got.size(); ++t)
    pool.emplace_back([&, t] { lc::softmax(mx, lc::Matrix<float>(got[t].data(), rows, cols), 2); });
  for (auto& th : pool) th.join();
  for (size_t t = 0; t < got.size(); ++t) EXPECT_TRUE(BitEqual(got[t], want)) << "thread " << t;
}

}  // namespace
