// The _bf16 and _f16 entry points (logitcore.h, "half-precision storage") and their C++
// overloads: on every supported ISA, every result equals the _f32 function's on float32 data
// holding the same values, bit for bit; outputs of the input's shape are that float32 result
// rounded to nearest, ties to even. The reference conversions here are independent of the
// library's: widening by the formats' definitions (ldexp), narrowing by a search of the sorted
// finite values of the format.
#include <algorithm>
#include <cstring>
#include <random>

#include "logitcore/logitcore.hpp"
#include "test_support.h"

namespace {

using namespace lct;

enum class Fmt { bf16, f16 };

double widen(Fmt f, std::uint16_t h) {
  const int sign = h >> 15;
  double v;
  if (f == Fmt::bf16) {
    const int e = (h >> 7) & 0xff, m = h & 0x7f;
    if (e == 0xff) v = m ? NAN : INFINITY;
    else v = e ? std::ldexp(128 + m, e - 127 - 7) : std::ldexp(m, -126 - 7);
  } else {
    const int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    if (e == 0x1f) v = m ? NAN : INFINITY;
    else v = e ? std::ldexp(1024 + m, e - 15 - 10) : std::ldexp(m, -14 - 10);
  }
  return sign ? -v : v;
}

// the finite non-negative values of a format in increasing order, with their bit patterns
struct Grid {
  std::vector<double> v;
  std::vector<std::uint16_t> bits;
  explicit Grid(Fmt f) {
    for (std::uint32_t h = 0; h < 0x8000; ++h) {
      const double x = widen(f, static_cast<std::uint16_t>(h));
      if (std::isfinite(x)) {
        v.push_back(x);
        bits.push_back(static_cast<std::uint16_t>(h));
      }
    }
  }
};

std::uint16_t narrow(Fmt f, float x) {
  static const Grid gb(Fmt::bf16), gh(Fmt::f16);
  const Grid& g = f == Fmt::bf16 ? gb : gh;
  const std::uint16_t sign = std::signbit(x) ? 0x8000 : 0;
  const double a = std::fabs(static_cast<double>(x));
  if (std::isnan(x)) return 0x7fff;  // any NaN (compared as NaN)
  const std::uint16_t inf = f == Fmt::bf16 ? 0x7f80 : 0x7c00;
  const double top = g.v.back(), next = 2 * top - g.v[g.v.size() - 2];  // the would-be next value
  if (a >= (top + next) / 2) {
    // beyond the midpoint to the next power's first value: inf (at the midpoint: the even one,
    // which is that next value, so inf too)
    return sign | inf;
  }
  const size_t i = static_cast<size_t>(std::lower_bound(g.v.begin(), g.v.end(), a) - g.v.begin());
  if (i == g.v.size()) return sign | g.bits.back();  // above the largest, below the midpoint
  if (g.v[i] == a) return sign | g.bits[i];
  const double lo = g.v[i - 1], hi = g.v[i];
  std::uint16_t b;
  if (a - lo < hi - a) b = g.bits[i - 1];
  else if (hi - a < a - lo) b = g.bits[i];
  else b = (g.bits[i - 1] & 1) ? g.bits[i] : g.bits[i - 1];
  return sign | b;
}

bool same_half(std::uint16_t a, std::uint16_t b, Fmt f) {
  if (std::isnan(widen(f, a)) || std::isnan(widen(f, b))) return std::isnan(widen(f, a)) && std::isnan(widen(f, b));
  return a == b;
}

bool same_float(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return std::memcmp(&a, &b, sizeof a) == 0;
}

struct Entry {
  Fmt fmt;
  logitcore_status (*lse)(const logitcore_matrix*, const logitcore_matrix*, const logitcore_vector*,
                          const logitcore_vector*, int);
  logitcore_status (*softmax)(const logitcore_matrix*, const logitcore_matrix*, int);
  logitcore_status (*log_softmax)(const logitcore_matrix*, const logitcore_matrix*, int);
  logitcore_status (*softmax_entropy)(const logitcore_matrix*, const logitcore_vector*, int);
  logitcore_status (*entropy)(const logitcore_matrix*, const logitcore_vector*, int);
  logitcore_status (*state_update)(double*, double*, const logitcore_matrix*, int);
  logitcore_status (*loss)(const logitcore_matrix*, const int64_t*, const logitcore_loss_options*, double*, double*,
                           const logitcore_matrix*, int);
  const char* name;
};

const Entry kEntries[] = {
    {Fmt::bf16, logitcore_logsumexp_bf16, logitcore_softmax_bf16, logitcore_log_softmax_bf16,
     logitcore_softmax_entropy_bf16, logitcore_entropy_bf16, logitcore_lse_state_update_bf16, logitcore_loss_bf16,
     "bf16"},
    {Fmt::f16, logitcore_logsumexp_f16, logitcore_softmax_f16, logitcore_log_softmax_f16,
     logitcore_softmax_entropy_f16, logitcore_entropy_f16, logitcore_lse_state_update_f16, logitcore_loss_f16, "f16"},
};

class HalfPaths : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { ASSERT_OK(logitcore_set_isa(GetParam().c_str())); }
  RuntimeGuard guard_;
};

