// The token sampler through the C and C++ API (docs/math.md §4): the generator's known answer,
// the same tokens and the same filtered distribution (bitwise) on every ISA, for 1 and 2
// threads and whatever the batch; greedy, top-k ties, min-p, +inf rows, log-probabilities;
// every bad argument fails with a message and writes nothing; the penalties.
#include <functional>
#include <set>

#include "logitcore/logitcore.hpp"
#include "test_support.h"

namespace {

using namespace lct;

template <class T>
std::vector<T> normal_logits(size_t n, double scale, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> d(0.0, scale);
  std::vector<T> v(n);
  for (auto& e : v) e = static_cast<T>(d(rng));
  return v;
}

struct Setting {
  const char* name;
  double temperature, top_p, min_p, target;
  std::int64_t top_k;
};
const Setting kSettings[] = {
    {"plain", 1.0, 1.0, 0.0, kNaN, 0},      {"hot", 1.7, 1.0, 0.0, kNaN, 0},
    {"top_k", 0.8, 1.0, 0.0, kNaN, 50},     {"top_p", 1.0, 0.9, 0.0, kNaN, 0},
    {"min_p", 1.0, 1.0, 0.05, kNaN, 0},     {"chain", 0.8, 0.95, 0.05, kNaN, 40},
    {"big_k", 1.0, 0.7, 0.0, kNaN, 5000},   {"target", 1.0, 1.0, 0.0, 2.5, 0},
    {"target_p", 1.0, 0.8, 0.0, 4.0, 0},    {"greedy", 0.0, 1.0, 0.0, kNaN, 0},
    {"near_one", 1.0, 0.99999, 0.0, kNaN, 0},
};

logitcore_sampling_params params_of(const Setting& s, const std::uint64_t* seeds, const std::uint64_t* offsets) {
  logitcore_sampling_params p = logitcore_sampling_default_params();
  p.temperature = &s.temperature;
  p.top_p = &s.top_p;
  p.min_p = &s.min_p;
  p.target_entropy = &s.target;
  p.top_k = &s.top_k;
  p.seed = seeds;
  p.seed_stride = 1;
  p.offset = offsets;
  p.offset_stride = 1;
  return p;
}

template <class T>
struct Run {
  std::vector<std::int64_t> tokens;
  std::vector<T> probs;
  std::vector<double> gamma;
};

template <class T>
Run<T> run(const std::vector<T>& x, i64 rows, i64 cols, const Setting& s, int threads) {
  std::vector<std::uint64_t> seeds(static_cast<size_t>(rows)), offsets(static_cast<size_t>(rows));
  for (i64 r = 0; r < rows; ++r) {
    seeds[r] = 1000 + static_cast<std::uint64_t>(r);
    offsets[r] = 7 * static_cast<std::uint64_t>(r);
  }
  const logitcore_sampling_params p = params_of(s, seeds.data(), offsets.data());
  const logitcore_matrix m = mat(x.data(), rows, cols);
  Run<T> out;
  out.tokens.assign(static_cast<size_t>(rows), -1);
  out.probs.assign(x.size(), T(-1));
  out.gamma.assign(static_cast<size_t>(rows), kNaN);
  const logitcore_matrix pm = mat(out.probs.data(), rows, cols);
  if constexpr (sizeof(T) == 4) {
    EXPECT_OK(logitcore_sample_f32(&m, &p, out.tokens.data(), 0, nullptr, nullptr, nullptr, threads));
    EXPECT_OK(logitcore_sample_filter_f32(&m, &p, &pm, nullptr, out.gamma.data(), threads));
  } else {
    EXPECT_OK(logitcore_sample_f64(&m, &p, out.tokens.data(), 0, nullptr, nullptr, nullptr, threads));
    EXPECT_OK(logitcore_sample_filter_f64(&m, &p, &pm, nullptr, out.gamma.data(), threads));
  }
  return out;
}

std::vector<std::string> supported_isas() {
  std::vector<std::string> v;
  for (int i = 0; i < LOGITCORE_ISA_COUNT; ++i)
    if (logitcore_isa_supported(i)) v.emplace_back(logitcore_isa_name(i));
  return v;
}

// The generator: Philox4x32-10 of counter 0, key 0 is 6627e8d5 e169c58d ... (Random123's
// known-answer vectors), so seed 0, offset 0 draws ((0x6627e8d5 << 32 | 0xe169c58d) >> 11) 2^-53.
TEST(Sampling, PhiloxKnownAnswer) {
  const std::uint64_t bits = ((std::uint64_t{0x6627e8d5u} << 32) | 0xe169c58du) >> 11;
  EXPECT_EQ(logitcore_sample_uniform(0, 0), static_cast<double>(bits) * 0x1.0p-53);
  std::set<double> seen;
  for (std::uint64_t s = 0; s < 50; ++s)
    for (std::uint64_t o = 0; o < 50; ++o) {
      const double u = logitcore_sample_uniform(s * 0x9E3779B97F4A7C15ull, o);
      EXPECT_GE(u, 0.0);
      EXPECT_LT(u, 1.0);
      seen.insert(u);
    }
  EXPECT_EQ(seen.size(), 2500u);
}

// 5 x 70001: rows in parallel; 1 x 200003 and 3 x 40000: few long rows, each row's passes
// split over the threads by blocks.
template <class T>
void same_for_any_thread_count() {
  RuntimeGuard guard;
  const std::pair<i64, i64> shapes[] = {{5, 70001}, {1, 200003}, {3, 40000}};
  for (const auto& [rows, cols] : shapes) {
    const std::vector<T> x = normal_logits<T>(static_cast<size_t>(rows * cols), 3.0, 12);
    for (const std::string& isa : supported_isas()) {
      ASSERT_OK(logitcore_set_isa(isa.c_str()));
      for (const Setting& s : kSettings) {
        SCOPED_TRACE(std::string(s.name) + " " + isa + " " + std::to_string(rows) + " x " + std::to_string(cols));
        const Run<T> one = run(x, rows, cols, s, 1), two = run(x, rows, cols, s, 2);
        EXPECT_EQ(one.tokens, two.tokens);
        EXPECT_EQ(0, std::memcmp(one.probs.data(), two.probs.data(), x.size() * sizeof(T)));
        EXPECT_EQ(0, std::memcmp(one.gamma.data(), two.gamma.data(), one.gamma.size() * sizeof(double)));
      }
    }
  }
}
TEST(Sampling, BitwiseForAnyThreadCountF32) { same_for_any_thread_count<float>(); }
TEST(Sampling, BitwiseForAnyThreadCountF64) { same_for_any_thread_count<double>(); }

template <class T>
void same_everywhere() {
  RuntimeGuard guard;
  const i64 rows = 5, cols = 70001;  // a tail block; 2 threads split the rows
  const std::vector<T> x = normal_logits<T>(static_cast<size_t>(rows * cols), 3.0, 11);
  for (const Setting& s : kSettings) {
    SCOPED_TRACE(s.name);
    ASSERT_OK(logitcore_set_isa("scalar"));
    const Run<T> ref = run(x, rows, cols, s, 1);
    for (i64 r = 0; r < rows; ++r) {
      ASSERT_GE(ref.tokens[r], 0);
      ASSERT_LT(ref.tokens[r], cols);
      EXPECT_GT(ref.probs[static_cast<size_t>(r * cols + ref.tokens[r])], T(0)) << "token outside the kept set";
    }
    for (const std::string& isa : supported_isas()) {
      ASSERT_OK(logitcore_set_isa(isa.c_str()));
      for (int threads : {1, 2}) {
        SCOPED_TRACE(isa + " threads " + std::to_string(threads));
        const Run<T> got = run(x, rows, cols, s, threads);
        EXPECT_EQ(got.tokens, ref.tokens);
        if (s.target != s.target || (isa == "scalar" && threads == 1)) {
          EXPECT_EQ(0, std::memcmp(got.probs.data(), ref.probs.data(), x.size() * sizeof(T))) << "probs differ";
          for (i64 r = 0; r < rows; ++r) EXPECT_EQ(got.gamma[r], ref.gamma[r]);
        } else {
          // a target entropy's gamma comes from the ISA's entropy-normalization sums: the same
          // up to their rounding (docs/math.md §4.1); bitwise the same for any thread count
          // (float rows keep gamma in float: an ulp or two)
          const double gtol = sizeof(T) == 4 ? 3e-7 : 1e-12;
          for (i64 r = 0; r < rows; ++r) EXPECT_NEAR(got.gamma[r], ref.gamma[r], gtol * ref.gamma[r]);
          for (size_t i = 0; i < x.size(); ++i)
            ASSERT_NEAR(got.probs[i], ref.probs[i], 1e-5 * ref.probs[i] + 1e-30) << "entry " << i;
        }
      }
    }
  }
}
TEST(Sampling, SameOnEveryIsaAndThreadCountF32) { same_everywhere<float>(); }
TEST(Sampling, SameOnEveryIsaAndThreadCountF64) { same_everywhere<double>(); }

// A row's token does not depend on the batch: each row alone gives the batch's token.
TEST(Sampling, RowAloneEqualsRowInBatch) {
  const i64 rows = 6, cols = 9000;
  const std::vector<float> x = normal_logits<float>(static_cast<size_t>(rows * cols), 2.0, 5);
  const double temps[rows] = {0.7, 1.0, 0.0, 1.3, 0.9, 1.0}, tps[rows] = {1.0, 0.9, 1.0, 0.5, 0.95, 1.0};
  const std::int64_t ks[rows] = {0, 0, 0, 20, 3000, 1};
  const std::uint64_t seeds[rows] = {1, 2, 3, 4, 5, 6}, offs[rows] = {10, 20, 30, 40, 50, 60};
  logitcore_sampling_params p = logitcore_sampling_default_params();
  p.temperature = temps;
  p.temperature_stride = 1;
  p.top_p = tps;
  p.top_p_stride = 1;
  p.top_k = ks;
  p.top_k_stride = 1;
  p.seed = seeds;
  p.seed_stride = 1;
  p.offset = offs;
  p.offset_stride = 1;
  std::vector<std::int64_t> batch(rows);
  const logitcore_matrix m = mat(x.data(), rows, cols);
  ASSERT_OK(logitcore_sample_f32(&m, &p, batch.data(), 0, nullptr, nullptr, nullptr, 2));
  for (i64 r = 0; r < rows; ++r) {
    logitcore_sampling_params q = p;
    q.temperature = temps + r;
    q.top_p = tps + r;
    q.top_k = ks + r;
    q.seed = seeds + r;
    q.offset = offs + r;
    const logitcore_matrix one = mat(x.data() + r * cols, 1, cols);
    std::int64_t tok = -1;
    ASSERT_OK(logitcore_sample_f32(&one, &q, &tok, 0, nullptr, nullptr, nullptr, 1));
    EXPECT_EQ(tok, batch[r]) << "row " << r;
  }
  // greedy and top_k = 1 are the first maximum
  const float* r2 = x.data() + 2 * cols;
  EXPECT_EQ(batch[2], std::max_element(r2, r2 + cols) - r2);
  const float* r5 = x.data() + 5 * cols;
  EXPECT_EQ(batch[5], std::max_element(r5, r5 + cols) - r5);
}

// Ties: top-k keeps every entry tied with the k-th largest; greedy takes the lowest index;
// the draw never leaves the kept set; +inf entries make the row uniform over them.
TEST(Sampling, TiesInfinitiesAndTheKeptSet) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> x = {1, 3, 3, 2, 3, -inf, 0, 2};
  const logitcore_matrix m = mat(x.data(), 1, 8);
  logitcore::SamplingParams p;
  p.with_top_k(2);
  std::vector<std::uint8_t> kept(8, 9);
  logitcore::sample_filter(logitcore::Matrix<const float>(x.data(), 1, 8), p, logitcore::Matrix<float>(),
                           logitcore::Matrix<std::uint8_t>(kept.data(), 1, 8));
  EXPECT_EQ(kept, (std::vector<std::uint8_t>{0, 1, 1, 0, 1, 0, 0, 0}));
  p.with_top_k(4);  // the 4th largest is 2: both 2s are kept
  logitcore::sample_filter(logitcore::Matrix<const float>(x.data(), 1, 8), p, logitcore::Matrix<float>(),
                           logitcore::Matrix<std::uint8_t>(kept.data(), 1, 8));
  EXPECT_EQ(kept, (std::vector<std::uint8_t>{0, 1, 1, 1, 1, 0, 0, 1}));
  logitcore::SamplingParams g;
  g.with_temperature(0);
  std::int64_t tok = -1;
  logitcore::sample(logitcore::Matrix<const float>(x.data(), 1, 8), g, &tok);
  EXPECT_EQ(tok, 1);
  // min_p = 1: only the maxima
  logitcore::SamplingParams mp;
  mp.with_min_p(1.0);
  logitcore::sample_filter(logitcore::Matrix<const float>(x.data(), 1, 8), mp, logitcore::Matrix<float>(),
                           logitcore::Matrix<std::uint8_t>(kept.data(), 1, 8));
  EXPECT_EQ(kept, (std::vector<std::uint8_t>{0, 1, 1, 0, 1, 0, 0, 0}));
  // +inf entries: uniform over them, whatever the filters
  const std::vector<float> y = {5, inf, 0, inf, -inf};
  std::vector<float> probs(5, -1);
  logitcore::sample_filter(logitcore::Matrix<const float>(y.data(), 1, 5), logitcore::SamplingParams(),
                           logitcore::Matrix<float>(probs.data(), 1, 5));
  EXPECT_EQ(probs, (std::vector<float>{0, 0.5f, 0, 0.5f, 0}));
  std::set<std::int64_t> drawn;
  for (std::uint64_t o = 0; o < 64; ++o) {
    logitcore::SamplingParams q;
    q.with_offset(o);
    logitcore::sample(logitcore::Matrix<const float>(y.data(), 1, 5), q, &tok);
    drawn.insert(tok);
  }
  EXPECT_EQ(drawn, (std::set<std::int64_t>{1, 3}));
  (void)m;
}

