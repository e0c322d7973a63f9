// Shared helpers of the GoogleTest suite: views over test buffers, double-precision reference
// loops (docs/math.md), error-path assertions and a guard that restores the ISA and thread count.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "logitcore/logitcore.h"

namespace lct {

using i64 = std::int64_t;
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// A value no function computes here: outputs are filled with it to see whether they were written.
constexpr double kSentinel = -7777.25;

// ---- views ------------------------------------------------------------------------------------

inline logitcore_matrix mat(const void* data, i64 rows, i64 cols, i64 row_stride, i64 col_stride) {
  return {const_cast<void*>(data), rows, cols, row_stride, col_stride};
}
inline logitcore_matrix mat(const void* data, i64 rows, i64 cols) { return mat(data, rows, cols, cols, 1); }
inline logitcore_vector vec(const void* data, i64 size, i64 stride = 1) {
  return {const_cast<void*>(data), size, stride};
}

template <class T>
T at(const logitcore_matrix& m, i64 i, i64 j) {
  return static_cast<const T*>(m.data)[i * m.row_stride + j * m.col_stride];
}
template <class T>
T& at(const logitcore_vector& v, i64 i) {
  return static_cast<T*>(v.data)[i * v.stride];
}
template <class T>
std::vector<double> row_of(const logitcore_matrix& m, i64 i) {
  std::vector<double> r(static_cast<size_t>(m.cols));
  for (i64 j = 0; j < m.cols; ++j) r[static_cast<size_t>(j)] = at<T>(m, i, j);
  return r;
}

// ---- data ---------------------------------------------------------------------------------------

template <class T>
std::vector<T> uniform(size_t n, double lo, double hi, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> d(lo, hi);
  std::vector<T> v(n);
  for (auto& e : v) e = static_cast<T>(d(rng));
  return v;
}

// rows x cols probability rows (positive entries, each row normalized in the data type)
template <class T>
std::vector<T> prob_rows(i64 rows, i64 cols, unsigned seed) {
  std::vector<T> v = uniform<T>(static_cast<size_t>(rows * cols), 0.0, 1.0, seed);
  for (i64 i = 0; i < rows; ++i) {
    double s = 0;
    for (i64 j = 0; j < cols; ++j) {
      double e = std::pow(static_cast<double>(v[static_cast<size_t>(i * cols + j)]), 3.0) + 1e-3;
      v[static_cast<size_t>(i * cols + j)] = static_cast<T>(e);
      s += e;
    }
    for (i64 j = 0; j < cols; ++j) {
      auto& e = v[static_cast<size_t>(i * cols + j)];
      e = static_cast<T>(static_cast<double>(e) / s);
    }
  }
  return v;
}

// ---- references (docs/math.md; long double sums, specials by the documented rules) -------------

inline double ref_lse(const std::vector<double>& x) {
  double m = -kInf;
  size_t arg = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    if (std::isnan(x[i])) return kNaN;
    if (x[i] > m) m = x[i], arg = i;
  }
  if (m == -kInf || m == kInf) return m;
  long double rest = 0;  // every term but one maximal one: lse = m + log1p(rest)
  for (size_t i = 0; i < x.size(); ++i)
    if (i != arg) rest += std::exp(static_cast<long double>(x[i]) - m);
  return m + static_cast<double>(std::log1p(rest));
}

struct SignedValue {
  double value;
  double sign;
};
// log|sum b exp(x)| and its sign, finite entries; entries with b == 0 removed.
inline SignedValue ref_lse_weighted(const std::vector<double>& x, const std::vector<double>& b) {
  double m = -kInf;
  for (size_t i = 0; i < x.size(); ++i)
    if (b[i] != 0) m = std::max(m, x[i]);
  if (m == -kInf) return {-kInf, 0.0};
  long double s = 0;
  for (size_t i = 0; i < x.size(); ++i)
    if (b[i] != 0) s += static_cast<long double>(b[i]) * std::exp(static_cast<long double>(x[i]) - m);
  if (s == 0) return {-kInf, 0.0};
  return {m + static_cast<double>(std::log(std::fabs(s))), s > 0 ? 1.0 : -1.0};
}

