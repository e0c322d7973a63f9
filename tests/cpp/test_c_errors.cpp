// Every error path of the C API: the status, a message that names the problem
// (logitcore_last_error), and outputs left exactly as they were (filled with a sentinel first).
#include <cstdint>
#include <limits>

#include "test_support.h"

namespace {

using namespace lct;

constexpr i64 kHuge = std::numeric_limits<i64>::max() / 2;

template <class T>
class CErrors : public ::testing::Test {};
TYPED_TEST_SUITE(CErrors, FloatTypes, TypeNames);

template <class T>
std::vector<T> sentinels(size_t n) {
  return std::vector<T>(n, static_cast<T>(kSentinel));
}

// ---- logsumexp -----------------------------------------------------------------------------------------

TYPED_TEST(CErrors, Logsumexp) {
  using T = TypeParam;
  using A = Api<T>;
  // x and b inside one buffer, outputs inside another: overlaps are made by pointing into them
  std::vector<T> in = uniform<T>(12, -1, 1, 1);
  const std::vector<T> in0 = in;
  auto outs = sentinels<T>(8);
  const auto x = mat(in.data(), 2, 3), b = mat(in.data() + 6, 2, 3);
  const auto out = vec(outs.data(), 2), sign = vec(outs.data() + 4, 2);
  auto check = [&](logitcore_status st, logitcore_status want, const char* needle, const char* what) {
    EXPECT_TRUE(Fails(st, want, needle)) << what;
    EXPECT_TRUE(Untouched(outs)) << what;
    EXPECT_TRUE(BitEqual(in, in0)) << what;
  };
  // NULL arguments and data
  check(A::logsumexp(nullptr, nullptr, &out, nullptr, 0), LOGITCORE_INVALID_ARGUMENT, "x&null", "x NULL");
  check(A::logsumexp(&x, nullptr, nullptr, nullptr, 0), LOGITCORE_INVALID_ARGUMENT, "out&null", "out NULL");
  const auto x_nodata = mat(nullptr, 2, 3);
  check(A::logsumexp(&x_nodata, nullptr, &out, nullptr, 0), LOGITCORE_INVALID_ARGUMENT, "x&null", "x data NULL");
  const auto b_nodata = mat(nullptr, 2, 3);
  check(A::logsumexp(&x, &b_nodata, &out, nullptr, 0), LOGITCORE_INVALID_ARGUMENT, "b&null", "b data NULL");
  const auto out_nodata = vec(nullptr, 2);
  check(A::logsumexp(&x, nullptr, &out_nodata, nullptr, 0), LOGITCORE_INVALID_ARGUMENT, "out&null", "out data NULL");
  const auto sign_nodata = vec(nullptr, 2);
  check(A::logsumexp(&x, nullptr, &out, &sign_nodata, 0), LOGITCORE_INVALID_ARGUMENT, "sign&null", "sign data NULL");
  // negative and mismatched shapes
  const auto x_negrows = mat(in.data(), -1, 3), x_negcols = mat(in.data(), 2, -2);
  check(A::logsumexp(&x_negrows, nullptr, &out, nullptr, 0), LOGITCORE_INVALID_ARGUMENT, "rows&-1", "rows < 0");
  check(A::logsumexp(&x_negcols, nullptr, &out, nullptr, 0), LOGITCORE_INVALID_ARGUMENT, "cols&-2", "cols < 0");
  const auto out3 = vec(outs.data(), 3), sign1 = vec(outs.data() + 4, 1);
  check(A::logsumexp(&x, nullptr, &out3, nullptr, 0), LOGITCORE_INVALID_ARGUMENT, "out&3", "out size");
  check(A::logsumexp(&x, nullptr, &out, &sign1, 0), LOGITCORE_INVALID_ARGUMENT, "sign&1", "sign size");
  const auto b_wide = mat(in.data() + 6, 2, 2), b_tall = mat(in.data() + 6, 1, 3);
  check(A::logsumexp(&x, &b_wide, &out, nullptr, 0), LOGITCORE_INVALID_ARGUMENT, "b&shape|b&2", "b cols");
  check(A::logsumexp(&x, &b_tall, &out, nullptr, 0), LOGITCORE_INVALID_ARGUMENT, "b&shape|b&1", "b rows");
  const auto x_huge = mat(in.data(), 4, 2, kHuge, 1);
  const auto out_x3 = vec(outs.data(), 4);
  check(A::logsumexp(&x_huge, nullptr, &out_x3, nullptr, 0), LOGITCORE_INVALID_ARGUMENT, "x&stride", "x spans > 2^63");
  // outputs that overlap themselves, each other or an input
  const auto out_s0 = vec(outs.data(), 2, 0);
  check(A::logsumexp(&x, nullptr, &out_s0, nullptr, 0), LOGITCORE_INVALID_ARGUMENT, "out&overlap", "out stride 0");
  const auto sign_s0 = vec(outs.data() + 4, 2, 0);
  check(A::logsumexp(&x, nullptr, &out, &sign_s0, 0), LOGITCORE_INVALID_ARGUMENT, "sign&overlap", "sign stride 0");
  const auto out_in_x = vec(in.data() + 4, 2), out_in_b = vec(in.data() + 10, 2, -1);
  check(A::logsumexp(&x, nullptr, &out_in_x, nullptr, 0), LOGITCORE_INVALID_ARGUMENT, "out&overlap&x", "out in x");
  check(A::logsumexp(&x, &b, &out_in_b, nullptr, 0), LOGITCORE_INVALID_ARGUMENT, "out&overlap&b", "out in b");
  const auto sign_on_out = vec(outs.data() + 1, 2), sign_in_x = vec(in.data() + 1, 2, 2);
  check(A::logsumexp(&x, nullptr, &out, &sign_on_out, 0), LOGITCORE_INVALID_ARGUMENT, "sign&overlap&out",
        "sign over out");
  check(A::logsumexp(&x, nullptr, &out, &sign_in_x, 0), LOGITCORE_INVALID_ARGUMENT, "sign&overlap&x", "sign in x");
  const auto sign_in_b = vec(in.data() + 6, 2);
  check(A::logsumexp(&x, &b, &out, &sign_in_b, 0), LOGITCORE_INVALID_ARGUMENT, "sign&overlap&b", "sign in b");
  // thread counts
  check(A::logsumexp(&x, nullptr, &out, nullptr, -1), LOGITCORE_INVALID_ARGUMENT, "num_threads&-1", "threads -1");
  check(A::logsumexp(&x, nullptr, &out, nullptr, LOGITCORE_MAX_THREADS + 1), LOGITCORE_INVALID_ARGUMENT,
        "num_threads&4097", "threads 4097");
  // and the good call still works
  ASSERT_OK(A::logsumexp(&x, &b, &out, &sign, LOGITCORE_MAX_THREADS));
}

// ---- softmax / log_softmax ---------------------------------------------------------------------------------

TYPED_TEST(CErrors, SoftmaxAndLogSoftmax) {
  using T = TypeParam;
  using A = Api<T>;
  for (bool log : {false, true}) {
    auto f = [&](const logitcore_matrix* x, const logitcore_matrix* y, int nt) {
      return log ? A::log_softmax(x, y, nt) : A::softmax(x, y, nt);
    };
    // x is the first 9 entries of `in` (3 x 3); y lives in `outs`
    std::vector<T> in = uniform<T>(16, -1, 1, 2);
    const std::vector<T> in0 = in;
    auto outs = sentinels<T>(16);
    const auto x = mat(in.data(), 3, 3), y = mat(outs.data(), 3, 3);
    auto check = [&](logitcore_status st, const char* needle, const char* what) {
      EXPECT_TRUE(Fails(st, LOGITCORE_INVALID_ARGUMENT, needle)) << what << (log ? " (log_softmax)" : " (softmax)");
      EXPECT_TRUE(Untouched(outs)) << what;
      EXPECT_TRUE(BitEqual(in, in0)) << what << ": the input was written";
    };
    check(f(nullptr, &y, 0), "x&null", "x NULL");
    check(f(&x, nullptr, 0), "y&null", "y NULL");
    const auto x_nodata = mat(nullptr, 3, 3), y_nodata = mat(nullptr, 3, 3);
    check(f(&x_nodata, &y, 0), "x&null", "x data NULL");
    check(f(&x, &y_nodata, 0), "y&null", "y data NULL");
    const auto x_neg = mat(in.data(), -2, 3), y_neg = mat(outs.data(), -2, 3);
    check(f(&x_neg, &y_neg, 0), "rows&-2", "rows < 0");
    const auto x_negc = mat(in.data(), 3, -1), y_negc = mat(outs.data(), 3, -1);
    check(f(&x_negc, &y_negc, 0), "cols&-1", "cols < 0");
    const auto y_wide = mat(outs.data(), 3, 4), y_short = mat(outs.data(), 2, 3);
    check(f(&x, &y_wide, 0), "shape", "y 3 x 4");
    check(f(&x, &y_short, 0), "shape", "y 2 x 3");
    // y overlapping itself
    const auto y_rs0 = mat(outs.data(), 3, 3, 0, 1), y_rs2 = mat(outs.data(), 3, 3, 2, 1),
               y_cs0 = mat(outs.data(), 3, 3, 3, 0);
    check(f(&x, &y_rs0, 0), "y&overlap", "y row stride 0");
    check(f(&x, &y_rs2, 0), "y&overlap", "y rows interleaved");
    check(f(&x, &y_cs0, 0), "y&overlap", "y col stride 0");
    // y overlapping x without being x: shifted, transposed, reversed, strided over it
    const auto y_shift = mat(in.data() + 1, 3, 3), y_t = mat(in.data(), 3, 3, 1, 3),
               y_rev = mat(in.data() + 8, 3, 3, -3, -1), y_wide_rows = mat(in.data() + 2, 3, 3, 4, 1);
    check(f(&x, &y_shift, 0), "overlap", "y = x shifted by one");
    check(f(&x, &y_t, 0), "overlap", "y = x transposed");
    check(f(&x, &y_rev, 0), "overlap", "y = x reversed");
    check(f(&x, &y_wide_rows, 0), "overlap", "y over x's tail");
    check(f(&x, &y, -5), "num_threads", "threads -5");
    ASSERT_OK(f(&x, &y, 0));
  }
}

// ---- softmax_entropy / entropy -------------------------------------------------------------------------------

TYPED_TEST(CErrors, SoftmaxEntropyAndEntropy) {
  using T = TypeParam;
  using A = Api<T>;
  for (bool of_softmax : {true, false}) {
    auto f = [&](const logitcore_matrix* x, const logitcore_vector* out, int nt) {
      return of_softmax ? A::softmax_entropy(x, out, nt) : A::entropy(x, out, nt);
    };
    const char* xn = of_softmax ? "x&null" : "p&null";
    std::vector<T> in = prob_rows<T>(2, 4, 3);
    const std::vector<T> in0 = in;
    auto outs = sentinels<T>(6);
    const auto x = mat(in.data(), 2, 4);
    const auto out = vec(outs.data(), 2);
    auto check = [&](logitcore_status st, const char* needle, const char* what) {
      EXPECT_TRUE(Fails(st, LOGITCORE_INVALID_ARGUMENT, needle)) << what << (of_softmax ? " (softmax_entropy)" : " (entropy)");
      EXPECT_TRUE(Untouched(outs)) << what;
      EXPECT_TRUE(BitEqual(in, in0)) << what;
    };
    check(f(nullptr, &out, 0), xn, "x NULL");
    check(f(&x, nullptr, 0), "out&null", "out NULL");
    const auto x_nodata = mat(nullptr, 2, 4);
    check(f(&x_nodata, &out, 0), xn, "x data NULL");
    const auto out_nodata = vec(nullptr, 2);
    check(f(&x, &out_nodata, 0), "out&null", "out data NULL");
    const auto x_neg = mat(in.data(), -1, 4), x_negc = mat(in.data(), 2, -4);
    check(f(&x_neg, &out, 0), "rows&-1", "rows < 0");
    check(f(&x_negc, &out, 0), "cols&-4", "cols < 0");
    const auto out1 = vec(outs.data(), 1);
    check(f(&x, &out1, 0), "out&size", "out size 1");
    const auto out_s0 = vec(outs.data(), 2, 0);
    check(f(&x, &out_s0, 0), "out&overlap", "out stride 0");
    const auto out_in_x = vec(in.data() + 7, 2, -4);
    check(f(&x, &out_in_x, 0), "out&overlap", "out in x");
    check(f(&x, &out, LOGITCORE_MAX_THREADS + 1), "num_threads", "threads");
    ASSERT_OK(f(&x, &out, 0));
  }
}

// ---- the streaming state ---------------------------------------------------------------------------------

TEST(StateErrors, InitMergeResult) {
  std::vector<double> m(4, kSentinel), u(4, kSentinel), r(4, kSentinel);
  auto untouched = [&] { return Untouched(m) && Untouched(u) && Untouched(r); };
  EXPECT_FAILS(logitcore_lse_state_init(nullptr, u.data(), 2), LOGITCORE_INVALID_ARGUMENT, "max&null");
  EXPECT_FAILS(logitcore_lse_state_init(m.data(), nullptr, 2), LOGITCORE_INVALID_ARGUMENT, "excess&null");
  EXPECT_FAILS(logitcore_lse_state_init(m.data(), u.data(), -1), LOGITCORE_INVALID_ARGUMENT, "-1");
  EXPECT_TRUE(untouched());

  std::vector<double> m2(4, 0.0), u2(4, 0.0);
  for (int k = 0; k < 4; ++k) {
    double* p[4] = {m.data(), u.data(), m2.data(), u2.data()};
    p[k] = nullptr;
    EXPECT_FAILS(logitcore_lse_state_merge(p[0], p[1], p[2], p[3], 3), LOGITCORE_INVALID_ARGUMENT, "null")
        << "argument " << k;
  }
  EXPECT_FAILS(logitcore_lse_state_merge(m.data(), u.data(), m2.data(), u2.data(), -2), LOGITCORE_INVALID_ARGUMENT,
               "-2");
  EXPECT_TRUE(untouched());

  EXPECT_FAILS(logitcore_lse_state_result(nullptr, u.data(), 2, r.data()), LOGITCORE_INVALID_ARGUMENT, "max&null");
  EXPECT_FAILS(logitcore_lse_state_result(m.data(), nullptr, 2, r.data()), LOGITCORE_INVALID_ARGUMENT, "excess&null");
  EXPECT_FAILS(logitcore_lse_state_result(m.data(), u.data(), 2, nullptr), LOGITCORE_INVALID_ARGUMENT, "out&null");
  EXPECT_FAILS(logitcore_lse_state_result(m.data(), u.data(), -3, r.data()), LOGITCORE_INVALID_ARGUMENT, "-3");
  EXPECT_TRUE(untouched());
}

// The state arrays are raw pointers with a length: partial overlaps of an output with an input
// are refused like those of views (logitcore.h: outputs must not overlap inputs).
TEST(StateErrors, MergeAndResultPartialOverlaps) {
  std::vector<double> m(4, kSentinel), u(4, kSentinel), u2(4, 0.0), m2(4, 0.0);
  auto untouched = [&] { return Untouched(m) && Untouched(u); };
  // the second state partially over the first
  EXPECT_FAILS(logitcore_lse_state_merge(m.data(), u.data(), m.data() + 1, u2.data(), 3), LOGITCORE_INVALID_ARGUMENT,
               "overlap");
  EXPECT_FAILS(logitcore_lse_state_merge(m.data(), u.data(), m2.data(), u.data() + 1, 2), LOGITCORE_INVALID_ARGUMENT,
               "overlap");
  EXPECT_TRUE(untouched());
  // out may be max or excess itself, but not straddle them
  EXPECT_FAILS(logitcore_lse_state_result(m.data(), u.data(), 3, m.data() + 1), LOGITCORE_INVALID_ARGUMENT, "overlap");
  EXPECT_FAILS(logitcore_lse_state_result(m.data() + 1, u.data(), 3, m.data()), LOGITCORE_INVALID_ARGUMENT, "overlap");
  EXPECT_TRUE(untouched());
}

TYPED_TEST(CErrors, StateUpdate) {
  using T = TypeParam;
  using A = Api<T>;
  std::vector<T> in = uniform<T>(6, -1, 1, 4);
  std::vector<double> m(4, kSentinel), u(4, kSentinel);
  const auto x = mat(in.data(), 2, 3);
  auto check = [&](logitcore_status st, const char* needle, const char* what) {
    EXPECT_TRUE(Fails(st, LOGITCORE_INVALID_ARGUMENT, needle)) << what;
    EXPECT_TRUE(Untouched(m)) << what;
    EXPECT_TRUE(Untouched(u)) << what;
  };
  check(A::state_update(nullptr, u.data(), &x, 0), "max&null", "max NULL");
  check(A::state_update(m.data(), nullptr, &x, 0), "excess&null", "excess NULL");
  check(A::state_update(m.data(), u.data(), nullptr, 0), "x&null", "x NULL");
  const auto x_nodata = mat(nullptr, 2, 3), x_neg = mat(in.data(), -2, 3), x_negc = mat(in.data(), 2, -3);
  check(A::state_update(m.data(), u.data(), &x_nodata, 0), "x&null", "x data NULL");
  check(A::state_update(m.data(), u.data(), &x_neg, 0), "rows&-2", "rows < 0");
  check(A::state_update(m.data(), u.data(), &x_negc, 0), "cols&-3", "cols < 0");
  check(A::state_update(m.data(), u.data(), &x, -1), "num_threads", "threads");
}

TYPED_TEST(CErrors, StateUpdateOverlaps) {
  using T = TypeParam;
  using A = Api<T>;
  std::vector<T> in = uniform<T>(6, -1, 1, 4);
  std::vector<double> m(4, kSentinel), u(4, kSentinel);
  const auto x = mat(in.data(), 2, 3);
  auto check = [&](logitcore_status st, const char* needle, const char* what) {
    EXPECT_TRUE(Fails(st, LOGITCORE_INVALID_ARGUMENT, needle)) << what;
    EXPECT_TRUE(Untouched(m)) << what;
    EXPECT_TRUE(Untouched(u)) << what;
  };
  // x read through the state arrays' memory: the states are outputs and must not overlap it
  const auto x_on_max = mat(reinterpret_cast<T*>(m.data()), 2, 1), x_on_excess = mat(reinterpret_cast<T*>(u.data()), 2, 1);
  check(A::state_update(m.data(), u.data(), &x_on_max, 0), "overlap", "x over max");
  check(A::state_update(m.data(), u.data(), &x_on_excess, 0), "overlap", "x over excess");
  check(A::state_update(m.data(), m.data() + 1, &x, 0), "overlap", "max over excess");
}

// ---- entropy normalization --------------------------------------------------------------------------------

TYPED_TEST(CErrors, EntropyNormalize) {
  using T = TypeParam;
  using A = Api<T>;
  std::vector<T> in = prob_rows<T>(3, 4, 5);
  in.resize(16, T(0.25));
  const std::vector<T> in0 = in;
  auto outs = sentinels<T>(16);
  std::vector<double> target = {1.0, 0.8, 0.6, 0.4};
  const std::vector<double> target0 = target;
  const auto x = mat(in.data(), 3, 4), out = mat(outs.data(), 3, 4);
  std::vector<double> gamma(3, kSentinel), h_min(3, kSentinel), h_max(3, kSentinel), ent(3, kSentinel);
  std::vector<std::int32_t> n_iter(3, -7);
  std::vector<std::uint8_t> conv(3, 77), clip(3, 77);
  std::vector<std::int8_t> status(3, 77);
  const logitcore_en_info info{gamma.data(), n_iter.data(), conv.data(), clip.data(),
                               status.data(), h_min.data(),  h_max.data(), ent.data()};
  const logitcore_en_options dflt = logitcore_en_default_options();
  auto info_untouched = [&] {
    return Untouched(gamma) && Untouched(h_min) && Untouched(h_max) && Untouched(ent) &&
           n_iter == std::vector<std::int32_t>(3, -7) && conv == std::vector<std::uint8_t>(3, 77) &&
           clip == std::vector<std::uint8_t>(3, 77) && status == std::vector<std::int8_t>(3, 77);
  };
  auto check = [&](logitcore_status st, const char* needle, const char* what) {
    EXPECT_TRUE(Fails(st, LOGITCORE_INVALID_ARGUMENT, needle)) << what;
    EXPECT_TRUE(Untouched(outs)) << what;
    EXPECT_TRUE(info_untouched()) << what << ": info written";
    EXPECT_TRUE(BitEqual(in, in0)) << what;
    EXPECT_TRUE(BitEqual(target, target0)) << what;
  };
  const double* t = target.data();
  check(A::entropy_normalize(nullptr, &out, t, 1, &dflt, &info, 0), "x&null", "x NULL");
  check(A::entropy_normalize(&x, nullptr, t, 1, &dflt, &info, 0), "out&null", "out NULL");
  check(A::entropy_normalize(&x, &out, nullptr, 1, &dflt, &info, 0), "target&null", "target NULL");
  const auto x_nodata = mat(nullptr, 3, 4), out_nodata = mat(nullptr, 3, 4);
  check(A::entropy_normalize(&x_nodata, &out, t, 1, &dflt, &info, 0), "x&null", "x data NULL");
  check(A::entropy_normalize(&x, &out_nodata, t, 1, &dflt, &info, 0), "out&null", "out data NULL");
  const auto x_neg = mat(in.data(), -3, 4), out_neg = mat(outs.data(), -3, 4);
  check(A::entropy_normalize(&x_neg, &out_neg, t, 1, &dflt, &info, 0), "rows&-3", "rows < 0");
  const auto out_small = mat(outs.data(), 3, 3);
  check(A::entropy_normalize(&x, &out_small, t, 1, &dflt, &info, 0), "shape", "out 3 x 3");
  const auto out_rs0 = mat(outs.data(), 3, 4, 0, 1), out_cs0 = mat(outs.data(), 3, 4, 4, 0);
  check(A::entropy_normalize(&x, &out_rs0, t, 1, &dflt, &info, 0), "out&overlap", "out row stride 0");
  check(A::entropy_normalize(&x, &out_cs0, t, 1, &dflt, &info, 0), "out&overlap", "out col stride 0");
  const auto out_shift = mat(in.data() + 2, 3, 4), out_rev = mat(in.data() + 11, 3, 4, -4, -1);
  check(A::entropy_normalize(&x, &out_shift, t, 1, &dflt, &info, 0), "overlap", "out over x shifted");
  check(A::entropy_normalize(&x, &out_rev, t, 1, &dflt, &info, 0), "overlap", "out over x reversed");
  // options
  logitcore_en_options o = dflt;
  o.tol = kNaN;
  check(A::entropy_normalize(&x, &out, t, 1, &o, &info, 0), "tol&nan", "tol NaN");
  o = dflt;
  o.sum_tol = kNaN;
  check(A::entropy_normalize(&x, &out, t, 1, &o, &info, 0), "sum_tol", "sum_tol NaN");
  for (int bad_iter : {0, -1}) {
    o = dflt;
    o.max_iter = bad_iter;
    check(A::entropy_normalize(&x, &out, t, 1, &o, &info, 0), "max_iter", "max_iter < 1");
  }
  for (int bad_input : {2, -1}) {
    o = dflt;
    o.input = bad_input;
    check(A::entropy_normalize(&x, &out, t, 1, &o, &info, 0), "input", "input kind");
  }
  // NaN targets, per row and shared
  target[2] = kNaN;
  const std::vector<double> target_nan = target;
  auto check_nan = [&](logitcore_status st, const char* what) {
    EXPECT_TRUE(Fails(st, LOGITCORE_INVALID_ARGUMENT, "target&nan")) << what;
    EXPECT_TRUE(Untouched(outs)) << what;
    EXPECT_TRUE(info_untouched()) << what;
  };
  check_nan(A::entropy_normalize(&x, &out, target.data(), 1, &dflt, &info, 0), "target[2] NaN");
  check_nan(A::entropy_normalize(&x, &out, target.data() + 2, 0, &dflt, &info, 0), "shared NaN target");
  check_nan(A::entropy_normalize(&x, &out, target.data() + 2, -1, &dflt, &info, 0), "target stride -1");
  target = target0;
  check(A::entropy_normalize(&x, &out, t, 1, &dflt, &info, -2), "num_threads", "threads");
  ASSERT_OK(A::entropy_normalize(&x, &out, t, 1, &dflt, &info, 0));
}

// The info arrays and the targets are raw pointers with one entry per row: they must not overlap
// the matrices either way (an output over an input).
TYPED_TEST(CErrors, EntropyNormalizeInfoAndTargetOverlaps) {
  using T = TypeParam;
  using A = Api<T>;
  std::vector<T> in = prob_rows<T>(3, 4, 5);
  const std::vector<T> in0 = in;
  auto outs = sentinels<T>(12);
  std::vector<double> gamma(3, kSentinel), ent(3, kSentinel);
  logitcore_en_info info{};
  info.gamma = gamma.data();
  info.entropy = ent.data();
  const std::vector<double> target = {1.0, 0.8, 0.6};
  const auto x = mat(in.data(), 3, 4), out = mat(outs.data(), 3, 4);
  const logitcore_en_options dflt = logitcore_en_default_options();
  const double* t = target.data();
  auto check = [&](logitcore_status st, const char* needle, const char* what) {
    EXPECT_TRUE(Fails(st, LOGITCORE_INVALID_ARGUMENT, needle)) << what;
    EXPECT_TRUE(Untouched(outs)) << what;
    EXPECT_TRUE(Untouched(gamma) && Untouched(ent)) << what << ": info written";
    EXPECT_TRUE(BitEqual(in, in0)) << what << ": x written";
  };
  // an info array over x
  {
    logitcore_en_info over = info;
    over.entropy = reinterpret_cast<double*>(in.data()) + 1;
    check(A::entropy_normalize(&x, &out, t, 1, &dflt, &over, 0), "overlap", "info.entropy over x");
  }
  // out over the targets
  {
    std::vector<double> tg(3, 1.0);
    const auto out_on_target = mat(reinterpret_cast<T*>(tg.data()), 3, 1, 1, 1);
    const auto x1 = mat(in.data(), 3, 1, 4, 1);
    EXPECT_TRUE(Fails(A::entropy_normalize(&x1, &out_on_target, tg.data(), 1, &dflt, nullptr, 0),
                      LOGITCORE_INVALID_ARGUMENT, "overlap"))
        << "out over the targets";
    EXPECT_EQ(tg, std::vector<double>(3, 1.0));
  }
}

// A row's worth of scratch that cannot be allocated: LOGITCORE_OUT_OF_MEMORY, nothing written.
TYPED_TEST(CErrors, EntropyNormalizeOutOfMemory) {
#ifdef __SANITIZE_ADDRESS__
  GTEST_SKIP() << "AddressSanitizer's operator new reports an impossible allocation instead of throwing";
#endif
  using T = TypeParam;
  using A = Api<T>;
  // x: one value repeated 2^42 times (column stride 0); out: a view the call must not touch
  // before it has its scratch (2 x 2^42 elements: 32 TiB or more). The view spans 2^42
  // elements from a heap address: it must not reach the target (static storage, below the
  // heap), which the call checks it does not overlap.
  std::vector<T> buf = {T(0.5), static_cast<T>(kSentinel), static_cast<T>(kSentinel)};
  const i64 n = i64(1) << 42;
  const auto x = mat(buf.data(), 1, n, n, 0), out = mat(buf.data() + 1, 1, n, n, 1);
  logitcore_en_options o = logitcore_en_default_options();
  o.input = LOGITCORE_EN_LOGITS;
  static const double target = 1.0;
  EXPECT_FAILS(A::entropy_normalize(&x, &out, &target, 0, &o, nullptr, 1), LOGITCORE_OUT_OF_MEMORY, "memory");
  EXPECT_EQ(buf[1], static_cast<T>(kSentinel));
  EXPECT_EQ(buf[2], static_cast<T>(kSentinel));
}

// ---- losses -------------------------------------------------------------------------------------------------

TYPED_TEST(CErrors, Loss) {
  using T = TypeParam;
  using A = Api<T>;
  const i64 rows = 3, cols = 4;
  std::vector<T> in = uniform<T>(16, -1, 1, 6);
  const std::vector<T> in0 = in;
  std::vector<i64> target = {0, 3, -100};
  const std::vector<i64> target0 = target;
  auto gouts = sentinels<T>(16);
  std::vector<double> row_loss(4, kSentinel), reduced(1, kSentinel);
  const auto x = mat(in.data(), rows, cols), g = mat(gouts.data(), rows, cols);
  const logitcore_loss_options dflt = logitcore_loss_default_options();
  auto untouched = [&] {
    return Untouched(gouts) && Untouched(row_loss) && Untouched(reduced) && BitEqual(in, in0) && target == target0;
  };
  auto check = [&](logitcore_status st, logitcore_status want, const std::string& needle, const std::string& what) {
    EXPECT_TRUE(Fails(st, want, needle)) << what;
    EXPECT_TRUE(untouched()) << what << ": an output was written";
  };
  auto call = [&](const logitcore_matrix* xm, const i64* tp, const logitcore_loss_options* o,
                  const logitcore_matrix* gm, int nt = 0) {
    return A::loss(xm, tp, o, row_loss.data(), reduced.data(), gm, nt);
  };
  check(call(nullptr, target.data(), &dflt, &g), LOGITCORE_INVALID_ARGUMENT, "logits|x&null", "x NULL");
  check(call(&x, nullptr, &dflt, &g), LOGITCORE_INVALID_ARGUMENT, "target&null", "target NULL");
  const auto x_nodata = mat(nullptr, rows, cols), g_nodata = mat(nullptr, rows, cols);
  check(call(&x_nodata, target.data(), &dflt, &g), LOGITCORE_INVALID_ARGUMENT, "logits|x&null", "x data NULL");
  check(call(&x, target.data(), &dflt, &g_nodata), LOGITCORE_INVALID_ARGUMENT, "grad&null", "grad data NULL");
  const auto x_neg = mat(in.data(), -1, cols);
  check(call(&x_neg, target.data(), &dflt, nullptr), LOGITCORE_INVALID_ARGUMENT, "rows&-1", "rows < 0");
  const auto x_negc = mat(in.data(), rows, -1);
  check(call(&x_negc, target.data(), &dflt, nullptr), LOGITCORE_INVALID_ARGUMENT, "cols&-1", "cols < 0");
  // options: kind, parameter and threshold per kind, reduction
  for (int kind : {3, -1, 100}) {
    logitcore_loss_options o = dflt;
    o.kind = kind;
    check(call(&x, target.data(), &o, &g), LOGITCORE_INVALID_ARGUMENT, "kind&" + std::to_string(kind),
          "kind " + std::to_string(kind));
  }
  struct BadParam {
    int kind;
    double param, threshold;
    const char* needle;
  };
  const BadParam bad[] = {
      {LOGITCORE_LOSS_GAMMA_CE, -0.1, 0, "gamma&-0.1"},      {LOGITCORE_LOSS_GAMMA_CE, 1.5, 0, "gamma&1.5"},
      {LOGITCORE_LOSS_GAMMA_CE, kNaN, 0, "gamma&nan"},        {LOGITCORE_LOSS_GAMMA_CE, 0.5, -0.25, "threshold&-0.25"},
      {LOGITCORE_LOSS_GAMMA_CE, 0.5, 1.25, "threshold&1.25"}, {LOGITCORE_LOSS_GAMMA_CE, 0.5, kNaN, "threshold&nan"},
      {LOGITCORE_LOSS_GCE, 0.0, 0, "q&0"},                    {LOGITCORE_LOSS_GCE, -0.5, 0, "q&-0.5"},
      {LOGITCORE_LOSS_GCE, 1.5, 0, "q&1.5"},                  {LOGITCORE_LOSS_GCE, kNaN, 0, "q&nan"},
      {LOGITCORE_LOSS_FOCAL, -1.0, 0, "gamma&-1"},            {LOGITCORE_LOSS_FOCAL, kInf, 0, "gamma&inf"},
      {LOGITCORE_LOSS_FOCAL, kNaN, 0, "gamma&nan"},
  };
  for (const BadParam& bp : bad) {
    logitcore_loss_options o = dflt;
    o.kind = bp.kind;
    o.param = bp.param;
    o.threshold = bp.threshold;
    check(call(&x, target.data(), &o, &g), LOGITCORE_INVALID_ARGUMENT, bp.needle, bp.needle);
    double l = kSentinel, w = kSentinel;
    EXPECT_FAILS(logitcore_loss_from_logp(&o, -0.5, &l, &w), LOGITCORE_INVALID_ARGUMENT, bp.needle);
    EXPECT_EQ(l, kSentinel);
    EXPECT_EQ(w, kSentinel);
  }
  for (int red : {3, -1}) {
    logitcore_loss_options o = dflt;
    o.reduction = red;
    check(call(&x, target.data(), &o, &g), LOGITCORE_INVALID_ARGUMENT, "reduction&" + std::to_string(red),
          "reduction " + std::to_string(red));
  }
  {
    logitcore_loss_options o = dflt;
    o.kind = 7;
    double l = kSentinel, w = kSentinel;
    EXPECT_FAILS(logitcore_loss_from_logp(&o, -0.5, &l, &w), LOGITCORE_INVALID_ARGUMENT, "kind");
    EXPECT_EQ(l, kSentinel);
    EXPECT_EQ(w, kSentinel);
  }
  // targets out of range: OUT_OF_RANGE naming the value, checked before anything is written
  for (i64 bad_t : {cols, i64(-1), i64(-101), std::numeric_limits<i64>::max(), std::numeric_limits<i64>::min()}) {
    target[1] = bad_t;
    const std::vector<i64> tb = target;
    EXPECT_TRUE(Fails(call(&x, target.data(), &dflt, &g), LOGITCORE_OUT_OF_RANGE, "target&" + std::to_string(bad_t)))
        << bad_t;
    EXPECT_TRUE(Untouched(gouts) && Untouched(row_loss) && Untouched(reduced)) << bad_t;
    EXPECT_EQ(target, tb);
    // in place too: the logits are not overwritten
    std::vector<T> xin = in;
    const auto mxin = mat(xin.data(), rows, cols);
    EXPECT_TRUE(Fails(call(&mxin, target.data(), &dflt, &mxin), LOGITCORE_OUT_OF_RANGE, "target")) << bad_t;
    EXPECT_TRUE(BitEqual(xin, in)) << "in place, target " << bad_t;
  }
  target = target0;
  {  // ignore_index = 4 makes 4 valid, -100 then is out of range
    logitcore_loss_options o = dflt;
    o.ignore_index = cols;
    EXPECT_TRUE(Fails(call(&x, target.data(), &o, &g), LOGITCORE_OUT_OF_RANGE, "-100"));
    EXPECT_TRUE(untouched());
  }
  // the gradient view
  const auto g_small = mat(gouts.data(), rows, cols - 1), g_rs0 = mat(gouts.data(), rows, cols, 0, 1),
             g_rs3 = mat(gouts.data(), rows, cols, 3, 1);
  check(call(&x, target.data(), &dflt, &g_small), LOGITCORE_INVALID_ARGUMENT, "grad&shape", "grad shape");
  check(call(&x, target.data(), &dflt, &g_rs0), LOGITCORE_INVALID_ARGUMENT, "grad&overlap", "grad row stride 0");
  check(call(&x, target.data(), &dflt, &g_rs3), LOGITCORE_INVALID_ARGUMENT, "grad&overlap", "grad rows interleaved");
  const auto g_shift = mat(in.data() + 1, rows, cols), g_t = mat(in.data(), rows, cols, 1, rows);
  check(call(&x, target.data(), &dflt, &g_shift), LOGITCORE_INVALID_ARGUMENT, "grad&overlap", "grad over x shifted");
  check(call(&x, target.data(), &dflt, &g_t), LOGITCORE_INVALID_ARGUMENT, "grad&overlap", "grad over x transposed");
  check(call(&x, target.data(), &dflt, &g, -1), LOGITCORE_INVALID_ARGUMENT, "num_threads", "threads");
  ASSERT_OK(call(&x, target.data(), &dflt, &g));
}

// row_loss and reduced are raw outputs: they must not overlap the logits or the targets.
TYPED_TEST(CErrors, LossRawOutputOverlaps) {
  using T = TypeParam;
  using A = Api<T>;
  const logitcore_loss_options dflt = logitcore_loss_default_options();
  std::vector<T> in = uniform<T>(12, -1, 1, 6);
  const auto x = mat(in.data(), 3, 4);
  {
    std::vector<double> xd(12, 0.5), tg(3, 0.0);
    const auto mxd = mat(reinterpret_cast<T*>(xd.data()), 1, sizeof(T) == 8 ? 12 : 24);
    std::vector<i64> t1 = {0};
    EXPECT_TRUE(Fails(A::loss(&mxd, t1.data(), &dflt, xd.data() + 3, nullptr, nullptr, 0), LOGITCORE_INVALID_ARGUMENT,
                      "overlap"))
        << "row_loss over x";
    EXPECT_TRUE(Fails(A::loss(&mxd, t1.data(), &dflt, nullptr, xd.data() + 5, nullptr, 0), LOGITCORE_INVALID_ARGUMENT,
                      "overlap"))
        << "reduced over x";
    EXPECT_EQ(xd, std::vector<double>(12, 0.5));
    std::vector<i64> t3 = {0, 1, 2};
    EXPECT_TRUE(Fails(A::loss(&x, t3.data(), &dflt, reinterpret_cast<double*>(t3.data()), nullptr, nullptr, 0),
                      LOGITCORE_INVALID_ARGUMENT, "overlap"))
        << "row_loss over target";
    EXPECT_EQ(t3, (std::vector<i64>{0, 1, 2}));
  }
}

// ---- elementwise --------------------------------------------------------------------------------------------

TYPED_TEST(CErrors, Elementwise) {
  using T = TypeParam;
  using A = Api<T>;
  using Fn = logitcore_status (*)(const T*, i64, T*);
  const Fn fns[] = {&A::exp, &A::log, &A::exp2_core, &A::log2_core};
  const char* names[] = {"exp", "log", "exp2_core", "log2_core"};
  for (int k = 0; k < 4; ++k) {
    std::vector<T> in = uniform<T>(8, 0.5, 2, 7);
    const std::vector<T> in0 = in;
    auto outs = sentinels<T>(8);
    auto check = [&](logitcore_status st, const char* needle, const char* what) {
      EXPECT_TRUE(Fails(st, LOGITCORE_INVALID_ARGUMENT, needle)) << names[k] << ": " << what;
      EXPECT_TRUE(Untouched(outs)) << names[k] << ": " << what;
      EXPECT_TRUE(BitEqual(in, in0)) << names[k] << ": " << what;
    };
    check(fns[k](nullptr, 4, outs.data()), "x&null", "x NULL");
    check(fns[k](in.data(), 4, nullptr), "y&null", "y NULL");
    check(fns[k](in.data(), -3, outs.data()), "-3", "n < 0");
    check(fns[k](in.data(), 4, in.data() + 1), "overlap", "y = x + 1");
    check(fns[k](in.data() + 2, 4, in.data()), "overlap", "y = x - 2");
    ASSERT_OK(fns[k](in.data(), 4, outs.data()));
  }
}

}  // namespace