TEST(Sampling, LogProbabilities) {
  const i64 rows = 3, cols = 5000, n = 4;
  const std::vector<double> x = normal_logits<double>(static_cast<size_t>(rows * cols), 2.0, 9);
  std::vector<std::int64_t> tok(rows), top(rows * n);
  std::vector<double> lp(rows), toplp(rows * n);
  logitcore::SampleLogprobs want{n, lp.data(), top.data(), toplp.data()};
  logitcore::SamplingParams p;
  p.with_top_k(10).with_temperature(0.5);
  logitcore::sample(logitcore::Matrix<const double>(x.data(), rows, cols), p, tok.data(), want);
  for (i64 r = 0; r < rows; ++r) {
    const double* xr = x.data() + r * cols;
    double m = *std::max_element(xr, xr + cols), s = 0;
    for (i64 j = 0; j < cols; ++j) s += std::exp(xr[j] - m);
    const double lse = m + std::log(s);
    EXPECT_NEAR(lp[r], xr[tok[r]] - lse, 1e-12);
    std::vector<i64> order(static_cast<size_t>(cols));
    for (i64 j = 0; j < cols; ++j) order[j] = j;
    std::stable_sort(order.begin(), order.end(), [&](i64 a, i64 b) { return xr[a] > xr[b]; });
    for (i64 i = 0; i < n; ++i) {
      EXPECT_EQ(top[r * n + i], order[i]);
      EXPECT_NEAR(toplp[r * n + i], xr[order[i]] - lse, 1e-12);
    }
  }
}