inline std::vector<double> ref_log_softmax(const std::vector<double>& x) {
  const double l = ref_lse(x);
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] - l;
  return y;
}
inline std::vector<double> ref_softmax(const std::vector<double>& x) {
  const double l = ref_lse(x);
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = static_cast<double>(std::exp(static_cast<long double>(x[i]) - l));
  return y;
}
inline double ref_entropy(const std::vector<double>& p) {
  long double h = 0;
  for (double e : p) {
    if (std::isnan(e) || e < 0) return kNaN;
    if (e > 0) h -= static_cast<long double>(e) * std::log(static_cast<long double>(e));
  }
  return static_cast<double>(h);
}
inline double ref_softmax_entropy(const std::vector<double>& x) {
  double m = -kInf;
  for (double e : x) m = std::max(m, e);
  long double s0 = 0, s1 = 0;
  for (double e : x) {
    const long double w = static_cast<long double>(e) - m;
    const long double t = std::exp(w);
    s0 += t;
    s1 += t * w;
  }
  return static_cast<double>(std::log(s0) - s1 / s0);
}

struct LossRef {
  double loss;
  double weight;
};
// docs/math.md §3, straight from the formulas (moderate l only).
inline LossRef ref_loss(int kind, double param, double threshold, double l) {
  const double p = std::exp(l);
  switch (kind) {
    case LOGITCORE_LOSS_GAMMA_CE: {
      const double g = param;
      if (g == 1) return {1 - p, std::max(threshold, p)};
      const double d = g + (1 - g) * p;
      return {-std::log(d) / (1 - g), std::max(threshold, p / d)};
    }
    case LOGITCORE_LOSS_GCE: return {(1 - std::pow(p, param)) / param, std::pow(p, param)};
    default: {
      const double g = param, om = -std::expm1(l);
      return {-std::pow(om, g) * l, std::pow(om, g) * (1 + g * p * (-l) / om)};
    }
  }
}

// A batch loss, reduced as documented, and its gradient (rows x cols, row-major).
struct BatchLossRef {
  std::vector<double> row_loss;
  double reduced;
  std::vector<double> grad;
};
inline BatchLossRef ref_batch_loss(const std::vector<double>& x, i64 rows, i64 cols, const std::vector<i64>& target,
                                   const logitcore_loss_options& o) {
  BatchLossRef r{std::vector<double>(static_cast<size_t>(rows)), 0.0,
                 std::vector<double>(static_cast<size_t>(rows * cols), 0.0)};
  double total_w = 0, sum = 0;
  std::vector<double> wrow(static_cast<size_t>(rows), 0.0);
  for (i64 i = 0; i < rows; ++i) {
    const i64 y = target[static_cast<size_t>(i)];
    if (y == o.ignore_index) continue;
    const std::vector<double> xi(x.begin() + i * cols, x.begin() + (i + 1) * cols);
    const double l = xi[static_cast<size_t>(y)] - ref_lse(xi);
    const LossRef v = ref_loss(o.kind, o.param, o.threshold, l);
    const double cw = o.class_weight ? o.class_weight[y] : 1.0;
    r.row_loss[static_cast<size_t>(i)] = cw * v.loss;
    sum += cw * v.loss;
    total_w += cw;
    wrow[static_cast<size_t>(i)] = cw * v.weight;
  }
  double scale = 1;
  if (o.reduction == LOGITCORE_REDUCTION_MEAN) {
    r.reduced = total_w != 0 ? sum / total_w : 0.0;
    scale = total_w != 0 ? 1 / total_w : 0.0;
  } else {
    r.reduced = sum;
  }
  for (i64 i = 0; i < rows; ++i) {
    const i64 y = target[static_cast<size_t>(i)];
    if (y == o.ignore_index) continue;
    const std::vector<double> xi(x.begin() + i * cols, x.begin() + (i + 1) * cols);
    const std::vector<double> p = ref_softmax(xi);
    for (i64 j = 0; j < cols; ++j)
      r.grad[static_cast<size_t>(i * cols + j)] = scale * wrow[static_cast<size_t>(i)] * (p[static_cast<size_t>(j)] - (j == y));
  }
  return r;
}

// ---- assertions ---------------------------------------------------------------------------------

inline std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

inline std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t k = 0; k <= s.size(); ++k)
    if (k == s.size() || s[k] == sep) {
      parts.push_back(s.substr(start, k - start));
      start = k + 1;
    }
  return parts;
}