// random logits with special values, as halves and as their float32 values
void make(const Entry& e, i64 rows, i64 cols, std::mt19937& gen, std::vector<std::uint16_t>& h,
          std::vector<float>& f) {
  std::normal_distribution<float> nd(0.0f, 4.0f);
  h.resize(static_cast<size_t>(rows * cols));
  f.resize(h.size());
  for (size_t i = 0; i < h.size(); ++i) h[i] = narrow(e.fmt, nd(gen));
  if (cols > 3 && rows > 2) {
    h[1] = narrow(e.fmt, INFINITY);
    h[static_cast<size_t>(cols) + 2] = narrow(e.fmt, NAN);
    for (i64 j = 0; j < cols; ++j) h[static_cast<size_t>(2 * cols + j)] = narrow(e.fmt, j == 3 ? 5.0f : -40.0f);
  }
  for (size_t i = 0; i < h.size(); ++i) f[i] = static_cast<float>(widen(e.fmt, h[i]));
}

TEST_P(HalfPaths, EqualToFloat32OnTheWidenedValues) {
  std::mt19937 gen(7);
  for (const Entry& e : kEntries) {
    for (i64 cols : {1, 7, 16, 33, 70, 2049, 5000}) {
      SCOPED_TRACE(std::string(e.name) + " cols=" + std::to_string(cols));
      const i64 rows = 4;
      std::vector<std::uint16_t> h;
      std::vector<float> f;
      make(e, rows, cols, gen, h, f);
      const logitcore_matrix xh = mat(h.data(), rows, cols), xf = mat(f.data(), rows, cols);
      // per-row results: float32, bit for bit
      std::vector<float> o(rows), of(rows);
      const logitcore_vector vo = vec(o.data(), rows), vof = vec(of.data(), rows);
      ASSERT_OK(e.lse(&xh, nullptr, &vo, nullptr, 1));
      ASSERT_OK(logitcore_logsumexp_f32(&xf, nullptr, &vof, nullptr, 1));
      for (i64 r = 0; r < rows; ++r) EXPECT_TRUE(same_float(o[r], of[r])) << "lse row " << r;
      ASSERT_OK(e.softmax_entropy(&xh, &vo, 2));
      ASSERT_OK(logitcore_softmax_entropy_f32(&xf, &vof, 2));
      for (i64 r = 0; r < rows; ++r) EXPECT_TRUE(same_float(o[r], of[r])) << "softmax_entropy row " << r;
      // outputs of the input's shape: float32's rounded to nearest even
      std::vector<std::uint16_t> y(h.size());
      std::vector<float> yf(f.size());
      const logitcore_matrix my = mat(y.data(), rows, cols), myf = mat(yf.data(), rows, cols);
      for (int log = 0; log < 2; ++log) {
        ASSERT_OK((log ? e.log_softmax : e.softmax)(&xh, &my, 2));
        ASSERT_OK((log ? logitcore_log_softmax_f32 : logitcore_softmax_f32)(&xf, &myf, 2));
        for (size_t i = 0; i < y.size(); ++i)
          ASSERT_TRUE(same_half(y[i], narrow(e.fmt, yf[i]), e.fmt)) << "log=" << log << " at " << i;
      }
      // entropy of the (rounded) probabilities
      std::vector<float> pf(y.size());
      for (size_t i = 0; i < y.size(); ++i) pf[i] = static_cast<float>(widen(e.fmt, y[i]));
      const logitcore_matrix mpf = mat(pf.data(), rows, cols);
      ASSERT_OK(e.entropy(&my, &vo, 1));
      ASSERT_OK(logitcore_entropy_f32(&mpf, &vof, 1));
      for (i64 r = 0; r < rows; ++r) EXPECT_TRUE(same_float(o[r], of[r])) << "entropy row " << r;
      // the streaming state
      std::vector<double> m(rows), u(rows), mf(rows), uf(rows);
      ASSERT_OK(logitcore_lse_state_init(m.data(), u.data(), rows));
      ASSERT_OK(logitcore_lse_state_init(mf.data(), uf.data(), rows));
      ASSERT_OK(e.state_update(m.data(), u.data(), &xh, 1));
      ASSERT_OK(logitcore_lse_state_update_f32(mf.data(), uf.data(), &xf, 1));
      EXPECT_TRUE(BitEqual(m, mf));
      EXPECT_TRUE(BitEqual(u, uf));
      // the losses and their gradient (in place for the half data)
      const std::vector<int64_t> target = {0, cols - 1, cols / 2, -100};
      logitcore_loss_options opt;
      std::memset(&opt, 0, sizeof opt);
      opt.kind = LOGITCORE_LOSS_GAMMA_CE;
      opt.param = 0.25;
      opt.ignore_index = -100;
      opt.reduction = LOGITCORE_REDUCTION_MEAN;
      std::vector<double> rl(rows), rlf(rows);
      double red = 0, redf = 0;
      std::vector<std::uint16_t> g = h;
      const logitcore_matrix mg = mat(g.data(), rows, cols);
      ASSERT_OK(e.loss(&mg, target.data(), &opt, rl.data(), &red, &mg, 2));
      ASSERT_OK(logitcore_loss_f32(&xf, target.data(), &opt, rlf.data(), &redf, &myf, 2));
      EXPECT_TRUE(BitEqual(rl, rlf));
      EXPECT_TRUE(std::memcmp(&red, &redf, sizeof red) == 0 || (std::isnan(red) && std::isnan(redf)));
      for (size_t i = 0; i < g.size(); ++i) ASSERT_TRUE(same_half(g[i], narrow(e.fmt, yf[i]), e.fmt)) << "grad " << i;
    }
  }
}