TEST(Sampling, BadArgumentsFailAndWriteNothing) {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  std::vector<float> x = normal_logits<float>(3 * 100, 1.0, 1);
  x[2 * 100 + 17] = nan;
  const logitcore_matrix m = mat(x.data(), 3, 100);
  std::vector<std::int64_t> tok(3, 77);
  const logitcore_sampling_params d = logitcore_sampling_default_params();
  EXPECT_FAILS(logitcore_sample_f32(&m, &d, tok.data(), 0, nullptr, nullptr, nullptr, 0), LOGITCORE_INVALID_ARGUMENT,
               "row 2 of logits contains NaN");
  EXPECT_EQ(tok, (std::vector<std::int64_t>{77, 77, 77}));
  x[2 * 100 + 17] = 0;
  for (int j = 0; j < 100; ++j) x[100 + j] = -inf;
  EXPECT_FAILS(logitcore_sample_f32(&m, &d, tok.data(), 0, nullptr, nullptr, nullptr, 0), LOGITCORE_INVALID_ARGUMENT,
               "row 1 of logits has no finite entry");
  EXPECT_EQ(tok, (std::vector<std::int64_t>{77, 77, 77}));
  x[100] = 0;
  const logitcore_matrix empty = mat(x.data(), 3, 0);
  EXPECT_FAILS(logitcore_sample_f32(&empty, &d, tok.data(), 0, nullptr, nullptr, nullptr, 0),
               LOGITCORE_INVALID_ARGUMENT, "empty vocabulary");
  struct Bad {
    const char* needle;
    std::function<void(logitcore_sampling_params&)> set;
  };
  static const double neg = -0.5, two = 2.0, zero = 0.0, dnan = kNaN, dinf = kInf;
  static const std::int64_t negk = -3;
  const Bad bad[] = {
      {"temperature = -0.5", [](logitcore_sampling_params& p) { p.temperature = &neg; }},
      {"temperature = nan", [](logitcore_sampling_params& p) { p.temperature = &dnan; }},
      {"temperature = inf", [](logitcore_sampling_params& p) { p.temperature = &dinf; }},
      {"top_p = 0", [](logitcore_sampling_params& p) { p.top_p = &zero; }},
      {"top_p = 2", [](logitcore_sampling_params& p) { p.top_p = &two; }},
      {"min_p = 2", [](logitcore_sampling_params& p) { p.min_p = &two; }},
      {"min_p = -0.5", [](logitcore_sampling_params& p) { p.min_p = &neg; }},
      {"top_k = -3", [](logitcore_sampling_params& p) { p.top_k = &negk; }},
      {"target_entropy = -0.5", [](logitcore_sampling_params& p) { p.target_entropy = &neg; }},
      {"target_entropy = inf", [](logitcore_sampling_params& p) { p.target_entropy = &dinf; }},
  };
  for (const Bad& b : bad) {
    logitcore_sampling_params p = d;
    b.set(p);
    EXPECT_FAILS(logitcore_sample_f32(&m, &p, tok.data(), 0, nullptr, nullptr, nullptr, 0), LOGITCORE_INVALID_ARGUMENT,
                 b.needle);
  }
  // one bad entry of a per-row array is named with its row
  const double temps[3] = {1.0, 0.5, -1.0};
  logitcore_sampling_params p = d;
  p.temperature = temps;
  p.temperature_stride = 1;
  EXPECT_FAILS(logitcore_sample_f32(&m, &p, tok.data(), 0, nullptr, nullptr, nullptr, 0), LOGITCORE_INVALID_ARGUMENT,
               "temperature[2] = -1");
  EXPECT_FAILS(logitcore_sample_f32(&m, &d, tok.data(), 101, nullptr, nullptr, nullptr, 0),
               LOGITCORE_INVALID_ARGUMENT, "exceeds the vocabulary size 100");
  EXPECT_FAILS(logitcore_sample_f32(&m, &d, nullptr, 0, nullptr, nullptr, nullptr, 0), LOGITCORE_INVALID_ARGUMENT,
               "tokens is NULL");
  EXPECT_EQ(tok, (std::vector<std::int64_t>{77, 77, 77}));
  // an output inside the logits
  EXPECT_FAILS(logitcore_sample_f32(&m, &d, reinterpret_cast<std::int64_t*>(x.data()), 0, nullptr, nullptr, nullptr, 0),
               LOGITCORE_INVALID_ARGUMENT, "tokens overlaps logits");
}