// The call failed with `want` and logitcore_last_error() names the problem: `needles` is a list of
// terms separated by '&', all of which must occur in the message (case-insensitive), each a list
// of alternatives separated by '|' ("grad&overlap", "logits|x&null").
inline ::testing::AssertionResult Fails(logitcore_status got, logitcore_status want, const std::string& needles) {
  const char* err = logitcore_last_error();
  const std::string msg = err ? err : "(null)";
  if (got != want)
    return ::testing::AssertionFailure() << "status " << logitcore_status_name(got) << " (" << got << "), expected "
                                         << logitcore_status_name(want) << "; last_error: \"" << msg << "\"";
  for (const std::string& term : split(needles, '&')) {
    bool found = false;
    for (const std::string& alt : split(term, '|')) found = found || lower(msg).find(lower(alt)) != std::string::npos;
    if (!found)
      return ::testing::AssertionFailure() << "last_error \"" << msg << "\" does not mention \"" << term << "\"";
  }
  return ::testing::AssertionSuccess();
}
#define EXPECT_FAILS(call, status, needle) EXPECT_TRUE(::lct::Fails((call), (status), (needle))) << #call
#define EXPECT_OK(call)                                                                      \
  do {                                                                                       \
    const logitcore_status st_ = (call);                                                     \
    EXPECT_EQ(st_, LOGITCORE_OK) << #call << ": " << logitcore_last_error();                 \
  } while (0)
#define ASSERT_OK(call)                                                                      \
  do {                                                                                       \
    const logitcore_status st_ = (call);                                                     \
    ASSERT_EQ(st_, LOGITCORE_OK) << #call << ": " << logitcore_last_error();                 \
  } while (0)

// Bitwise equality of two buffers (NaN == NaN of the same payload, -0 != +0).
template <class T>
::testing::AssertionResult BitEqual(const std::vector<T>& a, const std::vector<T>& b) {
  if (a.size() != b.size()) return ::testing::AssertionFailure() << "sizes " << a.size() << " and " << b.size();
  for (size_t i = 0; i < a.size(); ++i)
    if (std::memcmp(&a[i], &b[i], sizeof(T)) != 0)
      return ::testing::AssertionFailure() << "first difference at " << i << ": " << a[i] << " vs " << b[i];
  return ::testing::AssertionSuccess();
}

// Every element still holds the sentinel.
template <class T>
::testing::AssertionResult Untouched(const std::vector<T>& a) {
  for (size_t i = 0; i < a.size(); ++i)
    if (!(a[i] == static_cast<T>(kSentinel)))
      return ::testing::AssertionFailure() << "element " << i << " was written: " << +a[i];
  return ::testing::AssertionSuccess();
}

// |got - want| <= tol * (1 + |want|), with NaN matching NaN and infinities matching exactly.
inline ::testing::AssertionResult Near(double got, double want, double tol) {
  if (std::isnan(want) || std::isnan(got) || std::isinf(want) || std::isinf(got)) {
    if ((std::isnan(want) && std::isnan(got)) || got == want) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << got << " vs " << want;
  }
  if (std::fabs(got - want) <= tol * (1 + std::fabs(want))) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << got << " vs " << want << " (diff " << got - want << ", tol "
                                       << tol * (1 + std::fabs(want)) << ")";
}

// ---- global state --------------------------------------------------------------------------------

// Restores the ISA and the process-wide thread count when it goes out of scope.
class RuntimeGuard {
 public:
  RuntimeGuard() : isa_(logitcore_get_isa()), threads_(logitcore_get_num_threads()) {}
  ~RuntimeGuard() {
    logitcore_set_isa(logitcore_isa_name(isa_));
    logitcore_set_num_threads(0);
    if (logitcore_get_num_threads() != threads_) logitcore_set_num_threads(threads_);
  }
  RuntimeGuard(const RuntimeGuard&) = delete;
  RuntimeGuard& operator=(const RuntimeGuard&) = delete;

 private:
  logitcore_isa isa_;
  int threads_;
};

inline std::vector<std::string> supported_isa_names() {
  std::vector<std::string> v;
  for (int i = 0; i < LOGITCORE_ISA_COUNT; ++i)
    if (logitcore_isa_supported(i)) v.emplace_back(logitcore_isa_name(i));
  return v;
}

// Distance in ulps of T between got and the exact value.
template <class T>
double ulps(T got, double exact) {
  if (static_cast<double>(got) == exact) return 0;
  if (std::isnan(exact) || std::isnan(static_cast<double>(got))) return std::numeric_limits<double>::infinity();
  const double spacing =
      exact == 0 ? std::numeric_limits<T>::denorm_min()
                 : std::max<double>(std::numeric_limits<T>::denorm_min(),
                                    std::ldexp(1.0, std::ilogb(exact) - std::numeric_limits<T>::digits + 1));
  return std::fabs(static_cast<double>(got) - exact) / spacing;
}
// Error of a logarithm in eps: relative where |exact| > 1, absolute below.
template <class T>
double log_err(T got, double exact) {
  if (static_cast<double>(got) == exact) return 0;
  return std::fabs(static_cast<double>(got) - exact) /
         (std::numeric_limits<T>::epsilon() * std::max(1.0, std::fabs(exact)));
}

