// The C API (logitcore.h) called from C++ through the C functions only: version, ISA and thread
// controls, per-thread errors, and the values of every function for float and double against the
// double-precision reference loops of test_support.h. Error paths: test_c_errors.cpp; every ISA
// and thread count: test_isa.cpp.
#include <cstdlib>
#include <set>
#include <thread>

#include "test_support.h"

extern "C" int logitcore_c_header_check(void);

namespace {

using namespace lct;

// ---- the header as C -------------------------------------------------------------------------------

TEST(CHeader, CompilesAsC99AndWorksFromC) {
  RuntimeGuard guard;
  EXPECT_EQ(logitcore_c_header_check(), 0) << "failed step (see c_header_check.c); last error: "
                                           << logitcore_last_error();
}

// ---- version, status names, ISA, threads ------------------------------------------------------------

TEST(Runtime, VersionMatchesTheHeader) {
  ASSERT_NE(logitcore_version(), nullptr);
  EXPECT_STREQ(logitcore_version(), LOGITCORE_VERSION_STRING);
  const std::string v = std::to_string(LOGITCORE_VERSION_MAJOR) + "." + std::to_string(LOGITCORE_VERSION_MINOR) + "." +
                        std::to_string(LOGITCORE_VERSION_PATCH);
  EXPECT_EQ(v, LOGITCORE_VERSION_STRING);
}

TEST(Runtime, StatusNames) {
  EXPECT_STREQ(logitcore_status_name(LOGITCORE_OK), "ok");
  EXPECT_STREQ(logitcore_status_name(LOGITCORE_INVALID_ARGUMENT), "invalid argument");
  std::set<std::string> names;
  for (int s = LOGITCORE_OK; s <= LOGITCORE_INTERNAL; ++s) {
    const char* n = logitcore_status_name(static_cast<logitcore_status>(s));
    ASSERT_NE(n, nullptr) << s;
    EXPECT_NE(std::string(n), "") << s;
    names.insert(n);
  }
  EXPECT_EQ(names.size(), 6u) << "status names must be distinct";
  EXPECT_NE(logitcore_status_name(static_cast<logitcore_status>(99)), nullptr);
}

TEST(Runtime, IsaNamesCompiledSupportedConsistent) {
  EXPECT_STREQ(logitcore_isa_name(LOGITCORE_ISA_SCALAR), "scalar");
  EXPECT_STREQ(logitcore_isa_name(LOGITCORE_ISA_AVX2), "avx2");
  EXPECT_STREQ(logitcore_isa_name(LOGITCORE_ISA_AVX512), "avx512");
  for (int bad : {-1, LOGITCORE_ISA_COUNT, 1000}) {
    EXPECT_EQ(logitcore_isa_name(bad), nullptr) << bad;
    EXPECT_EQ(logitcore_isa_compiled(bad), 0) << bad;
    EXPECT_EQ(logitcore_isa_supported(bad), 0) << bad;
  }
  EXPECT_EQ(logitcore_isa_compiled(LOGITCORE_ISA_SCALAR), 1);
  EXPECT_EQ(logitcore_isa_supported(LOGITCORE_ISA_SCALAR), 1);
  for (int i = 0; i < LOGITCORE_ISA_COUNT; ++i) {
    const int c = logitcore_isa_compiled(i), s = logitcore_isa_supported(i);
    EXPECT_TRUE(c == 0 || c == 1) << i;
    EXPECT_TRUE(s == 0 || s == 1) << i;
    EXPECT_TRUE(!s || c) << logitcore_isa_name(i) << " supported but not compiled";
  }
#if !(defined(__x86_64__) || defined(_M_X64))
  EXPECT_EQ(logitcore_isa_compiled(LOGITCORE_ISA_AVX2), 0);
  EXPECT_EQ(logitcore_isa_compiled(LOGITCORE_ISA_AVX512), 0);
#endif
  // AVX-512 needs AVX2 + FMA as well (the runtime's detection requires both)
  if (logitcore_isa_supported(LOGITCORE_ISA_AVX512)) { EXPECT_EQ(logitcore_isa_supported(LOGITCORE_ISA_AVX2), 1); }
  const logitcore_isa cur = logitcore_get_isa();
  EXPECT_EQ(logitcore_isa_supported(cur), 1);
}

TEST(Runtime, SetIsaByNameAndAuto) {
  RuntimeGuard guard;
  int best = 0;
  for (int i = 0; i < LOGITCORE_ISA_COUNT; ++i) {
    if (!logitcore_isa_supported(i)) continue;
    best = i;
    ASSERT_OK(logitcore_set_isa(logitcore_isa_name(i)));
    EXPECT_EQ(logitcore_get_isa(), i);
  }
  for (const char* name : {"auto", "", static_cast<const char*>(nullptr)}) {
    ASSERT_OK(logitcore_set_isa("scalar"));
    ASSERT_OK(logitcore_set_isa(name));
    EXPECT_EQ(logitcore_get_isa(), best) << (name ? name : "NULL") << " selects the best supported ISA";
  }
}

TEST(Runtime, SetIsaUnknownName) {
  RuntimeGuard guard;
  ASSERT_OK(logitcore_set_isa("scalar"));
  for (const char* name : {"sse9", "AVX2", "avx2 ", "neon"}) {
    EXPECT_FAILS(logitcore_set_isa(name), LOGITCORE_INVALID_ARGUMENT, name);
    EXPECT_EQ(logitcore_get_isa(), LOGITCORE_ISA_SCALAR) << "a refused ISA leaves the choice alone";
  }
}

TEST(Runtime, SetIsaUnsupported) {
  RuntimeGuard guard;
  int checked = 0;
  for (int i = 0; i < LOGITCORE_ISA_COUNT; ++i) {
    if (logitcore_isa_supported(i)) continue;
    const logitcore_isa before = logitcore_get_isa();
    EXPECT_FAILS(logitcore_set_isa(logitcore_isa_name(i)), LOGITCORE_UNSUPPORTED, logitcore_isa_name(i));
    EXPECT_EQ(logitcore_get_isa(), before);
    ++checked;
  }
  if (checked == 0) GTEST_SKIP() << "this CPU supports every ISA of the build: no unsupported one to refuse";
}

// LOGITCORE_ISA is read once, at the first call that needs it: CMakeLists.txt runs this suite in
// processes of its own with LOGITCORE_ISA=sse9|scalar|auto (and ctest's discovered entry without it).
TEST(EnvIsa, EnvironmentVariableIsHonouredOrReported) {
  const char* env = std::getenv("LOGITCORE_ISA");
  const logitcore_isa first = logitcore_get_isa();
  int best = 0;
  for (int i = 0; i < LOGITCORE_ISA_COUNT; ++i)
    if (logitcore_isa_supported(i)) best = i;
  const char* err = logitcore_isa_env_error();
  if (env == nullptr || std::string(env) == "auto" || std::string(env).empty()) {
    EXPECT_EQ(err, nullptr) << err;
    EXPECT_EQ(first, best);
    return;
  }
  const std::string name(env);
  int wanted = -1;
  for (int i = 0; i < LOGITCORE_ISA_COUNT; ++i)
    if (name == logitcore_isa_name(i)) wanted = i;
  if (wanted >= 0 && logitcore_isa_supported(wanted)) {
    EXPECT_EQ(err, nullptr) << err;
    EXPECT_EQ(first, wanted);
  } else {
    ASSERT_NE(err, nullptr) << "LOGITCORE_ISA=" << name << " must be reported";
    EXPECT_NE(std::string(err).find(name), std::string::npos) << err;
    EXPECT_EQ(first, best) << "a bad LOGITCORE_ISA falls back to the best supported ISA";
  }
}

TEST(Runtime, NumThreads) {
  RuntimeGuard guard;
  ASSERT_OK(logitcore_set_num_threads(0));
  const int dflt = logitcore_get_num_threads();
  EXPECT_GE(dflt, 1);
  ASSERT_OK(logitcore_set_num_threads(3));
  EXPECT_EQ(logitcore_get_num_threads(), 3);
  ASSERT_OK(logitcore_set_num_threads(LOGITCORE_MAX_THREADS));
  EXPECT_EQ(logitcore_get_num_threads(), LOGITCORE_MAX_THREADS);
  ASSERT_OK(logitcore_set_num_threads(1));
  EXPECT_FAILS(logitcore_set_num_threads(5000), LOGITCORE_INVALID_ARGUMENT, "5000");
  EXPECT_FAILS(logitcore_set_num_threads(LOGITCORE_MAX_THREADS + 1), LOGITCORE_INVALID_ARGUMENT, "4097");
  EXPECT_EQ(logitcore_get_num_threads(), 1) << "a refused count leaves the setting alone";
  ASSERT_OK(logitcore_set_num_threads(-3));  // <= 0 restores the default
  EXPECT_EQ(logitcore_get_num_threads(), dflt);
  EXPECT_TRUE(logitcore_have_openmp() == 0 || logitcore_have_openmp() == 1);
  if (!logitcore_have_openmp()) {
    ASSERT_OK(logitcore_set_num_threads(0));
    EXPECT_EQ(logitcore_get_num_threads(), 1);
  }
}

TEST(Runtime, BlockSize) { EXPECT_EQ(logitcore_block_size(), 2048); }

TEST(Runtime, LastErrorIsPerThread) {
  // a fresh thread has no message; each thread keeps its own
  std::string fresh = "unset", in_thread;
  std::thread([&] { fresh = logitcore_last_error(); }).join();
  EXPECT_EQ(fresh, "");

  EXPECT_FAILS(logitcore_set_isa("sse9"), LOGITCORE_INVALID_ARGUMENT, "sse9");
  std::thread([&] {
    const double x = 1;
    double y;
    EXPECT_FAILS(logitcore_exp_f64(&x, -4, &y), LOGITCORE_INVALID_ARGUMENT, "-4");
    in_thread = logitcore_last_error();
  }).join();
  EXPECT_NE(in_thread.find("-4"), std::string::npos) << in_thread;
  EXPECT_EQ(in_thread.find("sse9"), std::string::npos) << in_thread;
  const std::string here = logitcore_last_error();
  EXPECT_NE(here.find("sse9"), std::string::npos) << "the other thread's failure replaced this thread's message: "
                                                   << here;

  // many threads failing at once each read their own message
  std::vector<std::thread> pool;
  std::vector<int> ok(8, 0);
  for (int t = 0; t < 8; ++t)
    pool.emplace_back([t, &ok] {
      int good = 1;
      for (int k = 0; k < 200; ++k) {
        const std::string name = "isa" + std::to_string(t) + "_" + std::to_string(k);
        if (logitcore_set_isa(name.c_str()) != LOGITCORE_INVALID_ARGUMENT) good = 0;
        if (std::string(logitcore_last_error()).find(name + "'") == std::string::npos &&
            std::string(logitcore_last_error()).find(name) == std::string::npos)
          good = 0;
      }
      ok[static_cast<size_t>(t)] = good;
    });
  for (auto& th : pool) th.join();
  for (int t = 0; t < 8; ++t) EXPECT_EQ(ok[static_cast<size_t>(t)], 1) << "thread " << t;
}

// ---- the logsumexp family, typed -------------------------------------------------------------------

template <class T>
class CFamily : public ::testing::Test {};
TYPED_TEST_SUITE(CFamily, FloatTypes, TypeNames);

// The views the value tests read x through: strided, reversed, transposed and broadcast.
struct ViewCase {
  const char* what;
  i64 offset, rows, cols, row_stride, col_stride;
};
// over a 9 x 64 buffer
const ViewCase kViews[] = {
    {"contiguous", 0, 9, 64, 64, 1},
    {"every other row, every third column", 0, 4, 20, 128, 3},
    {"reversed rows and columns", 8 * 64 + 63, 9, 64, -64, -1},
    {"rows backwards by two, columns by two", 8 * 64, 5, 32, -128, 2},
    {"transposed", 0, 64, 9, 1, 64},
    {"one row repeated (row stride 0)", 64, 3, 64, 0, 1},
    {"one value repeated (column stride 0)", 0, 4, 50, 64, 0},
    {"single column", 5, 9, 1, 64, 1},
};

template <class T>
logitcore_matrix view_of(std::vector<T>& buf, const ViewCase& v) {
  return mat(buf.data() + v.offset, v.rows, v.cols, v.row_stride, v.col_stride);
}

// An output vector of n entries with the given stride inside a sentinel-filled buffer.
template <class T>
struct OutVec {
  std::vector<T> buf;
  logitcore_vector v;
  OutVec(i64 n, i64 stride) : buf(static_cast<size_t>(std::max<i64>(1, n * (stride < 0 ? -stride : stride))), static_cast<T>(kSentinel)) {
    T* base = stride < 0 ? buf.data() + (n - 1) * -stride : buf.data();
    v = vec(base, n, stride);
  }
  double operator[](i64 i) const { return static_cast<double>(static_cast<const T*>(v.data)[i * v.stride]); }
  // entries of buf that are not elements of v still hold the sentinel
  bool gaps_untouched() const {
    const i64 s = v.stride < 0 ? -v.stride : v.stride;
    for (size_t k = 0; k < buf.size(); ++k)
      if (s > 1 && k % static_cast<size_t>(s) != 0 && !(buf[k] == static_cast<T>(kSentinel))) return false;
    return true;
  }
};

TYPED_TEST(CFamily, LogsumexpMatchesReference) {
  using T = TypeParam;
  using A = Api<T>;
  for (i64 cols : {1, 7, 37, 2048 + 13}) {
    const i64 rows = 6;
    auto x = uniform<T>(static_cast<size_t>(rows * cols), -4, 4, 11 + static_cast<unsigned>(cols));
    for (i64 j = 0; j < cols; ++j) {
      x[static_cast<size_t>(1 * cols + j)] += static_cast<T>(300);  // large offsets
      x[static_cast<size_t>(2 * cols + j)] -= static_cast<T>(300);
      x[static_cast<size_t>(3 * cols + j)] *= static_cast<T>(30);  // wide spread
    }
    const auto mx = mat(x.data(), rows, cols);
    OutVec<T> out(rows, 1);
    ASSERT_OK(A::logsumexp(&mx, nullptr, &out.v, nullptr, 0));
    for (i64 i = 0; i < rows; ++i)
      EXPECT_TRUE(Near(out[i], ref_lse(row_of<T>(mx, i)), A::lse_tol)) << "cols " << cols << " row " << i;
  }
}

TYPED_TEST(CFamily, LogsumexpStridedAndNegativeStrideViews) {
  using T = TypeParam;
  using A = Api<T>;
  auto buf = uniform<T>(9 * 64, -3, 3, 5);
  for (const ViewCase& vc : kViews) {
    const auto mx = view_of(buf, vc);
    for (i64 ostride : {1, 2, -1, -3}) {
      OutVec<T> out(vc.rows, ostride);
      ASSERT_OK(A::logsumexp(&mx, nullptr, &out.v, nullptr, 1));
      for (i64 i = 0; i < vc.rows; ++i)
        EXPECT_TRUE(Near(out[i], ref_lse(row_of<T>(mx, i)), A::lse_tol)) << vc.what << ", out stride " << ostride;
      EXPECT_TRUE(out.gaps_untouched()) << vc.what << ", out stride " << ostride;
    }
  }
  // a repeated value: lse = x + log n
  const auto mx = view_of(buf, kViews[6]);
  OutVec<T> out(4, 1);
  ASSERT_OK(A::logsumexp(&mx, nullptr, &out.v, nullptr, 1));
  for (i64 i = 0; i < 4; ++i)
    EXPECT_TRUE(Near(out[i], static_cast<double>(buf[static_cast<size_t>(64 * i)]) + std::log(50.0), A::lse_tol));
}

TYPED_TEST(CFamily, LogsumexpWeightedAndSign) {
  using T = TypeParam;
  using A = Api<T>;
  const i64 rows = 6, cols = 33;
  auto x = uniform<T>(static_cast<size_t>(rows * cols), -3, 3, 21);
  auto bpos = uniform<T>(static_cast<size_t>(rows * cols), 0.1, 2.0, 22);
  auto bmix = uniform<T>(static_cast<size_t>(rows * cols), -1.0, 1.0, 23);
  for (i64 j = 0; j < cols; ++j) {
    bmix[static_cast<size_t>(j)] = std::fabs(bmix[static_cast<size_t>(j)]) + T(0.01);       // row 0 positive
    bmix[static_cast<size_t>(cols + j)] = -std::fabs(bmix[static_cast<size_t>(cols + j)]) - T(0.01);  // row 1 negative
  }
  const auto mx = mat(x.data(), rows, cols);
  // positive weights, with and without sign
  {
    const auto mb = mat(bpos.data(), rows, cols);
    OutVec<T> out(rows, 1), sign(rows, 2);
    ASSERT_OK(A::logsumexp(&mx, &mb, &out.v, nullptr, 0));
    for (i64 i = 0; i < rows; ++i)
      EXPECT_TRUE(Near(out[i], ref_lse_weighted(row_of<T>(mx, i), row_of<T>(mb, i)).value, A::lse_tol)) << i;
    OutVec<T> out2(rows, -1);
    ASSERT_OK(A::logsumexp(&mx, &mb, &out2.v, &sign.v, 0));
    for (i64 i = 0; i < rows; ++i) {
      EXPECT_EQ(out2[i], out[i]) << "the sign does not change the value of a positive sum";
      EXPECT_EQ(sign[i], 1.0);
    }
    EXPECT_TRUE(sign.gaps_untouched());
  }
  // mixed weights: log|S| and sign; without sign a negative sum is NaN
  {
    const auto mb = mat(bmix.data(), rows, cols);
    OutVec<T> out(rows, 1), sign(rows, 1), nosign(rows, 1);
    ASSERT_OK(A::logsumexp(&mx, &mb, &out.v, &sign.v, 0));
    ASSERT_OK(A::logsumexp(&mx, &mb, &nosign.v, nullptr, 0));
    bool saw_neg = false;
    for (i64 i = 0; i < rows; ++i) {
      const SignedValue r = ref_lse_weighted(row_of<T>(mx, i), row_of<T>(mb, i));
      // cancellation: the relative error of |S| is bounded by sum|b e^x| / |S|
      double absum = 0;
      for (i64 j = 0; j < cols; ++j)
        absum += std::fabs(at<T>(mb, i, j)) * std::exp(at<T>(mx, i, j) - r.value);
      EXPECT_TRUE(Near(out[i], r.value, A::lse_tol * absum)) << i;
      EXPECT_EQ(sign[i], r.sign) << i;
      if (r.sign < 0) {
        saw_neg = true;
        EXPECT_TRUE(std::isnan(nosign[i])) << "a negative sum without sign gives NaN, row " << i;
      } else {
        EXPECT_EQ(nosign[i], out[i]) << i;
      }
    }
    EXPECT_TRUE(saw_neg);
  }
  // weights broadcast along the rows (row stride 0)
  {
    const auto mb = mat(bpos.data(), rows, cols, 0, 1);
    OutVec<T> out(rows, 1);
    ASSERT_OK(A::logsumexp(&mx, &mb, &out.v, nullptr, 0));
    for (i64 i = 0; i < rows; ++i)
      EXPECT_TRUE(Near(out[i], ref_lse_weighted(row_of<T>(mx, i), row_of<T>(mb, i)).value, A::lse_tol)) << i;
  }
}

TYPED_TEST(CFamily, LogsumexpZeroWeightsRemoveEntries) {
  using T = TypeParam;
  using A = Api<T>;
  const T inf = std::numeric_limits<T>::infinity(), nan = std::numeric_limits<T>::quiet_NaN();
  std::vector<T> x = {1, nan, 2, inf, -inf, 0.5f, /* row 1 */ 0, 0, 0, 0, 0, 0};
  std::vector<T> b = {1, 0, 2, 0, 0, 1, /* row 1: every weight 0 */ 0, 0, 0, 0, 0, 0};
  const auto mx = mat(x.data(), 2, 6), mb = mat(b.data(), 2, 6);
  OutVec<T> out(2, 1), sign(2, 1);
  ASSERT_OK(A::logsumexp(&mx, &mb, &out.v, &sign.v, 0));
  EXPECT_TRUE(Near(out[0], std::log(std::exp(1.0) + 2 * std::exp(2.0) + std::exp(0.5)), A::lse_tol));
  EXPECT_EQ(sign[0], 1.0);
  EXPECT_EQ(out[1], -kInf);
  EXPECT_EQ(sign[1], 0.0);
  // a sum that cancels exactly: (-inf, sign 0); without sign: -inf
  std::vector<T> x2 = {-1, -1, -1}, b2 = {1, -2, 1};
  const auto mx2 = mat(x2.data(), 1, 3), mb2 = mat(b2.data(), 1, 3);
  OutVec<T> o2(1, 1), s2(1, 1), o3(1, 1);
  ASSERT_OK(A::logsumexp(&mx2, &mb2, &o2.v, &s2.v, 0));
  EXPECT_EQ(o2[0], -kInf);
  EXPECT_EQ(s2[0], 0.0);
  ASSERT_OK(A::logsumexp(&mx2, &mb2, &o3.v, nullptr, 0));
  EXPECT_EQ(o3[0], -kInf);
}

TYPED_TEST(CFamily, LogsumexpSpecialRows) {
  using T = TypeParam;
  using A = Api<T>;
  const T inf = std::numeric_limits<T>::infinity(), nan = std::numeric_limits<T>::quiet_NaN();
  // +inf | NaN | all -inf | dominated by its maximum | NaN and +inf
  std::vector<T> x = {0, inf, 1, nan, 1, 2, -inf, -inf, -inf, 0, -40, -40, inf, nan, 0};
  const auto mx = mat(x.data(), 5, 3);
  OutVec<T> out(5, 1), sign(5, 1), nosign(5, 1);
  ASSERT_OK(A::logsumexp(&mx, nullptr, &out.v, &sign.v, 0));
  ASSERT_OK(A::logsumexp(&mx, nullptr, &nosign.v, nullptr, 0));
  EXPECT_EQ(out[0], kInf);
  EXPECT_EQ(sign[0], 1.0);
  EXPECT_TRUE(std::isnan(out[1]));
  EXPECT_TRUE(std::isnan(sign[1]));
  EXPECT_EQ(out[2], -kInf);
  EXPECT_EQ(sign[2], 0.0);
  // (0, -40, -40): log1p(2 e^-40) = 8.497e-18 with full relative accuracy
  const double want = std::log1p(2 * std::exp(-40.0));
  EXPECT_NEAR(out[3], want, want * (sizeof(T) == 4 ? 1e-6 : 1e-13));
  EXPECT_EQ(sign[3], 1.0);
  EXPECT_TRUE(std::isnan(out[4]));
  for (i64 i = 0; i < 5; ++i) {
    if (std::isnan(out[i])) {
      EXPECT_TRUE(std::isnan(nosign[i])) << i;
    } else {
      EXPECT_EQ(nosign[i], out[i]) << i;
    }
  }
}

TYPED_TEST(CFamily, LogsumexpEmptyShapes) {
  using T = TypeParam;
  using A = Api<T>;
  // rows without entries: -inf, sign 0 (data may be NULL for an empty matrix)
  const auto empty_rows = mat(nullptr, 3, 0, 0, 1);
  OutVec<T> out(3, 1), sign(3, 1);
  ASSERT_OK(A::logsumexp(&empty_rows, &empty_rows, &out.v, &sign.v, 0));
  for (i64 i = 0; i < 3; ++i) {
    EXPECT_EQ(out[i], -kInf);
    EXPECT_EQ(sign[i], 0.0);
  }
  ASSERT_OK(A::logsumexp(&empty_rows, nullptr, &out.v, nullptr, 0));
  // no rows at all
  const auto no_rows = mat(nullptr, 0, 5, 5, 1);
  const auto no_out = vec(nullptr, 0, 1);
  EXPECT_OK(A::logsumexp(&no_rows, nullptr, &no_out, nullptr, 0));
  EXPECT_OK(A::logsumexp(&no_rows, &no_rows, &no_out, &no_out, 0));
}

// |got - want| <= rel |want| for softmax entries, rel from lse's documented error (the exponent
// carries |x| + |lse| of it) plus a few ulps of the exponential.
template <class T>
::testing::AssertionResult SoftmaxNear(double got, double want, double x, double lse) {
  if (std::isnan(want)) return std::isnan(got) ? ::testing::AssertionSuccess() : ::testing::AssertionFailure() << got;
  const double rel = Api<T>::lse_tol * (1 + std::fabs(x) + std::fabs(lse)) + 4 * Api<T>::eps;
  if (std::fabs(got - want) <= rel * want + std::numeric_limits<T>::denorm_min()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << got << " vs " << want << " (rel err " << (got - want) / want << ", tol "
                                       << rel << ")";
}

template <class T>
void check_softmax(const logitcore_matrix& x, const logitcore_matrix& y, bool log, const std::string& what) {
  for (i64 i = 0; i < x.rows; ++i) {
    const auto xi = row_of<T>(x, i);
    const double l = ref_lse(xi);
    const auto want = log ? ref_log_softmax(xi) : ref_softmax(xi);
    double sum = 0;
    for (i64 j = 0; j < x.cols; ++j) {
      const double got = at<T>(y, i, j), w = want[static_cast<size_t>(j)], xj = xi[static_cast<size_t>(j)];
      if (log) {
        EXPECT_TRUE(Near(got, w, Api<T>::lse_tol * (1 + std::fabs(xj) + std::fabs(l)) / (1 + std::fabs(w))))
            << what << " (" << i << ", " << j << ")";
      } else {
        EXPECT_TRUE(SoftmaxNear<T>(got, w, xj, l)) << what << " (" << i << ", " << j << ")";
      }
      sum += got;
    }
    if (!log) {
      EXPECT_NEAR(sum, 1.0, 8 * Api<T>::eps * (1 + static_cast<double>(x.cols) / 16)) << what << " row " << i;
    }
  }
}

TYPED_TEST(CFamily, SoftmaxAndLogSoftmaxMatchReference) {
  using T = TypeParam;
  using A = Api<T>;
  for (bool log : {false, true}) {
    for (i64 cols : {1, 5, 37, 2048 + 77}) {
      const i64 rows = 5;
      auto x = uniform<T>(static_cast<size_t>(rows * cols), -6, 6, 31 + static_cast<unsigned>(cols));
      for (i64 j = 0; j < cols; ++j) x[static_cast<size_t>(cols + j)] += T(200);
      std::vector<T> y(x.size(), static_cast<T>(kSentinel));
      const auto mx = mat(x.data(), rows, cols), my = mat(y.data(), rows, cols);
      ASSERT_OK(log ? A::log_softmax(&mx, &my, 0) : A::softmax(&mx, &my, 0));
      check_softmax<T>(mx, my, log, std::string(log ? "log_softmax" : "softmax") + " cols " + std::to_string(cols));
      // in place: the same bits
      std::vector<T> z = x;
      const auto mz = mat(z.data(), rows, cols);
      ASSERT_OK(log ? A::log_softmax(&mz, &mz, 0) : A::softmax(&mz, &mz, 0));
      EXPECT_TRUE(BitEqual(z, y)) << (log ? "log_softmax" : "softmax") << " in place, cols " << cols;
    }
  }
}

TYPED_TEST(CFamily, SoftmaxStridedViews) {
  using T = TypeParam;
  using A = Api<T>;
  auto buf = uniform<T>(9 * 64, -3, 3, 41);
  for (bool log : {false, true}) {
    for (const ViewCase& vc : kViews) {
      const auto mx = view_of(buf, vc);
      // the output reversed in both axes, with a gap after every row
      const i64 rs = vc.cols + 3;
      std::vector<T> ybuf(static_cast<size_t>(vc.rows * rs), static_cast<T>(kSentinel));
      const auto my = mat(ybuf.data() + (vc.rows - 1) * rs + vc.cols - 1, vc.rows, vc.cols, -rs, -1);
      ASSERT_OK(log ? A::log_softmax(&mx, &my, 1) : A::softmax(&mx, &my, 1));
      check_softmax<T>(mx, my, log, vc.what);
      for (i64 i = 0; i < vc.rows; ++i)
        for (i64 j = vc.cols; j < rs; ++j)
          EXPECT_EQ(ybuf[static_cast<size_t>(i * rs + j)], static_cast<T>(kSentinel)) << vc.what << ": gap written";
    }
  }
}

TYPED_TEST(CFamily, SoftmaxSpecialRows) {
  using T = TypeParam;
  using A = Api<T>;
  const T inf = std::numeric_limits<T>::infinity(), nan = std::numeric_limits<T>::quiet_NaN();
  std::vector<T> x = {inf, 0, inf, 5, -inf, -inf, -inf, -inf, nan, 0, 1, 2, -inf, 0, -inf, 1};
  const auto mx = mat(x.data(), 4, 4);
  std::vector<T> p(16), lp(16);
  const auto mp = mat(p.data(), 4, 4), mlp = mat(lp.data(), 4, 4);
  ASSERT_OK(A::softmax(&mx, &mp, 0));
  ASSERT_OK(A::log_softmax(&mx, &mlp, 0));
  // +inf entries share the mass
  const std::vector<double> p0 = {0.5, 0, 0.5, 0}, lp0 = {-std::log(2.0), -kInf, -std::log(2.0), -kInf};
  for (int j = 0; j < 4; ++j) {
    EXPECT_NEAR(p[static_cast<size_t>(j)], p0[static_cast<size_t>(j)], 2 * Api<T>::eps) << j;
    if (std::isinf(lp0[static_cast<size_t>(j)])) {
      EXPECT_EQ(lp[static_cast<size_t>(j)], -inf) << j;
    } else {
      EXPECT_NEAR(lp[static_cast<size_t>(j)], lp0[static_cast<size_t>(j)], 4 * Api<T>::eps) << j;
    }
  }
  // all -inf: no support
  for (int j = 4; j < 8; ++j) {
    EXPECT_EQ(p[static_cast<size_t>(j)], T(0)) << j;
    EXPECT_EQ(lp[static_cast<size_t>(j)], -inf) << j;
  }
  // NaN anywhere: NaN everywhere
  for (int j = 8; j < 12; ++j) {
    EXPECT_TRUE(std::isnan(p[static_cast<size_t>(j)])) << j;
    EXPECT_TRUE(std::isnan(lp[static_cast<size_t>(j)])) << j;
  }
  // -inf entries get 0 / -inf
  const double l3 = std::log(1 + std::exp(1.0));
  EXPECT_EQ(p[12], T(0));
  EXPECT_EQ(p[14], T(0));
  EXPECT_EQ(lp[12], -inf);
  EXPECT_NEAR(lp[15], 1 - l3, 4 * Api<T>::eps);
  EXPECT_NEAR(p[13], std::exp(-l3), 4 * Api<T>::eps);
  // no rows is fine
  const auto e1 = mat(nullptr, 0, 4);
  EXPECT_OK(A::softmax(&e1, &e1, 0));
  EXPECT_OK(A::log_softmax(&e1, &e1, 0));
}

// Rows without entries: an output with no elements cannot overlap itself, whatever its strides.
// Row stride 0 is the row-major contiguous layout of rows x 0 (row_stride = cols), the one
// logitcore::Matrix(data, rows, 0) makes.
TYPED_TEST(CFamily, EmptyOutputsWithZeroRowStride) {
  using T = TypeParam;
  using A = Api<T>;
  std::vector<T> buf(4);
  for (T* data : {static_cast<T*>(nullptr), buf.data()}) {
    const auto e = mat(data, 3, 0);
    ASSERT_EQ(e.row_stride, 0);
    const auto f = mat(data == nullptr ? nullptr : buf.data() + 2, 3, 0);
    EXPECT_OK(A::softmax(&e, &e, 0));
    EXPECT_OK(A::log_softmax(&e, &f, 0));
    std::vector<std::int8_t> st(3, 77);
    logitcore_en_info info{};
    info.status = st.data();
    const double target = 1.0;
    EXPECT_OK(A::entropy_normalize(&e, &f, &target, 0, nullptr, &info, 0));
    EXPECT_EQ(st, std::vector<std::int8_t>(3, LOGITCORE_EN_NO_SUPPORT));
    const std::vector<i64> t(3, LOGITCORE_LOSS_DEFAULT_IGNORE_INDEX);
    double reduced = kSentinel;
    const logitcore_loss_options o = logitcore_loss_default_options();
    EXPECT_OK(A::loss(&e, t.data(), &o, nullptr, &reduced, &f, 0));
    EXPECT_EQ(reduced, 0.0);
  }
}

TYPED_TEST(CFamily, SoftmaxEntropyAndEntropy) {
  using T = TypeParam;
  using A = Api<T>;
  auto buf = uniform<T>(9 * 64, -4, 4, 51);
  for (const ViewCase& vc : kViews) {
    const auto mx = view_of(buf, vc);
    OutVec<T> out(vc.rows, -2);
    ASSERT_OK(A::softmax_entropy(&mx, &out.v, 0));
    for (i64 i = 0; i < vc.rows; ++i) {
      const auto xi = row_of<T>(mx, i);
      double mabs = 0;
      for (double e : xi) mabs = std::max(mabs, std::fabs(e));
      EXPECT_NEAR(out[i], ref_softmax_entropy(xi), A::ent_tol * (1 + mabs)) << vc.what << " row " << i;
      EXPECT_GE(out[i], 0.0);
    }
    EXPECT_TRUE(out.gaps_untouched());
  }
  // entropy of probability rows, zeros included (0 log 0 = 0), through strided views
  auto p = prob_rows<T>(9, 64, 52);
  for (size_t k = 3; k < p.size(); k += 7) p[k] = 0;
  for (const ViewCase& vc : kViews) {
    const auto mp = view_of(p, vc);
    OutVec<T> out(vc.rows, 3);
    ASSERT_OK(A::entropy(&mp, &out.v, 0));
    for (i64 i = 0; i < vc.rows; ++i) {
      const double want = ref_entropy(row_of<T>(mp, i));
      EXPECT_NEAR(out[i], want, A::ent_tol * (1 + want)) << vc.what << " row " << i;
    }
    EXPECT_TRUE(out.gaps_untouched());
  }
}

TYPED_TEST(CFamily, EntropySpecialRows) {
  using T = TypeParam;
  using A = Api<T>;
  const T inf = std::numeric_limits<T>::infinity(), nan = std::numeric_limits<T>::quiet_NaN();
  // softmax_entropy: two +inf entries -> log 2; all -inf -> 0; NaN -> NaN; one entry -> 0
  std::vector<T> x = {inf, 0, inf, -inf, -inf, -inf, 0, nan, 1, 7, -inf, -inf};
  const auto mx = mat(x.data(), 4, 3);
  OutVec<T> se(4, 1);
  ASSERT_OK(A::softmax_entropy(&mx, &se.v, 0));
  EXPECT_NEAR(se[0], std::log(2.0), 4 * A::eps);
  EXPECT_EQ(se[1], 0.0);
  EXPECT_TRUE(std::isnan(se[2]));
  EXPECT_EQ(se[3], 0.0);
  // entropy: a negative or NaN entry gives NaN; a one-hot row 0; uniform log n
  std::vector<T> p = {0.5, -0.25, 0.75, 0.5, nan, 0.5, 0, 1, 0, T(1) / 3, T(1) / 3, T(1) / 3};
  const auto mp = mat(p.data(), 4, 3);
  OutVec<T> h(4, 1);
  ASSERT_OK(A::entropy(&mp, &h.v, 0));
  EXPECT_TRUE(std::isnan(h[0]));
  EXPECT_TRUE(std::isnan(h[1]));
  EXPECT_EQ(h[2], 0.0);
  EXPECT_NEAR(h[3], std::log(3.0), 8 * A::eps);
  // rows without entries have entropy 0; no rows is fine
  const auto e = mat(nullptr, 2, 0, 0, 1);
  OutVec<T> he(2, 1), hs(2, 1);
  ASSERT_OK(A::entropy(&e, &he.v, 0));
  ASSERT_OK(A::softmax_entropy(&e, &hs.v, 0));
  for (i64 i = 0; i < 2; ++i) {
    EXPECT_EQ(he[i], 0.0);
    EXPECT_EQ(hs[i], 0.0);
  }
}

// ---- the streaming state -----------------------------------------------------------------------------

TEST(State, InitAndEmptyResult) {
  std::vector<double> m(5, kSentinel), u(5, kSentinel), r(5, kSentinel);
  ASSERT_OK(logitcore_lse_state_init(m.data(), u.data(), 5));
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(m[static_cast<size_t>(i)], -kInf);
    EXPECT_EQ(u[static_cast<size_t>(i)], -1.0);
  }
  ASSERT_OK(logitcore_lse_state_result(m.data(), u.data(), 5, r.data()));
  for (double v : r) EXPECT_EQ(v, -kInf);
  EXPECT_OK(logitcore_lse_state_init(nullptr, nullptr, 0));
  EXPECT_OK(logitcore_lse_state_merge(nullptr, nullptr, nullptr, nullptr, 0));
  EXPECT_OK(logitcore_lse_state_result(nullptr, nullptr, 0, nullptr));
}

TYPED_TEST(CFamily, StateUpdateInBlocksEqualsWholeRow) {
  using T = TypeParam;
  using A = Api<T>;
  const i64 rows = 4, cols = 5000;
  auto x = uniform<T>(static_cast<size_t>(rows * cols), -5, 5, 61);
  for (i64 j = 1; j < cols; ++j) x[static_cast<size_t>(3 * cols + j)] = T(-40);  // dominated by its maximum
  x[static_cast<size_t>(3 * cols)] = 0;
  const auto whole = mat(x.data(), rows, cols);
  for (i64 k : {1, 2047, 2048, 3001}) {
    // 1e-12 relative: float64 rows anywhere; float32 rows, summed in float32 lanes within each block
    // of logitcore_block_size(), when the split falls on a block boundary (elsewhere the blocks
    // differ, and the documented float32 accuracy is what holds)
    const double rel = A::is_f64 || k % logitcore_block_size() == 0 ? 1e-12 : 4 * A::lse_tol;
    const auto left = mat(x.data(), rows, k, cols, 1), right = mat(x.data() + k, rows, cols - k, cols, 1);
    std::vector<double> m1(rows), u1(rows), m2(rows), u2(rows), m3(rows), u3(rows), m4(rows), u4(rows);
    ASSERT_OK(logitcore_lse_state_init(m1.data(), u1.data(), rows));
    ASSERT_OK(A::state_update(m1.data(), u1.data(), &whole, 0));
    // two column blocks, one after the other
    ASSERT_OK(logitcore_lse_state_init(m2.data(), u2.data(), rows));
    ASSERT_OK(A::state_update(m2.data(), u2.data(), &left, 0));
    ASSERT_OK(A::state_update(m2.data(), u2.data(), &right, 0));
    // two states merged (right block first: the merge commutes)
    ASSERT_OK(logitcore_lse_state_init(m3.data(), u3.data(), rows));
    ASSERT_OK(logitcore_lse_state_init(m4.data(), u4.data(), rows));
    ASSERT_OK(A::state_update(m3.data(), u3.data(), &right, 0));
    ASSERT_OK(A::state_update(m4.data(), u4.data(), &left, 0));
    ASSERT_OK(logitcore_lse_state_merge(m3.data(), u3.data(), m4.data(), u4.data(), rows));
    std::vector<double> r1(rows), r2(rows), r3(rows);
    ASSERT_OK(logitcore_lse_state_result(m1.data(), u1.data(), rows, r1.data()));
    ASSERT_OK(logitcore_lse_state_result(m2.data(), u2.data(), rows, r2.data()));
    ASSERT_OK(logitcore_lse_state_result(m3.data(), u3.data(), rows, r3.data()));
    for (i64 i = 0; i < rows; ++i) {
      const size_t s = static_cast<size_t>(i);
      EXPECT_TRUE(Near(r1[s], ref_lse(row_of<T>(whole, i)), A::lse_tol)) << "row " << i;
      EXPECT_LE(std::fabs(r2[s] - r1[s]), rel * std::fabs(r1[s])) << "split at " << k << " row " << i;
      EXPECT_LE(std::fabs(r3[s] - r1[s]), rel * std::fabs(r1[s])) << "merged at " << k << " row " << i;
      EXPECT_EQ(m2[s], m1[s]);
    }
    // the dominated row keeps its tiny excess
    const double want = std::log1p((cols - 1) * std::exp(-40.0));
    EXPECT_NEAR(r2[3], want, want * 1e-6);
  }
}

TYPED_TEST(CFamily, StateStridedUpdateAndResultInPlace) {
  using T = TypeParam;
  using A = Api<T>;
  auto buf = uniform<T>(9 * 64, -3, 3, 62);
  for (const ViewCase& vc : kViews) {
    const auto mx = view_of(buf, vc);
    std::vector<double> m(static_cast<size_t>(vc.rows)), u(m.size()), r(m.size());
    ASSERT_OK(logitcore_lse_state_init(m.data(), u.data(), vc.rows));
    ASSERT_OK(A::state_update(m.data(), u.data(), &mx, 0));
    ASSERT_OK(logitcore_lse_state_result(m.data(), u.data(), vc.rows, r.data()));
    for (i64 i = 0; i < vc.rows; ++i)
      EXPECT_TRUE(Near(r[static_cast<size_t>(i)], ref_lse(row_of<T>(mx, i)), A::lse_tol)) << vc.what << " row " << i;
    // out may be max or excess itself
    std::vector<double> m2 = m, u2 = u;
    ASSERT_OK(logitcore_lse_state_result(m2.data(), u.data(), vc.rows, m2.data()));
    ASSERT_OK(logitcore_lse_state_result(m.data(), u2.data(), vc.rows, u2.data()));
    EXPECT_TRUE(BitEqual(m2, r)) << vc.what;
    EXPECT_TRUE(BitEqual(u2, r)) << vc.what;
  }
}

TEST(State, MergeLaws) {
  const double nan = kNaN;
  // identity: merging the empty state changes nothing
  std::vector<double> m = {0.5, -3, kInf, nan, -kInf}, u = {0.25, 2.0, 1.0, 0.0, -1.0};
  std::vector<double> em(5), eu(5);
  ASSERT_OK(logitcore_lse_state_init(em.data(), eu.data(), 5));
  std::vector<double> m1 = m, u1 = u;
  ASSERT_OK(logitcore_lse_state_merge(m1.data(), u1.data(), em.data(), eu.data(), 5));
  EXPECT_TRUE(BitEqual(m1, m));
  EXPECT_TRUE(BitEqual(u1, u));
  // equal maxima add directly: (0, 0.5) + (0, 0.25) = (0, 1.75)
  std::vector<double> a = {0}, au = {0.5}, b = {0}, bu = {0.25};
  ASSERT_OK(logitcore_lse_state_merge(a.data(), au.data(), b.data(), bu.data(), 1));
  EXPECT_EQ(a[0], 0.0);
  EXPECT_EQ(au[0], 1.75);
  // otherwise u = u_hi + exp(m_lo - m_hi)(1 + u_lo); commutes
  std::vector<double> c = {1}, cu = {0.5}, d = {3}, du = {0.25};
  std::vector<double> c2 = d, cu2 = du;
  ASSERT_OK(logitcore_lse_state_merge(c.data(), cu.data(), d.data(), du.data(), 1));
  ASSERT_OK(logitcore_lse_state_merge(c2.data(), cu2.data(), std::vector<double>{1}.data(),
                                      std::vector<double>{0.5}.data(), 1));
  EXPECT_EQ(c[0], 3.0);
  EXPECT_NEAR(cu[0], 0.25 + std::exp(-2.0) * 1.5, 1e-15);
  EXPECT_EQ(c2[0], c[0]);
  EXPECT_NEAR(cu2[0], cu[0], 1e-15);
  // a NaN side gives NaN
  std::vector<double> e = {1}, eu2 = {0}, f = {nan}, fu = {0}, r(1);
  ASSERT_OK(logitcore_lse_state_merge(e.data(), eu2.data(), f.data(), fu.data(), 1));
  ASSERT_OK(logitcore_lse_state_result(e.data(), eu2.data(), 1, r.data()));
  EXPECT_TRUE(std::isnan(r[0]));
}

TYPED_TEST(CFamily, StateUpdateWithEmptyBlocks) {
  using T = TypeParam;
  using A = Api<T>;
  std::vector<T> x = {1, 2, 3, 4};
  std::vector<double> m(2), u(2);
  ASSERT_OK(logitcore_lse_state_init(m.data(), u.data(), 2));
  const auto mx = mat(x.data(), 2, 2);
  ASSERT_OK(A::state_update(m.data(), u.data(), &mx, 0));
  const std::vector<double> m0 = m, u0 = u;
  const auto no_cols = mat(nullptr, 2, 0, 0, 1);
  ASSERT_OK(A::state_update(m.data(), u.data(), &no_cols, 0));
  EXPECT_TRUE(BitEqual(m, m0));
  EXPECT_TRUE(BitEqual(u, u0));
  const auto no_rows = mat(nullptr, 0, 3, 3, 1);
  EXPECT_OK(A::state_update(nullptr, nullptr, &no_rows, 0));
}

// ---- entropy normalization -----------------------------------------------------------------------------

TEST(EntropyNormalize, DefaultOptionsAndEffectiveTolerances) {
  const logitcore_en_options o = logitcore_en_default_options();
  EXPECT_EQ(o.input, LOGITCORE_EN_PROBABILITIES);
  EXPECT_LT(o.tol, 0);
  EXPECT_EQ(o.max_iter, LOGITCORE_EN_DEFAULT_MAX_ITER);
  EXPECT_EQ(o.check_sum, 1);
  EXPECT_LT(o.sum_tol, 0);
  EXPECT_EQ(o.out_of_range_fails, 0);
  EXPECT_EQ(logitcore_en_effective_tol(&o, 0), LOGITCORE_EN_DEFAULT_TOL_F32);
  EXPECT_EQ(logitcore_en_effective_tol(&o, 1), LOGITCORE_EN_DEFAULT_TOL_F64);
  EXPECT_EQ(logitcore_en_effective_sum_tol(&o, 0),
            std::max<double>(LOGITCORE_EN_MIN_SUM_TOL, std::numeric_limits<float>::epsilon()));
  EXPECT_EQ(logitcore_en_effective_sum_tol(&o, 1), LOGITCORE_EN_MIN_SUM_TOL);
  logitcore_en_options c = o;
  c.tol = 1e-3;
  c.sum_tol = 0.0;
  EXPECT_EQ(logitcore_en_effective_tol(&c, 0), 1e-3);
  EXPECT_EQ(logitcore_en_effective_tol(&c, 1), 1e-3);
  EXPECT_EQ(logitcore_en_effective_sum_tol(&c, 1), 0.0);
}

// H of a stored row, in long double
template <class T>
double entropy_of(const logitcore_matrix& q, i64 i) {
  return ref_entropy(row_of<T>(q, i));
}

struct InfoBuffers {
  std::vector<double> gamma, h_min, h_max, entropy;
  std::vector<std::int32_t> n_iter;
  std::vector<std::uint8_t> converged, clipped;
  std::vector<std::int8_t> status;
  explicit InfoBuffers(i64 rows)
      : gamma(static_cast<size_t>(rows), kSentinel),
        h_min(gamma),
        h_max(gamma),
        entropy(gamma),
        n_iter(static_cast<size_t>(rows), -7),
        converged(static_cast<size_t>(rows), 77),
        clipped(static_cast<size_t>(rows), 77),
        status(static_cast<size_t>(rows), 77) {}
  logitcore_en_info c() {
    return {gamma.data(), n_iter.data(), converged.data(), clipped.data(),
            status.data(), h_min.data(),  h_max.data(),     entropy.data()};
  }
};

TYPED_TEST(CFamily, EntropyNormalizeProbabilitiesReachPerRowTargets) {
  using T = TypeParam;
  using A = Api<T>;
  const i64 rows = 7, cols = 100;
  auto p = prob_rows<T>(rows, cols, 71);
  std::vector<double> target(static_cast<size_t>(rows));
  for (i64 i = 0; i < rows; ++i) target[static_cast<size_t>(i)] = 0.3 + 0.6 * static_cast<double>(i);  // .3 .. 3.9
  std::vector<T> q(p.size(), static_cast<T>(kSentinel));
  const auto mp = mat(p.data(), rows, cols), mq = mat(q.data(), rows, cols);
  InfoBuffers ib(rows);
  const logitcore_en_info info = ib.c();
  ASSERT_OK(A::entropy_normalize(&mp, &mq, target.data(), 1, nullptr, &info, 0));
  const double tol = A::is_f64 ? LOGITCORE_EN_DEFAULT_TOL_F64 : LOGITCORE_EN_DEFAULT_TOL_F32;
  for (i64 i = 0; i < rows; ++i) {
    const size_t s = static_cast<size_t>(i);
    EXPECT_EQ(ib.status[s], LOGITCORE_EN_OK) << i;
    EXPECT_EQ(ib.converged[s], 1) << i;
    EXPECT_EQ(ib.clipped[s], 0) << i;
    EXPECT_GE(ib.n_iter[s], 1) << i;
    EXPECT_LE(ib.n_iter[s], LOGITCORE_EN_DEFAULT_MAX_ITER) << i;
    EXPECT_GT(ib.gamma[s], 0) << i;
    EXPECT_NEAR(ib.h_max[s], std::log(100.0), 1e-12) << i;
    EXPECT_EQ(ib.h_min[s], 0.0) << i;
    const double h = entropy_of<T>(mq, i);
    EXPECT_LE(std::fabs(h - target[s]), tol) << "row " << i << ": H(q) = " << h << ", target " << target[s];
    EXPECT_NEAR(ib.entropy[s], h, tol) << i;
    double sum = 0;
    for (i64 j = 0; j < cols; ++j) sum += at<T>(mq, i, j);
    EXPECT_NEAR(sum, 1.0, 8 * A::eps * (1 + cols / 16.0)) << i;
    // the transform keeps the order of the entries
    for (i64 j = 1; j < cols; ++j)
      if (at<T>(mp, i, j) > at<T>(mp, i, j - 1)) {
        EXPECT_GE(at<T>(mq, i, j), at<T>(mq, i, j - 1)) << i << "," << j;
      }
  }
  // the row's own entropy as target gives gamma = 1 back
  const double h0 = entropy_of<T>(mp, 0);
  std::vector<T> q1(static_cast<size_t>(cols));
  const auto mp0 = mat(p.data(), 1, cols), mq1 = mat(q1.data(), 1, cols);
  InfoBuffers ib1(1);
  const logitcore_en_info info1 = ib1.c();
  ASSERT_OK(A::entropy_normalize(&mp0, &mq1, &h0, 1, nullptr, &info1, 0));
  EXPECT_NEAR(ib1.gamma[0], 1.0, A::is_f64 ? 1e-6 : 1e-2);
}

TYPED_TEST(CFamily, EntropyNormalizeOneTargetLogitsInPlaceAndStrided) {
  using T = TypeParam;
  using A = Api<T>;
  const i64 rows = 6, cols = 257;
  auto z = uniform<T>(static_cast<size_t>(rows * cols), -4, 4, 72);
  logitcore_en_options o = logitcore_en_default_options();
  o.input = LOGITCORE_EN_LOGITS;
  const double target = 2.5;
  std::vector<T> q(z.size(), static_cast<T>(kSentinel));
  const auto mz = mat(z.data(), rows, cols), mq = mat(q.data(), rows, cols);
  InfoBuffers ib(rows);
  const logitcore_en_info info = ib.c();
  ASSERT_OK(A::entropy_normalize(&mz, &mq, &target, 0, &o, &info, 0));
  const double tol = logitcore_en_effective_tol(&o, A::is_f64);
  for (i64 i = 0; i < rows; ++i) {
    EXPECT_EQ(ib.status[static_cast<size_t>(i)], LOGITCORE_EN_OK) << i;
    EXPECT_EQ(ib.converged[static_cast<size_t>(i)], 1) << i;
    EXPECT_LE(std::fabs(entropy_of<T>(mq, i) - target), tol) << i;
    EXPECT_NEAR(ib.h_max[static_cast<size_t>(i)], std::log(static_cast<double>(cols)), 1e-12);
  }
  // in place: the same bits, and info NULL is accepted
  std::vector<T> w = z;
  const auto mw = mat(w.data(), rows, cols);
  ASSERT_OK(A::entropy_normalize(&mw, &mw, &target, 0, &o, nullptr, 0));
  EXPECT_TRUE(BitEqual(w, q));
  // strided views in and out (reversed rows in, every other column out): the same values
  std::vector<T> zr(z.size()), qs(z.size() * 2, static_cast<T>(kSentinel));
  for (i64 i = 0; i < rows; ++i)
    for (i64 j = 0; j < cols; ++j) zr[static_cast<size_t>((rows - 1 - i) * cols + j)] = z[static_cast<size_t>(i * cols + j)];
  const auto mzr = mat(zr.data() + (rows - 1) * cols, rows, cols, -cols, 1);
  const auto mqs = mat(qs.data(), rows, cols, 2 * cols, 2);
  ASSERT_OK(A::entropy_normalize(&mzr, &mqs, &target, 0, &o, nullptr, 1));
  for (i64 i = 0; i < rows; ++i)
    for (i64 j = 0; j < cols; ++j) ASSERT_EQ(at<T>(mqs, i, j), at<T>(mq, i, j)) << i << "," << j;
  for (size_t k = 1; k < qs.size(); k += 2) ASSERT_EQ(qs[k], static_cast<T>(kSentinel)) << "gap " << k;
  // only some info fields wanted
  std::vector<std::int8_t> st(static_cast<size_t>(rows), 77);
  std::vector<double> gam(static_cast<size_t>(rows));
  logitcore_en_info some{};
  some.status = st.data();
  some.gamma = gam.data();
  ASSERT_OK(A::entropy_normalize(&mz, &mw, &target, 0, &o, &some, 0));
  for (i64 i = 0; i < rows; ++i) {
    EXPECT_EQ(st[static_cast<size_t>(i)], LOGITCORE_EN_OK);
    EXPECT_EQ(gam[static_cast<size_t>(i)], ib.gamma[static_cast<size_t>(i)]);
  }
}

// Row statuses: failed rows are not written, the call still succeeds.
TYPED_TEST(CFamily, EntropyNormalizeRowStatusesProbabilities) {
  using T = TypeParam;
  using A = Api<T>;
  const T nan = std::numeric_limits<T>::quiet_NaN(), inf = std::numeric_limits<T>::infinity();
  const i64 cols = 4;
  std::vector<T> p = {
      T(0.1), T(0.2), T(0.3), T(0.4),      // 0 ok
      T(-0.1), T(0.5), T(0.3), T(0.3),     // 1 negative: invalid
      T(0.25), nan, T(0.25), T(0.5),       // 2 NaN: invalid
      inf, T(0.), T(0.), T(0.),            // 3 inf: invalid
      T(0.5), T(0.5), T(0.25), T(0.25),    // 4 sums to 1.5: bad sum
      0, 0, 0, 0,                          // 5 no support
      T(0.1), T(0.2), T(0.3), T(0.4),      // 6 target above log 4
      T(0.4), T(0.4), T(0.1), T(0.1),      // 7 target below log 2 (two tied maxima)
      T(0.1), T(0.2), T(0.3), T(0.4),      // 8 target log 4 exactly: gamma 0, converged
      T(0.5), T(0.5), T(0.), T(0.),        // 9 two equal entries: any gamma, target log 2
  };
  const i64 rows = static_cast<i64>(p.size()) / cols;
  const std::vector<double> target = {1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 0.1, std::log(4.0), std::log(2.0)};
  const std::vector<int> want = {LOGITCORE_EN_OK,         LOGITCORE_EN_INVALID,     LOGITCORE_EN_INVALID,
                                 LOGITCORE_EN_INVALID,    LOGITCORE_EN_BAD_SUM,     LOGITCORE_EN_NO_SUPPORT,
                                 LOGITCORE_EN_ABOVE_RANGE, LOGITCORE_EN_BELOW_RANGE, LOGITCORE_EN_OK,
                                 LOGITCORE_EN_OK};
  const auto mp = mat(p.data(), rows, cols);
  for (int fails : {1, 0}) {
    logitcore_en_options o = logitcore_en_default_options();
    o.out_of_range_fails = fails;
    std::vector<T> q(p.size(), static_cast<T>(kSentinel));
    const auto mq = mat(q.data(), rows, cols);
    InfoBuffers ib(rows);
    const logitcore_en_info info = ib.c();
    ASSERT_OK(A::entropy_normalize(&mp, &mq, target.data(), 1, &o, &info, 0));
    for (i64 i = 0; i < rows; ++i) {
      const size_t s = static_cast<size_t>(i);
      EXPECT_EQ(ib.status[s], want[s]) << "row " << i << ", out_of_range_fails " << fails;
      const bool failed = (want[s] >= LOGITCORE_EN_INVALID) ||
                          (fails && (want[s] == LOGITCORE_EN_ABOVE_RANGE || want[s] == LOGITCORE_EN_BELOW_RANGE));
      for (i64 j = 0; j < cols; ++j) {
        if (failed) {
          EXPECT_EQ(at<T>(mq, i, j), static_cast<T>(kSentinel)) << "failed row " << i << " was written";
        } else {
          EXPECT_NE(at<T>(mq, i, j), static_cast<T>(kSentinel)) << "row " << i << " was not written";
        }
      }
      if (failed) { EXPECT_EQ(ib.converged[s], 0) << i; }
    }
    const double tol = A::is_f64 ? 1e-9 : 1e-5;
    EXPECT_LE(std::fabs(entropy_of<T>(mq, 0) - 1.0), tol);
    // the boundary target: uniform over the support, converged, not clipped
    EXPECT_EQ(ib.gamma[8], 0.0);
    EXPECT_EQ(ib.converged[8], 1);
    EXPECT_EQ(ib.clipped[8], 0);
    for (i64 j = 0; j < cols; ++j) EXPECT_EQ(at<T>(mq, 8, j), T(0.25));
    EXPECT_EQ(ib.converged[9], 1);
    EXPECT_EQ(at<T>(mq, 9, 0), T(0.5));
    EXPECT_EQ(at<T>(mq, 9, 2), T(0));
    EXPECT_DOUBLE_EQ(ib.h_min[7], std::log(2.0));
    EXPECT_NEAR(ib.h_max[6], std::log(4.0), 1e-15);
    if (!fails) {  // clipped to the nearest end: uniform over the support / over the ties
      EXPECT_EQ(ib.clipped[6], 1);
      EXPECT_EQ(ib.clipped[7], 1);
      EXPECT_EQ(ib.converged[6], 0);
      EXPECT_EQ(ib.gamma[6], 0.0);
      EXPECT_EQ(ib.gamma[7], kInf);
      for (i64 j = 0; j < cols; ++j) EXPECT_EQ(at<T>(mq, 6, j), T(0.25)) << j;
      const std::vector<T> ties = {T(0.5), T(0.5), T(0), T(0)};
      for (i64 j = 0; j < cols; ++j) EXPECT_EQ(at<T>(mq, 7, j), ties[static_cast<size_t>(j)]) << j;
    }
  }
}

TYPED_TEST(CFamily, EntropyNormalizeRowStatusesLogitsAndSums) {
  using T = TypeParam;
  using A = Api<T>;
  const T nan = std::numeric_limits<T>::quiet_NaN(), inf = std::numeric_limits<T>::infinity();
  // logits: NaN or +inf invalid, all -inf no support, -inf entries stay at probability 0
  std::vector<T> z = {0, 1, 2, nan, 0, 1, inf, 0, 1, -inf, -inf, -inf, 0, -inf, 1};
  const auto mz = mat(z.data(), 5, 3);
  logitcore_en_options o = logitcore_en_default_options();
  o.input = LOGITCORE_EN_LOGITS;
  std::vector<T> q(z.size(), static_cast<T>(kSentinel));
  const auto mq = mat(q.data(), 5, 3);
  std::vector<std::int8_t> st(5, 77);
  logitcore_en_info info{};
  info.status = st.data();
  const double target = 0.5;
  ASSERT_OK(A::entropy_normalize(&mz, &mq, &target, 0, &o, &info, 0));
  const std::vector<int> want = {LOGITCORE_EN_OK, LOGITCORE_EN_INVALID, LOGITCORE_EN_INVALID, LOGITCORE_EN_NO_SUPPORT,
                                 LOGITCORE_EN_OK};
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(st[i], want[i]) << i;
  for (size_t k = 3; k < 12; ++k) EXPECT_EQ(q[k], static_cast<T>(kSentinel)) << k;
  EXPECT_EQ(q[13], T(0));
  EXPECT_LE(std::fabs(entropy_of<T>(mq, 4) - target), A::is_f64 ? 1e-9 : 1e-5);

  // sums: 1.5 fails the check unless check_sum = 0; 1 + 1e-4 passes a sum_tol of 1e-3
  std::vector<T> p = {T(0.5), T(0.5), T(0.25), T(0.25), T(0.1), T(0.2), T(0.3), T(0.4001)};
  const auto mp = mat(p.data(), 2, 4);
  std::vector<T> out(p.size());
  const auto mo = mat(out.data(), 2, 4);
  const double t1 = 1.0;
  logitcore_en_options po = logitcore_en_default_options();
  ASSERT_OK(A::entropy_normalize(&mp, &mo, &t1, 0, &po, &info, 0));
  EXPECT_EQ(st[0], LOGITCORE_EN_BAD_SUM);
  EXPECT_EQ(st[1], LOGITCORE_EN_BAD_SUM);
  po.sum_tol = 1e-3;
  ASSERT_OK(A::entropy_normalize(&mp, &mo, &t1, 0, &po, &info, 0));
  EXPECT_EQ(st[0], LOGITCORE_EN_BAD_SUM);
  EXPECT_EQ(st[1], LOGITCORE_EN_OK);
  po.check_sum = 0;
  ASSERT_OK(A::entropy_normalize(&mp, &mo, &t1, 0, &po, &info, 0));
  EXPECT_EQ(st[0], LOGITCORE_EN_OK);
  EXPECT_EQ(st[1], LOGITCORE_EN_OK);
  for (i64 i = 0; i < 2; ++i) {
    double sum = 0;
    for (i64 j = 0; j < 4; ++j) sum += at<T>(mo, i, j);
    EXPECT_NEAR(sum, 1.0, 8 * A::eps) << "rescaled rows sum to 1";
    EXPECT_LE(std::fabs(entropy_of<T>(mo, i) - 1.0), A::is_f64 ? 1e-9 : 1e-5);
  }
  // rows without entries have no support (see also EmptyOutputsWithZeroRowStride); no rows is fine
  const auto empty = mat(nullptr, 2, 0, 1, 1);
  std::fill(st.begin(), st.end(), 77);
  ASSERT_OK(A::entropy_normalize(&empty, &empty, &t1, 0, &po, &info, 0));
  EXPECT_EQ(st[0], LOGITCORE_EN_NO_SUPPORT);
  EXPECT_EQ(st[1], LOGITCORE_EN_NO_SUPPORT);
  const auto none = mat(nullptr, 0, 4);
  EXPECT_OK(A::entropy_normalize(&none, &none, nullptr, 1, nullptr, nullptr, 0));
}

TYPED_TEST(CFamily, EntropyNormalizeToleranceAndMaxIter) {
  using T = TypeParam;
  using A = Api<T>;
  const i64 rows = 5, cols = 300;
  auto p = prob_rows<T>(rows, cols, 73);
  const auto mp = mat(p.data(), rows, cols);
  std::vector<T> q(p.size());
  const auto mq = mat(q.data(), rows, cols);
  InfoBuffers ib(rows);
  const logitcore_en_info info = ib.c();
  const double target = 1.2;
  logitcore_en_options o = logitcore_en_default_options();
  o.tol = 1e-3;
  ASSERT_OK(A::entropy_normalize(&mp, &mq, &target, 0, &o, &info, 0));
  int passes_loose = 0;
  for (i64 i = 0; i < rows; ++i) {
    EXPECT_EQ(ib.converged[static_cast<size_t>(i)], 1);
    EXPECT_LE(std::fabs(entropy_of<T>(mq, i) - target), 1e-3) << i;
    passes_loose += ib.n_iter[static_cast<size_t>(i)];
  }
  o.tol = -1;  // the default
  ASSERT_OK(A::entropy_normalize(&mp, &mq, &target, 0, &o, &info, 0));
  int passes_tight = 0;
  for (i64 i = 0; i < rows; ++i) passes_tight += ib.n_iter[static_cast<size_t>(i)];
  EXPECT_GE(passes_tight, passes_loose);
  // one pass: n_iter <= 1, rows still written (not converged is not a failure)
  o.max_iter = 1;
  std::fill(q.begin(), q.end(), static_cast<T>(kSentinel));
  ASSERT_OK(A::entropy_normalize(&mp, &mq, &target, 0, &o, &info, 0));
  for (i64 i = 0; i < rows; ++i) {
    EXPECT_LE(ib.n_iter[static_cast<size_t>(i)], 1) << i;
    EXPECT_EQ(ib.status[static_cast<size_t>(i)], LOGITCORE_EN_OK) << i;
    EXPECT_NE(at<T>(mq, i, 0), static_cast<T>(kSentinel)) << i;
  }
}

// ---- losses ----------------------------------------------------------------------------------------------

struct LossCase {
  int kind;
  double param, threshold;
};
const LossCase kLosses[] = {
    {LOGITCORE_LOSS_GAMMA_CE, 0.0, 0.0},  {LOGITCORE_LOSS_GAMMA_CE, 0.3, 0.0}, {LOGITCORE_LOSS_GAMMA_CE, 0.8, 0.2},
    {LOGITCORE_LOSS_GAMMA_CE, 1.0, 0.0},  {LOGITCORE_LOSS_GCE, 0.7, 0.0},      {LOGITCORE_LOSS_GCE, 1.0, 0.0},
    {LOGITCORE_LOSS_FOCAL, 0.0, 0.0},     {LOGITCORE_LOSS_FOCAL, 2.0, 0.0},
};

std::string describe(const LossCase& c, int reduction, bool weights) {
  return "kind " + std::to_string(c.kind) + " param " + std::to_string(c.param) + " threshold " +
         std::to_string(c.threshold) + " reduction " + std::to_string(reduction) + (weights ? " weighted" : "");
}

TEST(Loss, DefaultOptions) {
  const logitcore_loss_options o = logitcore_loss_default_options();
  EXPECT_EQ(o.kind, LOGITCORE_LOSS_GAMMA_CE);
  EXPECT_EQ(o.param, 0.0);
  EXPECT_EQ(o.threshold, 0.0);
  EXPECT_EQ(o.ignore_index, LOGITCORE_LOSS_DEFAULT_IGNORE_INDEX);
  EXPECT_EQ(o.ignore_index, -100);
  EXPECT_EQ(o.class_weight, nullptr);
  EXPECT_EQ(o.reduction, LOGITCORE_REDUCTION_MEAN);
  EXPECT_EQ(o.row_weight, nullptr);
}

// Row weights multiply the class weights: row weights equal to class_weight[target] give the
// class-weighted results bit for bit, and the product of both is their product; an integer
// row weight counts the row that many times; a negative or non-finite one is refused.
TYPED_TEST(CFamily, LossRowWeights) {
  using T = TypeParam;
  using A = Api<T>;
  const i64 rows = 9, cols = 7;
  auto x = uniform<T>(static_cast<size_t>(rows * cols), -3, 3, 300);
  std::vector<i64> t(static_cast<size_t>(rows));
  for (i64 i = 0; i < rows; ++i) t[static_cast<size_t>(i)] = (i * 3) % cols;
  t[4] = -100;
  const std::vector<double> cw = {0.5, 1.0, 2.0, 0.25, 1.5, 3.0, 0.75};
  std::vector<double> rw(static_cast<size_t>(rows));
  for (i64 i = 0; i < rows; ++i) rw[static_cast<size_t>(i)] = t[static_cast<size_t>(i)] < 0 ? 7.0 : cw[static_cast<size_t>(t[static_cast<size_t>(i)])];
  const auto mx = mat(x.data(), rows, cols);
  for (int red : {LOGITCORE_REDUCTION_NONE, LOGITCORE_REDUCTION_SUM, LOGITCORE_REDUCTION_MEAN}) {
    logitcore_loss_options a = logitcore_loss_default_options(), b = a;
    a.reduction = b.reduction = red;
    a.class_weight = cw.data();
    b.row_weight = rw.data();
    std::vector<double> la(static_cast<size_t>(rows)), lb(la.size());
    double ra, rb;
    std::vector<T> ga(x.size()), gb(x.size());
    const auto mga = mat(ga.data(), rows, cols), mgb = mat(gb.data(), rows, cols);
    ASSERT_OK(A::loss(&mx, t.data(), &a, la.data(), &ra, &mga, 0));
    ASSERT_OK(A::loss(&mx, t.data(), &b, lb.data(), &rb, &mgb, 0));
    EXPECT_TRUE(BitEqual(la, lb)) << red;
    EXPECT_TRUE(BitEqual(ga, gb)) << red;
    EXPECT_EQ(std::memcmp(&ra, &rb, sizeof ra), 0) << red;
  }
  // a weight of 2 on one row = that row twice (sum reduction)
  logitcore_loss_options o = logitcore_loss_default_options();
  o.reduction = LOGITCORE_REDUCTION_SUM;
  std::vector<double> ones(static_cast<size_t>(rows), 1.0);
  ones[2] = 2.0;
  o.row_weight = ones.data();
  double r2, r1;
  ASSERT_OK(A::loss(&mx, t.data(), &o, nullptr, &r2, nullptr, 0));
  o.row_weight = nullptr;
  std::vector<double> l1(static_cast<size_t>(rows));
  ASSERT_OK(A::loss(&mx, t.data(), &o, l1.data(), &r1, nullptr, 0));
  EXPECT_TRUE(Near(r2, r1 + l1[2], 1e-12));
  // bad row weights: an error, nothing written
  for (double bad : {-1.0, std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()}) {
    std::vector<double> w(static_cast<size_t>(rows), 1.0);
    w[5] = bad;
    o.row_weight = w.data();
    std::vector<double> l(static_cast<size_t>(rows), kSentinel);
    double r = kSentinel;
    EXPECT_EQ(A::loss(&mx, t.data(), &o, l.data(), &r, nullptr, 0), LOGITCORE_INVALID_ARGUMENT);
    EXPECT_NE(std::string(logitcore_last_error()).find("row_weight[5]"), std::string::npos) << logitcore_last_error();
    EXPECT_EQ(r, kSentinel);
    for (double v : l) EXPECT_EQ(v, kSentinel);
  }
}

TEST(Loss, FromLogpMatchesFormulas) {
  for (const LossCase& c : kLosses) {
    logitcore_loss_options o = logitcore_loss_default_options();
    o.kind = c.kind;
    o.param = c.param;
    o.threshold = c.threshold;
    for (double l : {-1e-9, -0.01, -0.3, -1.0, -3.0, -12.0}) {
      double loss = kSentinel, w = kSentinel;
      ASSERT_OK(logitcore_loss_from_logp(&o, l, &loss, &w));
      const LossRef r = ref_loss(c.kind, c.param, c.threshold, l);
      EXPECT_TRUE(Near(loss, r.loss, 1e-9)) << describe(c, 0, false) << " l " << l;
      EXPECT_TRUE(Near(w, r.weight, 1e-9)) << describe(c, 0, false) << " l " << l;
      EXPECT_GE(loss, 0);
      EXPECT_GE(w, 0);
    }
  }
  // limits: l = 0 (p = 1) and l = -inf (p = 0)
  logitcore_loss_options o = logitcore_loss_default_options();
  double loss, w;
  ASSERT_OK(logitcore_loss_from_logp(&o, 0.0, &loss, &w));  // cross-entropy
  EXPECT_EQ(loss, 0.0);
  EXPECT_EQ(w, 1.0);
  ASSERT_OK(logitcore_loss_from_logp(&o, -kInf, &loss, &w));
  EXPECT_EQ(loss, kInf);
  EXPECT_EQ(w, 1.0);
  o.kind = LOGITCORE_LOSS_GCE;
  o.param = 0.5;
  ASSERT_OK(logitcore_loss_from_logp(&o, -kInf, &loss, &w));
  EXPECT_EQ(loss, 2.0);
  EXPECT_EQ(w, 0.0);
  o.kind = LOGITCORE_LOSS_FOCAL;
  o.param = 2.0;
  ASSERT_OK(logitcore_loss_from_logp(&o, 0.0, &loss, &w));
  EXPECT_EQ(loss, 0.0);
  EXPECT_EQ(w, 0.0) << "w -> (1-p)^g (1 + g) -> 0 as p -> 1";
  ASSERT_OK(logitcore_loss_from_logp(&o, -kInf, &loss, &w));
  EXPECT_EQ(loss, kInf);
  EXPECT_EQ(w, 1.0) << "w -> 1 as p -> 0";
  o.kind = LOGITCORE_LOSS_GAMMA_CE;
  o.param = 0.5;
  o.threshold = 0.2;
  ASSERT_OK(logitcore_loss_from_logp(&o, -kInf, &loss, &w));
  EXPECT_NEAR(loss, 2 * std::log(2.0), 1e-15);
  EXPECT_EQ(w, 0.2) << "the floor";
  // a confident row keeps full relative accuracy: L = -log1p((1-g) expm1(l)) / (1-g) ~ -l
  o.threshold = 0;
  o.param = 0;
  ASSERT_OK(logitcore_loss_from_logp(&o, -1e-20, &loss, &w));
  EXPECT_DOUBLE_EQ(loss, 1e-20);
  EXPECT_EQ(w, 1.0);
}

template <class T>
void check_batch_loss(const LossCase& c, int reduction, bool weights, unsigned seed) {
  using A = Api<T>;
  const i64 rows = 13, cols = 11;
  auto x = uniform<T>(static_cast<size_t>(rows * cols), -3, 3, seed);
  std::vector<i64> target(static_cast<size_t>(rows));
  for (i64 i = 0; i < rows; ++i) target[static_cast<size_t>(i)] = (i * 7) % cols;
  target[3] = target[8] = -100;  // ignored
  const std::vector<double> cw = {0.5, 1.0, 2.0, 0.0, 1.5, 1.0, 0.25, 3.0, 1.0, 0.75, 1.25};
  logitcore_loss_options o = logitcore_loss_default_options();
  o.kind = c.kind;
  o.param = c.param;
  o.threshold = c.threshold;
  o.reduction = reduction;
  o.class_weight = weights ? cw.data() : nullptr;
  std::vector<double> xd(x.begin(), x.end());
  const BatchLossRef r = ref_batch_loss(xd, rows, cols, target, o);
  const std::string what = describe(c, reduction, weights) + " " + A::name;
  const double tol = A::is_f64 ? 1e-12 : 2e-5;

  std::vector<double> row_loss(static_cast<size_t>(rows), kSentinel);
  double reduced = kSentinel;
  std::vector<T> grad(x.size(), static_cast<T>(kSentinel));
  const auto mx = mat(x.data(), rows, cols), mg = mat(grad.data(), rows, cols);
  ASSERT_OK(A::loss(&mx, target.data(), &o, row_loss.data(), &reduced, &mg, 0));
  for (i64 i = 0; i < rows; ++i)
    EXPECT_TRUE(Near(row_loss[static_cast<size_t>(i)], r.row_loss[static_cast<size_t>(i)], tol)) << what << " row " << i;
  EXPECT_TRUE(Near(reduced, r.reduced, tol)) << what;
  for (size_t k = 0; k < grad.size(); ++k) EXPECT_TRUE(Near(grad[k], r.grad[k], tol)) << what << " grad " << k;
  for (i64 j = 0; j < cols; ++j) {
    EXPECT_EQ(grad[static_cast<size_t>(3 * cols + j)], T(0)) << "ignored row " << what;
    EXPECT_EQ(grad[static_cast<size_t>(8 * cols + j)], T(0)) << "ignored row " << what;
  }
  EXPECT_EQ(row_loss[3], 0.0);

  // the gradient in place over the logits: the same bits
  std::vector<T> xin = x;
  std::vector<double> row_loss2(static_cast<size_t>(rows));
  double reduced2;
  const auto mxin = mat(xin.data(), rows, cols);
  ASSERT_OK(A::loss(&mxin, target.data(), &o, row_loss2.data(), &reduced2, &mxin, 0));
  EXPECT_TRUE(BitEqual(xin, grad)) << what << ": in-place gradient";
  EXPECT_TRUE(BitEqual(row_loss2, row_loss)) << what;
  EXPECT_EQ(std::memcmp(&reduced2, &reduced, sizeof reduced), 0) << what;

  // without the gradient: the same losses; row_loss or reduced may be NULL
  std::vector<double> row_loss3(static_cast<size_t>(rows));
  double reduced3;
  ASSERT_OK(A::loss(&mx, target.data(), &o, row_loss3.data(), &reduced3, nullptr, 0));
  EXPECT_TRUE(BitEqual(row_loss3, row_loss)) << what;
  EXPECT_EQ(std::memcmp(&reduced3, &reduced, sizeof reduced), 0) << what;
  double reduced4;
  ASSERT_OK(A::loss(&mx, target.data(), &o, nullptr, &reduced4, nullptr, 0));
  EXPECT_EQ(std::memcmp(&reduced4, &reduced, sizeof reduced), 0) << what;
  std::vector<T> grad5(x.size());
  const auto mg5 = mat(grad5.data(), rows, cols);
  ASSERT_OK(A::loss(&mx, target.data(), &o, nullptr, nullptr, &mg5, 0));
  EXPECT_TRUE(BitEqual(grad5, grad)) << what;
}

TYPED_TEST(CFamily, LossEveryKindAndReduction) {
  unsigned seed = 80;
  for (const LossCase& c : kLosses)
    for (int red : {LOGITCORE_REDUCTION_NONE, LOGITCORE_REDUCTION_SUM, LOGITCORE_REDUCTION_MEAN})
      for (bool weights : {false, true}) check_batch_loss<TypeParam>(c, red, weights, ++seed);
}

TYPED_TEST(CFamily, LossIgnoreIndexMeanOfNothingAndStridedViews) {
  using T = TypeParam;
  using A = Api<T>;
  const i64 rows = 4, cols = 5;
  auto x = uniform<T>(static_cast<size_t>(rows * cols), -2, 2, 90);
  const auto mx = mat(x.data(), rows, cols);
  // ignore_index may be any value, even a valid class or one past the last
  logitcore_loss_options o = logitcore_loss_default_options();
  o.ignore_index = cols;
  std::vector<i64> t = {cols, 1, cols, 4};
  std::vector<double> rl(4);
  double red;
  ASSERT_OK(A::loss(&mx, t.data(), &o, rl.data(), &red, nullptr, 0));
  EXPECT_EQ(rl[0], 0.0);
  EXPECT_EQ(rl[2], 0.0);
  EXPECT_TRUE(Near(red, (rl[1] + rl[3]) / 2, 1e-15));
  // every row ignored: the mean is 0, not NaN, and the gradient is 0
  std::vector<i64> all_ignored(4, cols);
  std::vector<T> g(x.size(), static_cast<T>(kSentinel));
  const auto mg = mat(g.data(), rows, cols);
  ASSERT_OK(A::loss(&mx, all_ignored.data(), &o, rl.data(), &red, &mg, 0));
  EXPECT_EQ(red, 0.0);
  for (T v : g) EXPECT_EQ(v, T(0));
  // class weights summing to 0: mean 0
  const std::vector<double> zero_w(static_cast<size_t>(cols), 0.0);
  o.class_weight = zero_w.data();
  ASSERT_OK(A::loss(&mx, t.data(), &o, rl.data(), &red, &mg, 0));
  EXPECT_EQ(red, 0.0);
  // strided views (reversed rows, every other column) give the contiguous results
  o = logitcore_loss_default_options();
  o.kind = LOGITCORE_LOSS_FOCAL;
  o.param = 2;
  std::vector<i64> tt = {0, 4, 2, 3};
  std::vector<double> rl_c(4), rl_s(4);
  double red_c, red_s;
  std::vector<T> gc(x.size());
  const auto mgc = mat(gc.data(), rows, cols);
  ASSERT_OK(A::loss(&mx, tt.data(), &o, rl_c.data(), &red_c, &mgc, 0));
  std::vector<T> xs(static_cast<size_t>(rows * cols * 2)), gs(xs.size(), static_cast<T>(kSentinel));
  std::vector<i64> ts(4);
  for (i64 i = 0; i < rows; ++i) {
    ts[static_cast<size_t>(rows - 1 - i)] = tt[static_cast<size_t>(i)];
    for (i64 j = 0; j < cols; ++j) xs[static_cast<size_t>((rows - 1 - i) * 2 * cols + 2 * j)] = x[static_cast<size_t>(i * cols + j)];
  }
  const auto mxs = mat(xs.data() + (rows - 1) * 2 * cols, rows, cols, -2 * cols, 2);
  const auto mgs = mat(gs.data() + 1, rows, cols, 2 * cols, 2);
  ASSERT_OK(A::loss(&mxs, tt.data(), &o, rl_s.data(), &red_s, &mgs, 0));
  EXPECT_TRUE(BitEqual(rl_s, rl_c));
  EXPECT_EQ(red_s, red_c);
  for (i64 i = 0; i < rows; ++i)
    for (i64 j = 0; j < cols; ++j) EXPECT_EQ(at<T>(mgs, i, j), at<T>(mgc, i, j)) << i << "," << j;
  for (size_t k = 0; k < gs.size(); k += 2) EXPECT_EQ(gs[k], static_cast<T>(kSentinel)) << "gap " << k;
  (void)A::name;
}

TYPED_TEST(CFamily, LossSpecialRows) {
  using T = TypeParam;
  using A = Api<T>;
  const T inf = std::numeric_limits<T>::infinity(), nan = std::numeric_limits<T>::quiet_NaN();
  // NaN row -> NaN loss and NaN gradient row; +inf row -> limit softmax; dominated row accurate
  std::vector<T> x = {0, nan, 1, inf, 0, inf, 0, -40, -40, -inf, -inf, -inf};
  std::vector<i64> t = {0, 0, 0, 1};
  const auto mx = mat(x.data(), 4, 3);
  logitcore_loss_options o = logitcore_loss_default_options();
  o.reduction = LOGITCORE_REDUCTION_SUM;
  std::vector<double> rl(4);
  double red;
  std::vector<T> g(x.size());
  const auto mg = mat(g.data(), 4, 3);
  ASSERT_OK(A::loss(&mx, t.data(), &o, rl.data(), &red, &mg, 0));
  EXPECT_TRUE(std::isnan(rl[0]));
  for (int j = 0; j < 3; ++j) EXPECT_TRUE(std::isnan(g[static_cast<size_t>(j)])) << j;
  EXPECT_NEAR(rl[1], std::log(2.0), 1e-15);
  EXPECT_NEAR(g[3], -0.5, 4 * A::eps);
  EXPECT_EQ(g[4], T(0));
  EXPECT_NEAR(g[5], 0.5, 4 * A::eps);
  const double want = std::log1p(2 * std::exp(-40.0));
  EXPECT_NEAR(rl[2], want, want * (A::is_f64 ? 1e-13 : 1e-6));
  EXPECT_TRUE(std::isnan(rl[3])) << "every logit -inf";
  EXPECT_TRUE(std::isnan(red));
}

// ---- elementwise ----------------------------------------------------------------------------------------

TYPED_TEST(CFamily, ElementwiseExpLogAndCores) {
  using T = TypeParam;
  using A = Api<T>;
  const bool f64 = A::is_f64;
  // exp over the finite range; float32 within 1 ulp (logitcore.h)
  const double lim = f64 ? 700 : 87;
  const i64 n = 20001;
  std::vector<T> x(static_cast<size_t>(n)), y(x.size(), static_cast<T>(kSentinel));
  for (i64 i = 0; i < n; ++i) x[static_cast<size_t>(i)] = static_cast<T>(-lim + 2 * lim * static_cast<double>(i) / (n - 1));
  ASSERT_OK(A::exp(x.data(), n, y.data()));
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, ulps<T>(y[i], std::exp(static_cast<long double>(x[i]))));
  EXPECT_LE(worst, A::exp_ulps) << "exp, worst ulps";
  // log of positive values
  std::vector<T> px(x.size()), ly(x.size());
  for (size_t i = 0; i < x.size(); ++i) px[i] = static_cast<T>(std::exp(static_cast<double>(x[i]) / 2));
  ASSERT_OK(A::log(px.data(), n, ly.data()));
  worst = 0;
  for (size_t i = 0; i < x.size(); ++i)
    worst = std::max(worst, log_err<T>(ly[i], static_cast<double>(std::log(static_cast<long double>(px[i])))));
  EXPECT_LE(worst, A::log_eps) << "log, worst error in eps (relative above 1, absolute below)";
  // specials
  const T inf = std::numeric_limits<T>::infinity(), nan = std::numeric_limits<T>::quiet_NaN();
  std::vector<T> s = {inf, -inf, nan, 0, static_cast<T>(f64 ? 710 : 89)}, se(5);
  ASSERT_OK(A::exp(s.data(), 5, se.data()));
  EXPECT_EQ(se[0], inf);
  EXPECT_EQ(se[1], T(0));
  EXPECT_TRUE(std::isnan(se[2]));
  EXPECT_EQ(se[3], T(1));
  EXPECT_EQ(se[4], inf) << "overflow";
  std::vector<T> l = {0, -1, inf, nan, 1}, le(5);
  ASSERT_OK(A::log(l.data(), 5, le.data()));
  EXPECT_EQ(le[0], -inf);
  EXPECT_TRUE(std::isnan(le[1]));
  EXPECT_EQ(le[2], inf);
  EXPECT_TRUE(std::isnan(le[3]));
  EXPECT_EQ(le[4], T(0));
  // in place: the same bits
  std::vector<T> z = x;
  ASSERT_OK(A::exp(z.data(), n, z.data()));
  EXPECT_TRUE(BitEqual(z, y));
  z = px;
  ASSERT_OK(A::log(z.data(), n, z.data()));
  EXPECT_TRUE(BitEqual(z, ly));
  // exp2_core on its domain, log2_core on finite positives (normal range)
  const double lo = f64 ? -1022 : -126, hi = f64 ? 1023 : 127;
  for (i64 i = 0; i < n; ++i) x[static_cast<size_t>(i)] = static_cast<T>(lo + (hi - lo) * static_cast<double>(i) / (n - 1));
  ASSERT_OK(A::exp2_core(x.data(), n, y.data()));
  worst = 0;
  for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, ulps<T>(y[i], std::exp2(static_cast<long double>(x[i]))));
  EXPECT_LE(worst, A::exp2_ulps) << "exp2_core, worst ulps";
  ASSERT_OK(A::log2_core(y.data(), n, px.data()));
  worst = 0;
  for (size_t i = 0; i < x.size(); ++i)
    worst = std::max(worst, log_err<T>(px[i], static_cast<double>(std::log2(static_cast<long double>(y[i])))));
  EXPECT_LE(worst, A::log_eps) << "log2_core, worst error in eps";
  // outside the domains the values are unspecified but the call is safe
  std::vector<T> wild = {inf, -inf, nan, static_cast<T>(-1e30), static_cast<T>(1e30), 0, -1}, wy(wild.size());
  EXPECT_OK(A::exp2_core(wild.data(), static_cast<i64>(wild.size()), wy.data()));
  EXPECT_OK(A::log2_core(wild.data(), static_cast<i64>(wild.size()), wy.data()));
  // n = 0 with NULL pointers
  EXPECT_OK(A::exp(nullptr, 0, nullptr));
  EXPECT_OK(A::log(nullptr, 0, nullptr));
  EXPECT_OK(A::exp2_core(nullptr, 0, nullptr));
  EXPECT_OK(A::log2_core(nullptr, 0, nullptr));
}

}  // namespace