// A NaN anywhere is found: in a group of the selection's first pass, in the tail after the
// last whole group, with the candidate buffer compacting, on the full-row path.
TEST(Sampling, NanAnywhereFails) {
  const i64 cols = 70001;  // 273 groups of 256 and a tail of 113
  std::vector<float> x = normal_logits<float>(static_cast<size_t>(cols), 3.0, 4);
  const logitcore_matrix m = mat(x.data(), 1, cols);
  for (const i64 at : {i64{0}, i64{1000}, i64{69887}, i64{69888}, cols - 1}) {
    for (const std::int64_t k : {std::int64_t{0}, std::int64_t{1}, std::int64_t{50}, std::int64_t{20000}}) {
      for (const double tp : {1.0, 0.9}) {
        std::vector<float> y = x;
        y[static_cast<size_t>(at)] = std::numeric_limits<float>::quiet_NaN();
        const logitcore_matrix my = mat(y.data(), 1, cols);
        logitcore::SamplingParams p;
        p.with_top_k(k).with_top_p(tp);
        std::int64_t tok = -5;
        EXPECT_FAILS(logitcore_sample_f32(&my, &p, &tok, 0, nullptr, nullptr, nullptr, 1), LOGITCORE_INVALID_ARGUMENT,
                     "row 0 of logits contains NaN")
            << "NaN at " << at << ", top_k " << k;
        EXPECT_EQ(tok, -5);
      }
    }
  }
  (void)m;
}