// ---- the typed C functions by element type ----------------------------------------------------------

template <class T>
struct Api;

#define LCT_API_(T, S, LSE_TOL, SE_TOL, EXP_ULPS, EXP2_ULPS)                                                        \
  template <>                                                                                                    \
  struct Api<T> {                                                                                                \
    static constexpr const char* name = #S;                                                                      \
    /* worst error of the elementwise functions: exp and exp2_core in ulps of the exact result (float32 exp:  \
       1 ulp, logitcore.h); log and log2_core in eps, relative above 1 in magnitude, absolute below */        \
    static constexpr double exp_ulps = EXP_ULPS;                                                                  \
    static constexpr double exp2_ulps = EXP2_ULPS;                                                                \
    static constexpr double log_eps = 1.5;                                                                        \
    /* documented accuracy of logsumexp: |r - exact| <= tol (1 + |r|) (docs/math.md §1.1) */                     \
    static constexpr double lse_tol = LSE_TOL;                                                                    \
    /* entropies: |H - exact| <= ent_tol (1 + max|x|): the sums of §1.4 carry lse's error */                    \
    static constexpr double ent_tol = SE_TOL;                                                                     \
    static constexpr double eps = std::numeric_limits<T>::epsilon();                                              \
    static constexpr int is_f64 = sizeof(T) == 8;                                                                 \
    static logitcore_status logsumexp(const logitcore_matrix* x, const logitcore_matrix* b,                      \
                                      const logitcore_vector* out, const logitcore_vector* sign, int nt) {      \
      return logitcore_logsumexp_##S(x, b, out, sign, nt);                                                       \
    }                                                                                                            \
    static logitcore_status softmax(const logitcore_matrix* x, const logitcore_matrix* y, int nt) {              \
      return logitcore_softmax_##S(x, y, nt);                                                                    \
    }                                                                                                            \
    static logitcore_status log_softmax(const logitcore_matrix* x, const logitcore_matrix* y, int nt) {          \
      return logitcore_log_softmax_##S(x, y, nt);                                                                \
    }                                                                                                            \
    static logitcore_status softmax_entropy(const logitcore_matrix* x, const logitcore_vector* out, int nt) {    \
      return logitcore_softmax_entropy_##S(x, out, nt);                                                          \
    }                                                                                                            \
    static logitcore_status entropy(const logitcore_matrix* p, const logitcore_vector* out, int nt) {            \
      return logitcore_entropy_##S(p, out, nt);                                                                  \
    }                                                                                                            \
    static logitcore_status state_update(double* m, double* u, const logitcore_matrix* x, int nt) {              \
      return logitcore_lse_state_update_##S(m, u, x, nt);                                                        \
    }                                                                                                            \
    static logitcore_status entropy_normalize(const logitcore_matrix* x, const logitcore_matrix* out,            \
                                              const double* target, i64 target_stride,                          \
                                              const logitcore_en_options* opt, const logitcore_en_info* info,   \
                                              int nt) {                                                          \
      return logitcore_entropy_normalize_##S(x, out, target, target_stride, opt, info, nt);                      \
    }                                                                                                            \
    static logitcore_status loss(const logitcore_matrix* x, const i64* target, const logitcore_loss_options* o, \
                                 double* row_loss, double* reduced, const logitcore_matrix* grad, int nt) {      \
      return logitcore_loss_##S(x, target, o, row_loss, reduced, grad, nt);                                      \
    }                                                                                                            \
    static logitcore_status exp(const T* x, i64 n, T* y) { return logitcore_exp_##S(x, n, y); }                  \
    static logitcore_status log(const T* x, i64 n, T* y) { return logitcore_log_##S(x, n, y); }                  \
    static logitcore_status exp2_core(const T* x, i64 n, T* y) { return logitcore_exp2_core_##S(x, n, y); }      \
    static logitcore_status log2_core(const T* x, i64 n, T* y) { return logitcore_log2_core_##S(x, n, y); }      \
  };

LCT_API_(float, f32, 1e-6, 1e-6, 1.0, 1.5)
LCT_API_(double, f64, 1e-13, 1e-13, 2.5, 2.5)
#undef LCT_API_

struct TypeNames {
  template <class T>
  static std::string GetName(int) {
    return Api<T>::name;
  }
};
using FloatTypes = ::testing::Types<float, double>;

}  // namespace lct