TEST_P(HalfPaths, StridedAndInPlace) {
  std::mt19937 gen(11);
  for (const Entry& e : kEntries) {
    SCOPED_TRACE(e.name);
    const i64 rows = 3, cols = 300;
    std::vector<std::uint16_t> h;
    std::vector<float> f;
    make(e, rows, 2 * cols, gen, h, f);
    // every other column, rows in reverse order
    const logitcore_matrix xh = mat(h.data() + 2 * (rows - 1) * cols, rows, cols, -2 * cols, 2);
    const logitcore_matrix xf = mat(f.data() + 2 * (rows - 1) * cols, rows, cols, -2 * cols, 2);
    std::vector<float> o(2 * rows), of(rows);
    const logitcore_vector vo = vec(o.data(), rows, 2), vof = vec(of.data(), rows);
    ASSERT_OK(e.lse(&xh, nullptr, &vo, nullptr, 1));
    ASSERT_OK(logitcore_logsumexp_f32(&xf, nullptr, &vof, nullptr, 1));
    for (i64 r = 0; r < rows; ++r) EXPECT_TRUE(same_float(o[2 * r], of[r]));
    // softmax written over its own (strided) input
    std::vector<float> yf(rows * cols);
    const logitcore_matrix myf = mat(yf.data(), rows, cols);
    ASSERT_OK(logitcore_softmax_f32(&xf, &myf, 1));
    ASSERT_OK(e.softmax(&xh, &xh, 1));
    for (i64 r = 0; r < rows; ++r)
      for (i64 j = 0; j < cols; ++j) {
        const std::uint16_t got = h[static_cast<size_t>(2 * (rows - 1 - r) * cols + 2 * j)];
        ASSERT_TRUE(same_half(got, narrow(e.fmt, yf[static_cast<size_t>(r * cols + j)]), e.fmt));
      }
  }
}