TEST(Sampling, Penalties) {
  const std::vector<double> x = {2.0, -1.0, 0.5, 3.0, -2.0, 0.0, 1, 2, 3, 4, 5, 6};
  const std::vector<std::int64_t> ids = {0, 1, 1, -1, 3, 3, 3, 5};  // 2 rows x 4
  std::vector<double> y(12, kSentinel);
  const logitcore_matrix xm = mat(x.data(), 2, 6), ym = mat(y.data(), 2, 6), im = mat(ids.data(), 2, 4);
  const double rho[2] = {2.0, 1.0}, af = 0.25, ap = 0.5;
  logitcore_penalty_params p{rho, 1, &af, 0, &ap, 0};
  ASSERT_OK(logitcore_apply_penalties_f64(&xm, &ym, &im, &p, 0));
  // row 0: token 0 once (2 / 2 - 0.25 - 0.5), token 1 twice (-1 * 2 - 2 * 0.25 - 0.5); row 1
  // (rho 1): token 3 three times, token 5 once; the others unchanged
  EXPECT_EQ(y, (std::vector<double>{0.25, -3.0, 0.5, 3.0, -2.0, 0.0, 1, 2, 3, 4 - 0.75 - 0.5, 5, 6 - 0.25 - 0.5}));
  const std::vector<std::int64_t> bad = {0, 6, -1, -1, 0, 0, 0, 0};
  const logitcore_matrix bm = mat(bad.data(), 2, 4);
  std::fill(y.begin(), y.end(), kSentinel);
  EXPECT_FAILS(logitcore_apply_penalties_f64(&xm, &ym, &bm, &p, 0), LOGITCORE_OUT_OF_RANGE,
               "token_ids[0, 1] = 6 is out of range");
  EXPECT_EQ(y, std::vector<double>(12, kSentinel));
  const std::vector<std::int64_t> bad2 = {0, -2, -1, -1, 0, 0, 0, 0};
  const logitcore_matrix bm2 = mat(bad2.data(), 2, 4);
  EXPECT_FAILS(logitcore_apply_penalties_f64(&xm, &ym, &bm2, &p, 0), LOGITCORE_OUT_OF_RANGE, "= -2 is out of range");
  const double zero = 0.0;
  logitcore_penalty_params q{&zero, 0, nullptr, 0, nullptr, 0};
  EXPECT_FAILS(logitcore_apply_penalties_f64(&xm, &ym, &im, &q, 0), LOGITCORE_INVALID_ARGUMENT,
               "repetition_penalty = 0");
}

TEST(Sampling, PenaltiesInPlaceAndCppParamsCopy) {
  std::vector<float> x = {1.0f, -1.0f, 2.0f, 4.0f};
  const std::vector<std::int64_t> ids = {3, 3, 1};
  logitcore::PenaltyParams p;
  p.with_repetition(2.0).with_presence(1.0);
  const logitcore::PenaltyParams copy = p;  // points at its own values
  p.with_repetition(10.0);
  logitcore::apply_penalties(logitcore::Matrix<const float>(x.data(), 1, 4), logitcore::Matrix<float>(x.data(), 1, 4),
                             logitcore::Matrix<const std::int64_t>(ids.data(), 1, 3), copy);
  EXPECT_EQ(x, (std::vector<float>{1.0f, -3.0f, 2.0f, 1.0f}));
  logitcore::SamplingParams a;
  a.with_temperature(0);
  const logitcore::SamplingParams b = a;
  a.with_temperature(5);
  EXPECT_EQ(*b.temperature, 0.0);
  EXPECT_NE(b.temperature, a.temperature);
}

}  // namespace