// Entropy normalization, the sampler and the sparse product on half data: the _f32 results on
// the widened values (q rounded to the format; tokens, log-probabilities, gammas and the
// product's float sums equal).
TEST_P(HalfPaths, EntropyNormalizeSampleAndSparse) {
  std::mt19937 gen(5);
  for (const Entry& e : kEntries) {
    const bool bf = e.fmt == Fmt::bf16;
    for (i64 cols : {1, 9, 33, 70, 2049, 5000}) {
      SCOPED_TRACE(std::string(e.name) + " cols=" + std::to_string(cols));
      const i64 rows = 5;
      std::vector<std::uint16_t> h;
      std::vector<float> f;
      make(e, rows, cols, gen, h, f);
      if (cols > 3) {  // no +inf / NaN here: rows 0 and 1 get -inf entries instead
        h[1] = narrow(e.fmt, -INFINITY);
        h[static_cast<size_t>(cols) + 2] = narrow(e.fmt, -INFINITY);
      }
      for (size_t i = 0; i < h.size(); ++i) f[i] = static_cast<float>(widen(e.fmt, h[i]));
      const logitcore_matrix xh = mat(h.data(), rows, cols), xf = mat(f.data(), rows, cols);
      // entropy normalization of the logits, out of place and in place
      logitcore_en_options opt = logitcore::EntropyNormalizeOptions();
      opt.input = LOGITCORE_EN_LOGITS;
      const double target[rows] = {0.3, 1.0, 0.0, 2.5, 40.0};
      std::vector<std::uint16_t> q(h.size());
      std::vector<float> qf(f.size());
      const logitcore_matrix mq = mat(q.data(), rows, cols), mqf = mat(qf.data(), rows, cols);
      logitcore::EntropyNormalizeInfo ih, iff;
      ih.resize(rows);
      iff.resize(rows);
      const logitcore_en_info cih = ih.c(), cif = iff.c();
      ASSERT_OK((bf ? logitcore_entropy_normalize_bf16 : logitcore_entropy_normalize_f16)(&xh, &mq, target, 1, &opt,
                                                                                          &cih, 2));
      ASSERT_OK(logitcore_entropy_normalize_f32(&xf, &mqf, target, 1, &opt, &cif, 2));
      for (size_t i = 0; i < q.size(); ++i) ASSERT_TRUE(same_half(q[i], narrow(e.fmt, qf[i]), e.fmt)) << "q " << i;
      EXPECT_TRUE(BitEqual(ih.gamma, iff.gamma));
      EXPECT_TRUE(BitEqual(ih.entropy, iff.entropy));
      EXPECT_EQ(ih.status, iff.status);
      std::vector<std::uint16_t> z = h;
      const logitcore_matrix mz = mat(z.data(), rows, cols);
      ASSERT_OK((bf ? logitcore_entropy_normalize_bf16 : logitcore_entropy_normalize_f16)(&mz, &mz, target, 1, &opt,
                                                                                          nullptr, 1));
      EXPECT_EQ(z, q);
      // the sampler: tokens, log-probabilities and the filtered distribution
      logitcore_sampling_params p = logitcore_sampling_default_params();
      const double top_p = 0.9, ent = 1.2;
      const std::uint64_t seed = 99;
      p.top_p = &top_p;
      p.seed = &seed;
      for (int with_target = 0; with_target < 2; ++with_target) {
        p.target_entropy = with_target ? &ent : nullptr;
        const i64 nl = std::min<i64>(3, cols);
        std::vector<std::int64_t> tok(rows), tokf(rows), ids(rows * nl), idsf(rows * nl);
        std::vector<double> tlp(rows), tlpf(rows), lp(rows * nl), lpf(rows * nl);
        ASSERT_OK((bf ? logitcore_sample_bf16 : logitcore_sample_f16)(&xh, &p, tok.data(), nl, tlp.data(), ids.data(),
                                                                      lp.data(), 2));
        ASSERT_OK(logitcore_sample_f32(&xf, &p, tokf.data(), nl, tlpf.data(), idsf.data(), lpf.data(), 2));
        EXPECT_EQ(tok, tokf);
        EXPECT_EQ(ids, idsf);
        EXPECT_TRUE(BitEqual(tlp, tlpf));
        EXPECT_TRUE(BitEqual(lp, lpf));
        std::vector<std::uint16_t> pr(h.size());
        std::vector<float> prf(f.size());
        std::vector<std::uint8_t> k(h.size()), kf(h.size());
        std::vector<double> g(rows), gf(rows);
        const logitcore_matrix mp = mat(pr.data(), rows, cols), mpf = mat(prf.data(), rows, cols);
        const logitcore_matrix mk = mat(k.data(), rows, cols), mkf = mat(kf.data(), rows, cols);
        ASSERT_OK((bf ? logitcore_sample_filter_bf16 : logitcore_sample_filter_f16)(&xh, &p, &mp, &mk, g.data(), 1));
        ASSERT_OK(logitcore_sample_filter_f32(&xf, &p, &mpf, &mkf, gf.data(), 1));
        for (size_t i = 0; i < pr.size(); ++i) ASSERT_TRUE(same_half(pr[i], narrow(e.fmt, prf[i]), e.fmt)) << i;
        EXPECT_EQ(k, kf);
        EXPECT_TRUE(BitEqual(g, gf));
      }
      // the sparse product with the half matrix as b (cols x rows read as a cols-row b)
      const i64 brow = rows, bcols = cols;  // b: rows x cols, A: 3 x rows
      const std::vector<std::int32_t> ip = {0, 2, 2, 5}, ix = {4, 0, 1, 3, 1};
      const std::vector<float> ad = {0.5f, -1.25f, 2.0f, 0.75f, 3.0f};
      logitcore_csr a{3, brow, LOGITCORE_INDEX_INT32, ip.data(), ix.data(), ad.data()};
      std::vector<float> o(3 * bcols), of(3 * bcols);
      const logitcore_matrix mo = mat(o.data(), 3, bcols), mof = mat(of.data(), 3, bcols);
      ASSERT_OK((bf ? logitcore_csr_matmul_bf16 : logitcore_csr_matmul_f16)(&a, &xh, &mo, 2));
      ASSERT_OK(logitcore_csr_matmul_f32(&a, &xf, &mof, 2));
      for (size_t i = 0; i < o.size(); ++i) ASSERT_TRUE(same_float(o[i], of[i])) << "product " << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Supported, HalfPaths, ::testing::ValuesIn(supported_isa_names()),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

TEST(Half, ReferenceRoundingSelfCheck) {
  // the test's own narrowing: ties to even, overflow, subnormals
  EXPECT_EQ(narrow(Fmt::f16, -2046.5f), narrow(Fmt::f16, -2046.0f));
  EXPECT_EQ(narrow(Fmt::f16, 65520.0f), 0x7c00);
  EXPECT_EQ(narrow(Fmt::f16, 65519.0f), 0x7bff);
  EXPECT_EQ(narrow(Fmt::f16, 5.9604645e-8f), 0x0001);
  EXPECT_EQ(narrow(Fmt::bf16, 1.0f + 1.0f / 256), 0x3f80);  // tie to even (1.0)
  EXPECT_EQ(narrow(Fmt::bf16, 1.0f + 3.0f / 256), 0x3f82);  // tie to even (up)
}

TEST(Half, Penalties) {
  std::mt19937 gen(3);
  for (const Entry& e : kEntries) {
    SCOPED_TRACE(e.name);
    const i64 rows = 2, cols = 50;
    std::vector<std::uint16_t> h;
    std::vector<float> f;
    make(e, rows, cols, gen, h, f);
    const std::vector<std::int64_t> ids = {1, 1, 4, -1, 0, 49, 49, 3};
    const double rep[2] = {1.5, 0.5};
    logitcore_penalty_params p;
    std::memset(&p, 0, sizeof p);
    p.repetition = rep;
    p.repetition_stride = 1;
    const double fr = 0.3;
    p.frequency = &fr;
    const logitcore_matrix xh = mat(h.data(), rows, cols), xf = mat(f.data(), rows, cols), mi = mat(ids.data(), 2, 4);
    std::vector<float> yf(f.size());
    const logitcore_matrix myf = mat(yf.data(), rows, cols);
    ASSERT_OK(logitcore_apply_penalties_f32(&xf, &myf, &mi, &p, 1));
    ASSERT_OK((e.fmt == Fmt::bf16 ? logitcore_apply_penalties_bf16 : logitcore_apply_penalties_f16)(&xh, &xh, &mi, &p, 1));
    for (size_t i = 0; i < h.size(); ++i) ASSERT_TRUE(same_half(h[i], narrow(e.fmt, yf[i]), e.fmt)) << i;
  }
}

TEST(Half, ErrorsUseTheStorageSize) {
  // the overlap checks count 2 bytes per element: an output just past a half matrix is fine,
  // one byte into it is not
  std::vector<std::uint16_t> buf(64);
  const logitcore_matrix x = mat(buf.data(), 2, 8);
  std::vector<std::uint16_t> y(16);
  const logitcore_matrix my = mat(y.data(), 2, 8);
  EXPECT_OK(logitcore_softmax_bf16(&x, &my, 1));
  const logitcore_matrix bad = mat(buf.data() + 15, 2, 8);
  EXPECT_FAILS(logitcore_softmax_f16(&x, &bad, 1), LOGITCORE_INVALID_ARGUMENT, "y&overlap");
  float o[2];
  const logitcore_vector vo = vec(o, 2);
  const logitcore_vector inside = vec(buf.data() + 6, 2);  // float out over the half data
  EXPECT_FAILS(logitcore_logsumexp_bf16(&x, nullptr, &inside, nullptr, 1), LOGITCORE_INVALID_ARGUMENT, "out&overlap");
  EXPECT_OK(logitcore_logsumexp_bf16(&x, nullptr, &vo, nullptr, 1));
  EXPECT_FAILS(logitcore_logsumexp_f16(nullptr, nullptr, &vo, nullptr, 1), LOGITCORE_INVALID_ARGUMENT, "x&null");
  const int64_t target[2] = {0, 8};
  EXPECT_FAILS(logitcore_loss_bf16(&x, target, nullptr, nullptr, nullptr, nullptr, 1), LOGITCORE_OUT_OF_RANGE,
               "target[1]");
}

TEST(Half, ErrorsOfTheNewEntryPoints) {
  std::vector<std::uint16_t> buf(16, 0);
  const logitcore_matrix x = mat(buf.data(), 2, 8);
  const double t = 1.0;
  // q must not partly overlap x (2 bytes an element)
  const logitcore_matrix bad = mat(buf.data() + 3, 2, 6);
  EXPECT_FAILS(logitcore_entropy_normalize_bf16(&x, &bad, &t, 0, nullptr, nullptr, 1), LOGITCORE_INVALID_ARGUMENT,
               "shape");
  EXPECT_FAILS(logitcore_entropy_normalize_f16(&x, nullptr, &t, 0, nullptr, nullptr, 1), LOGITCORE_INVALID_ARGUMENT,
               "out&null");
  std::int64_t tok[2];
  buf[3] = 0x7fc0;  // a bfloat16 NaN in row 0
  EXPECT_FAILS(logitcore_sample_bf16(&x, nullptr, tok, 0, nullptr, nullptr, nullptr, 1), LOGITCORE_INVALID_ARGUMENT,
               "row 0&NaN");
  const std::vector<std::int32_t> ip = {0, 1}, ix = {9};
  const std::vector<float> ad = {1.0f};
  logitcore_csr a{1, 2, LOGITCORE_INDEX_INT32, ip.data(), ix.data(), ad.data()};
  std::vector<float> o(8);
  const logitcore_matrix mo = mat(o.data(), 1, 8);
  EXPECT_FAILS(logitcore_csr_matmul_f16(&a, &x, &mo, 1), LOGITCORE_OUT_OF_RANGE, "indices[0] = 9");
}

TEST(Half, CppOverloads) {
  std::vector<logitcore::bfloat16> xb(6);
  std::vector<logitcore::float16> xh(6);
  std::vector<float> xf(6);
  for (int i = 0; i < 6; ++i) {
    xf[i] = static_cast<float>(i) - 2.5f;
    xb[i].bits = narrow(Fmt::bf16, xf[i]);
    xh[i].bits = narrow(Fmt::f16, xf[i]);
  }
  std::vector<float> ob(2), oh(2), of(2);
  logitcore::logsumexp(logitcore::Matrix<const logitcore::bfloat16>(xb.data(), 2, 3), logitcore::Vector<float>(ob));
  logitcore::logsumexp(logitcore::Matrix<const logitcore::float16>(xh.data(), 2, 3), logitcore::Vector<float>(oh));
  logitcore::logsumexp(logitcore::Matrix<const float>(xf.data(), 2, 3), logitcore::Vector<float>(of));
  EXPECT_TRUE(BitEqual(ob, of));
  EXPECT_TRUE(BitEqual(oh, of));
  logitcore::LogSumExpState s(2), sf(2);
  s.update(logitcore::Matrix<const logitcore::float16>(xh.data(), 2, 3));
  sf.update(logitcore::Matrix<const float>(xf.data(), 2, 3));
  EXPECT_TRUE(BitEqual(s.max(), sf.max()));
  EXPECT_TRUE(BitEqual(s.excess(), sf.excess()));
  const std::vector<std::int64_t> t = {1, 2};
  std::vector<logitcore::bfloat16> g(6);
  const double l = logitcore::loss(logitcore::Matrix<const logitcore::bfloat16>(xb.data(), 2, 3), t.data(), {},
                                   nullptr, logitcore::Matrix<logitcore::bfloat16>(g.data(), 2, 3));
  const double lf = logitcore::loss(logitcore::Matrix<const float>(xf.data(), 2, 3), t.data());
  EXPECT_EQ(l, lf);
  // entropy normalization, the sampler and the sparse product
  std::vector<logitcore::bfloat16> qb(6);
  std::vector<float> qf(6);
  logitcore::EntropyNormalizeOptions eo;
  eo.input = LOGITCORE_EN_LOGITS;
  logitcore::entropy_normalize(logitcore::Matrix<const logitcore::bfloat16>(xb.data(), 2, 3),
                               logitcore::Matrix<logitcore::bfloat16>(qb.data(), 2, 3), 0.5, eo);
  logitcore::entropy_normalize(logitcore::Matrix<const float>(xf.data(), 2, 3), logitcore::Matrix<float>(qf.data(), 2, 3),
                               0.5, eo);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(qb[i].bits, narrow(Fmt::bf16, qf[i]));
  std::int64_t tk[2], tkf[2];
  logitcore::sample(logitcore::Matrix<const logitcore::float16>(xh.data(), 2, 3), logitcore::SamplingParams(), tk);
  logitcore::sample(logitcore::Matrix<const float>(xf.data(), 2, 3), logitcore::SamplingParams(), tkf);
  EXPECT_EQ(tk[0], tkf[0]);
  EXPECT_EQ(tk[1], tkf[1]);
  const std::int64_t ip[3] = {0, 1, 3}, ix[3] = {1, 0, 1};
  const float ad[3] = {2.0f, -1.0f, 0.5f};
  const logitcore::CsrMatrix<float, std::int64_t> a(ip, ix, ad, 2, 2);
  std::vector<float> ob2(6), of2(6);
  logitcore::csr_matmul(a, logitcore::Matrix<const logitcore::bfloat16>(xb.data(), 2, 3), logitcore::Matrix<float>(ob2.data(), 2, 3));
  logitcore::csr_matmul(a, logitcore::Matrix<const float>(xf.data(), 2, 3), logitcore::Matrix<float>(of2.data(), 2, 3));
  EXPECT_TRUE(BitEqual(ob2, of2));
}

}  // namespace
