// logitcore: the C++ API (C++17, header-only over the C ABI of logitcore.h).
//
// Views instead of pointer lists, overloads for float and double, defaults in constructors and
// errors as standard exceptions: std::invalid_argument (a bad shape, stride, pointer, option or
// parameter; also an ISA the CPU lacks), std::out_of_range (a loss target outside [0, classes)),
// std::bad_alloc (scratch allocation) and std::runtime_error (anything else). When a function
// throws, it has written nothing to its outputs. The ownership, stride and threading rules are
// those of logitcore.h: the caller owns every buffer, strides are in elements, num_threads = 0
// means the process-wide setting, results are bitwise identical for every thread count.
//
//   #include <logitcore/logitcore.hpp>
//   std::vector<float> logits(rows * vocab), logp(rows * vocab);
//   logitcore::log_softmax(logitcore::Matrix<const float>(logits.data(), rows, vocab),
//                          logitcore::Matrix<float>(logp.data(), rows, vocab));
#ifndef LOGITCORE_LOGITCORE_HPP
#define LOGITCORE_LOGITCORE_HPP

#include <cstdint>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "logitcore/logitcore.h"

namespace logitcore {

// ---- views ------------------------------------------------------------------------------------

// A strided matrix: element (i, j) is data[i * row_stride + j * col_stride] (elements).
template <class T>
struct Matrix {
  T* data = nullptr;
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  std::int64_t row_stride = 0;
  std::int64_t col_stride = 1;

  Matrix() = default;
  // row-major contiguous
  Matrix(T* d, std::int64_t r, std::int64_t c) : data(d), rows(r), cols(c), row_stride(c), col_stride(1) {}
  Matrix(T* d, std::int64_t r, std::int64_t c, std::int64_t rs, std::int64_t cs = 1)
      : data(d), rows(r), cols(c), row_stride(rs), col_stride(cs) {}
  // a Matrix<float> is a Matrix<const float>
  template <class U, class = std::enable_if_t<std::is_same<const U, T>::value && !std::is_same<U, T>::value>>
  Matrix(const Matrix<U>& m)  // NOLINT(google-explicit-constructor)
      : data(m.data), rows(m.rows), cols(m.cols), row_stride(m.row_stride), col_stride(m.col_stride) {}

  T& operator()(std::int64_t i, std::int64_t j) const { return data[i * row_stride + j * col_stride]; }
  bool empty() const { return rows == 0 || cols == 0; }
  logitcore_matrix c() const {
    return {const_cast<void*>(static_cast<const void*>(data)), rows, cols, row_stride, col_stride};
  }
};

// A strided vector: element i is data[i * stride].
template <class T>
struct Vector {
  T* data = nullptr;
  std::int64_t size = 0;
  std::int64_t stride = 1;

  Vector() = default;
  Vector(T* d, std::int64_t n, std::int64_t s = 1) : data(d), size(n), stride(s) {}
  template <class A, class = std::enable_if_t<std::is_convertible<decltype(std::declval<A&>().data()), T*>::value>>
  Vector(A& container)  // NOLINT(google-explicit-constructor): std::vector and the like
      : data(container.data()), size(static_cast<std::int64_t>(container.size())), stride(1) {}

  T& operator[](std::int64_t i) const { return data[i * stride]; }
  logitcore_vector c() const { return {const_cast<void*>(static_cast<const void*>(data)), size, stride}; }
};

// ---- errors -----------------------------------------------------------------------------------

namespace detail {
inline void check(logitcore_status s) {
  if (s == LOGITCORE_OK) return;
  const std::string msg = logitcore_last_error();
  switch (s) {
    case LOGITCORE_INVALID_ARGUMENT:
    case LOGITCORE_UNSUPPORTED: throw std::invalid_argument(msg);
    case LOGITCORE_OUT_OF_RANGE: throw std::out_of_range(msg);
    case LOGITCORE_OUT_OF_MEMORY: throw std::bad_alloc();
    default: throw std::runtime_error("logitcore: " + msg);
  }
}
}  // namespace detail

// ---- version, ISA, threads --------------------------------------------------------------------

inline std::string version() { return logitcore_version(); }

// The ISA in use ("scalar", "avx2", "avx512").
inline std::string isa() { return logitcore_isa_name(logitcore_get_isa()); }
// Use an ISA by name, or "auto" for the best supported one.
inline void set_isa(const std::string& name) { detail::check(logitcore_set_isa(name.c_str())); }
inline std::vector<std::string> compiled_isas() {
  std::vector<std::string> v;
  for (int i = 0; i < LOGITCORE_ISA_COUNT; ++i)
    if (logitcore_isa_compiled(i)) v.emplace_back(logitcore_isa_name(i));
  return v;
}
inline std::vector<std::string> supported_isas() {
  std::vector<std::string> v;
  for (int i = 0; i < LOGITCORE_ISA_COUNT; ++i)
    if (logitcore_isa_supported(i)) v.emplace_back(logitcore_isa_name(i));
  return v;
}

inline int num_threads() { return logitcore_get_num_threads(); }
inline void set_num_threads(int n) { detail::check(logitcore_set_num_threads(n)); }
inline bool have_openmp() { return logitcore_have_openmp() != 0; }
inline std::int64_t block_size() { return logitcore_block_size(); }

// ---- half-precision storage (docs/math.md §1.5) -------------------------------------------------

// The element types of bfloat16 and IEEE float16 data (logitcore_bf16 / logitcore_f16: the 16
// bits of a value). The logsumexp family, the streaming state, the losses, the penalties,
// entropy normalization, the sampler and csr_matmul's b take them and compute in float32;
// their per-row results are float.
struct bfloat16 {
  std::uint16_t bits;
};
struct float16 {
  std::uint16_t bits;
};
static_assert(sizeof(bfloat16) == 2 && sizeof(float16) == 2, "16-bit storage");

// ---- the logsumexp family (docs/math.md §1) ----------------------------------------------------

// T: the data's type; R: the per-row results' (T, or float for the half-precision types)
#define LOGITCORE_FAMILY_(T, R, S)                                                                           \
  /* out[i] = logsumexp of row i of x */                                                                     \
  inline void logsumexp(Matrix<const T> x, Vector<R> out, int num_threads = 0) {                             \
    const logitcore_matrix cx = x.c();                                                                       \
    const logitcore_vector co = out.c();                                                                     \
    detail::check(logitcore_logsumexp_##S(&cx, nullptr, &co, nullptr, num_threads));                        \
  }                                                                                                          \
  /* weighted: out[i] = log sum_j b(i,j) exp(x(i,j)); with sign.data set, log|sum| and its sign */           \
  inline void logsumexp(Matrix<const T> x, Matrix<const T> b, Vector<R> out, Vector<R> sign = {},            \
                        int num_threads = 0) {                                                               \
    const logitcore_matrix cx = x.c(), cb = b.c();                                                           \
    const logitcore_vector co = out.c(), cs = sign.c();                                                      \
    detail::check(logitcore_logsumexp_##S(&cx, b.data ? &cb : nullptr, &co, sign.data ? &cs : nullptr,      \
                                          num_threads));                                                     \
  }                                                                                                          \
  /* y = softmax(x) per row (y may be x) */                                                                  \
  inline void softmax(Matrix<const T> x, Matrix<T> y, int num_threads = 0) {                                 \
    const logitcore_matrix cx = x.c(), cy = y.c();                                                           \
    detail::check(logitcore_softmax_##S(&cx, &cy, num_threads));                                             \
  }                                                                                                          \
  inline void log_softmax(Matrix<const T> x, Matrix<T> y, int num_threads = 0) {                             \
    const logitcore_matrix cx = x.c(), cy = y.c();                                                           \
    detail::check(logitcore_log_softmax_##S(&cx, &cy, num_threads));                                         \
  }                                                                                                          \
  /* out[i] = entropy of softmax(row i), nats */                                                             \
  inline void softmax_entropy(Matrix<const T> x, Vector<R> out, int num_threads = 0) {                       \
    const logitcore_matrix cx = x.c();                                                                       \
    const logitcore_vector co = out.c();                                                                     \
    detail::check(logitcore_softmax_entropy_##S(&cx, &co, num_threads));                                     \
  }                                                                                                          \
  /* out[i] = -sum p log p over row i of p, nats */                                                          \
  inline void entropy(Matrix<const T> p, Vector<R> out, int num_threads = 0) {                               \
    const logitcore_matrix cp = p.c();                                                                       \
    const logitcore_vector co = out.c();                                                                     \
    detail::check(logitcore_entropy_##S(&cp, &co, num_threads));                                             \
  }

LOGITCORE_FAMILY_(float, float, f32)
LOGITCORE_FAMILY_(double, double, f64)
LOGITCORE_FAMILY_(bfloat16, float, bf16)
LOGITCORE_FAMILY_(float16, float, f16)
#undef LOGITCORE_FAMILY_

// The streaming state over caller-owned arrays of n rows (see logitcore.h): max and excess.
inline void lse_state_init(double* max, double* excess, std::int64_t n) {
  detail::check(logitcore_lse_state_init(max, excess, n));
}
inline void lse_state_update(double* max, double* excess, Matrix<const float> x, int num_threads = 0) {
  const logitcore_matrix cx = x.c();
  detail::check(logitcore_lse_state_update_f32(max, excess, &cx, num_threads));
}
inline void lse_state_update(double* max, double* excess, Matrix<const double> x, int num_threads = 0) {
  const logitcore_matrix cx = x.c();
  detail::check(logitcore_lse_state_update_f64(max, excess, &cx, num_threads));
}
inline void lse_state_update(double* max, double* excess, Matrix<const bfloat16> x, int num_threads = 0) {
  const logitcore_matrix cx = x.c();
  detail::check(logitcore_lse_state_update_bf16(max, excess, &cx, num_threads));
}
inline void lse_state_update(double* max, double* excess, Matrix<const float16> x, int num_threads = 0) {
  const logitcore_matrix cx = x.c();
  detail::check(logitcore_lse_state_update_f16(max, excess, &cx, num_threads));
}
inline void lse_state_merge(double* max, double* excess, const double* max2, const double* excess2, std::int64_t n) {
  detail::check(logitcore_lse_state_merge(max, excess, max2, excess2, n));
}
inline void lse_state_result(const double* max, const double* excess, std::int64_t n, double* out) {
  detail::check(logitcore_lse_state_result(max, excess, n, out));
}

// Streaming logsumexp of `rows` rows whose entries arrive in column blocks (or from other
// workers' states, merged): (max, excess) per row, logsumexp = max + log1p(excess).
class LogSumExpState {
 public:
  explicit LogSumExpState(std::int64_t rows = 0)
      : max_(checked_rows(rows)), excess_(static_cast<std::size_t>(rows)) {
    lse_state_init(max_.data(), excess_.data(), rows);
  }
  std::int64_t rows() const { return static_cast<std::int64_t>(max_.size()); }
  // merge the rows of x (x.rows == rows(), any number of columns)
  LogSumExpState& update(Matrix<const float> x, int num_threads = 0) {
    check_rows(x.rows);
    lse_state_update(max_.data(), excess_.data(), x, num_threads);
    return *this;
  }
  LogSumExpState& update(Matrix<const double> x, int num_threads = 0) {
    check_rows(x.rows);
    lse_state_update(max_.data(), excess_.data(), x, num_threads);
    return *this;
  }
  LogSumExpState& update(Matrix<const bfloat16> x, int num_threads = 0) {
    check_rows(x.rows);
    lse_state_update(max_.data(), excess_.data(), x, num_threads);
    return *this;
  }
  LogSumExpState& update(Matrix<const float16> x, int num_threads = 0) {
    check_rows(x.rows);
    lse_state_update(max_.data(), excess_.data(), x, num_threads);
    return *this;
  }
  LogSumExpState& merge(const LogSumExpState& other) {
    if (other.rows() != rows()) throw std::invalid_argument("cannot merge states of different row counts");
    lse_state_merge(max_.data(), excess_.data(), other.max_.data(), other.excess_.data(), rows());
    return *this;
  }
  std::vector<double> result() const {
    std::vector<double> out(max_.size());
    lse_state_result(max_.data(), excess_.data(), rows(), out.data());
    return out;
  }
  const std::vector<double>& max() const { return max_; }
  const std::vector<double>& excess() const { return excess_; }

 private:
  static std::size_t checked_rows(std::int64_t rows) {
    if (rows < 0) throw std::invalid_argument("rows must be >= 0, got " + std::to_string(rows));
    return static_cast<std::size_t>(rows);
  }
  void check_rows(std::int64_t x_rows) const {
    if (x_rows != rows())
      throw std::invalid_argument("x has " + std::to_string(x_rows) + " rows, the state " + std::to_string(rows()));
  }
  std::vector<double> max_, excess_;
};

// ---- entropy normalization (docs/math.md §2) ----------------------------------------------------

struct EntropyNormalizeOptions : logitcore_en_options {
  EntropyNormalizeOptions() : logitcore_en_options(logitcore_en_default_options()) {}
  // rows are logits (softmax(gamma z)) rather than probabilities
  static EntropyNormalizeOptions logits() {
    EntropyNormalizeOptions o;
    o.input = LOGITCORE_EN_LOGITS;
    return o;
  }
};

// Per-row results, sized by resize(rows) (entropy_normalize does it).
struct EntropyNormalizeInfo {
  std::vector<double> gamma, h_min, h_max, entropy;
  std::vector<std::int32_t> n_iter;
  std::vector<std::uint8_t> converged, clipped;
  std::vector<std::int8_t> status;  // logitcore_en_row_status

  void resize(std::int64_t rows) {
    if (rows < 0) throw std::invalid_argument("rows must be >= 0, got " + std::to_string(rows));
    const auto n = static_cast<std::size_t>(rows);
    gamma.resize(n);
    h_min.resize(n);
    h_max.resize(n);
    entropy.resize(n);
    n_iter.resize(n);
    converged.resize(n);
    clipped.resize(n);
    status.resize(n);
  }
  logitcore_en_info c() {
    return {gamma.data(), n_iter.data(), converged.data(), clipped.data(),
            status.data(), h_min.data(),  h_max.data(),     entropy.data()};
  }
};

#define LOGITCORE_EN_(T, S)                                                                                   \
  /* q = entropy-normalized rows of x with entropy target[i * target_stride] (nats); per-row results into the \
     caller's arrays of info (any of them null: not wanted) */                                                 \
  inline void entropy_normalize(Matrix<const T> x, Matrix<T> out, const double* target, std::int64_t target_stride, \
                                const logitcore_en_options& opt, const logitcore_en_info& info,                 \
                                int num_threads = 0) {                                                          \
    const logitcore_matrix cx = x.c(), co = out.c();                                                          \
    detail::check(logitcore_entropy_normalize_##S(&cx, &co, target, target_stride, &opt, &info, num_threads)); \
  }                                                                                                           \
  /* the same with the per-row results in an EntropyNormalizeInfo (resized to x.rows), or none */             \
  inline void entropy_normalize(Matrix<const T> x, Matrix<T> out, const double* target, std::int64_t target_stride, \
                                const EntropyNormalizeOptions& opt = {}, EntropyNormalizeInfo* info = nullptr,  \
                                int num_threads = 0) {                                                          \
    if (info) info->resize(x.rows); /* (throws invalid_argument for negative rows) */                          \
    entropy_normalize(x, out, target, target_stride, opt, info ? info->c() : logitcore_en_info{}, num_threads); \
  }                                                                                                           \
  /* one target entropy (nats) for every row */                                                              \
  inline void entropy_normalize(Matrix<const T> x, Matrix<T> out, double target,                              \
                                const EntropyNormalizeOptions& opt = {}, EntropyNormalizeInfo* info = nullptr,  \
                                int num_threads = 0) {                                                          \
    entropy_normalize(x, out, &target, 0, opt, info, num_threads);                                            \
  }

LOGITCORE_EN_(float, f32)
LOGITCORE_EN_(double, f64)
LOGITCORE_EN_(bfloat16, bf16)
LOGITCORE_EN_(float16, f16)
#undef LOGITCORE_EN_

// ---- fused losses (docs/math.md §3) -------------------------------------------------------------

struct LossOptions : logitcore_loss_options {
  LossOptions() : logitcore_loss_options(logitcore_loss_default_options()) {}
  static LossOptions gamma_cross_entropy(double gamma, double threshold = 0.0) {
    LossOptions o;
    o.kind = LOGITCORE_LOSS_GAMMA_CE;
    o.param = gamma;
    o.threshold = threshold;
    return o;
  }
  static LossOptions generalized_cross_entropy(double q) {
    LossOptions o;
    o.kind = LOGITCORE_LOSS_GCE;
    o.param = q;
    return o;
  }
  static LossOptions focal(double gamma) {
    LossOptions o;
    o.kind = LOGITCORE_LOSS_FOCAL;
    o.param = gamma;
    return o;
  }
  LossOptions& reduce(logitcore_reduction r) {
    reduction = r;
    return *this;
  }
  LossOptions& weights(const double* class_weights) {
    class_weight = class_weights;
    return *this;
  }
  LossOptions& row_weights(const double* weights) {
    row_weight = weights;
    return *this;
  }
  LossOptions& ignore(std::int64_t index) {
    ignore_index = index;
    return *this;
  }
};

#define LOGITCORE_LOSS_(T, S)                                                                                \
  /* The reduced loss; per-row losses into row_loss (if not null); the gradient of the reduced loss into     \
     grad (if grad.data is set; grad may be x itself: in place). */                                          \
  inline double loss(Matrix<const T> x, const std::int64_t* target, const LossOptions& opt = {},              \
                     double* row_loss = nullptr, Matrix<T> grad = {}, int num_threads = 0) {                  \
    const logitcore_matrix cx = x.c(), cg = grad.c();                                                        \
    double reduced = 0;                                                                                      \
    detail::check(logitcore_loss_##S(&cx, target, &opt, row_loss, &reduced, grad.data ? &cg : nullptr,       \
                                     num_threads));                                                          \
    return reduced;                                                                                          \
  }

LOGITCORE_LOSS_(float, f32)
LOGITCORE_LOSS_(double, f64)
LOGITCORE_LOSS_(bfloat16, bf16)
LOGITCORE_LOSS_(float16, f16)
#undef LOGITCORE_LOSS_

// Loss value and gradient weight of one row from l = log p_y.
struct LossValue {
  double loss;
  double weight;
};
inline LossValue loss_from_logp(const LossOptions& opt, double logp) {
  LossValue v{0, 0};
  detail::check(logitcore_loss_from_logp(&opt, logp, &v.loss, &v.weight));
  return v;
}

// ---- token sampling (docs/math.md §4) -----------------------------------------------------------

// Per-row settings: each a pointer + stride (stride 0: one value for every row); setters for one
// value shared by every row (the object must outlive the call: it holds the values).
struct SamplingParams : logitcore_sampling_params {
  SamplingParams() : logitcore_sampling_params(logitcore_sampling_default_params()) {}
  SamplingParams(const SamplingParams& o) : logitcore_sampling_params(o), v_(o.v_) { rebind(o); }
  SamplingParams& operator=(const SamplingParams& o) {
    static_cast<logitcore_sampling_params&>(*this) = o;
    v_ = o.v_;
    rebind(o);
    return *this;
  }
  SamplingParams& with_temperature(double t) { return set_(v_.t, t, temperature, temperature_stride); }
  SamplingParams& with_top_k(std::int64_t k) { return set_(v_.k, k, top_k, top_k_stride); }
  SamplingParams& with_top_p(double p) { return set_(v_.p, p, top_p, top_p_stride); }
  SamplingParams& with_min_p(double p) { return set_(v_.mp, p, min_p, min_p_stride); }
  SamplingParams& with_target_entropy(double h) { return set_(v_.h, h, target_entropy, target_entropy_stride); }
  SamplingParams& with_seed(std::uint64_t s) { return set_(v_.seed, s, seed, seed_stride); }
  SamplingParams& with_offset(std::uint64_t o) { return set_(v_.off, o, offset, offset_stride); }

 private:
  struct Values {
    double t = 1, p = 1, mp = 0, h = 0;
    std::int64_t k = 0;
    std::uint64_t seed = 0, off = 0;
  } v_;
  template <class V, class P>
  SamplingParams& set_(V& slot, V value, const P*& ptr, std::int64_t& stride) {
    slot = value;
    ptr = &slot;
    stride = 0;
    return *this;
  }
  // pointers into the source's own values move to ours
  void rebind(const SamplingParams& o) {
    if (o.temperature == &o.v_.t) temperature = &v_.t;
    if (o.top_k == &o.v_.k) top_k = &v_.k;
    if (o.top_p == &o.v_.p) top_p = &v_.p;
    if (o.min_p == &o.v_.mp) min_p = &v_.mp;
    if (o.target_entropy == &o.v_.h) target_entropy = &v_.h;
    if (o.seed == &o.v_.seed) seed = &v_.seed;
    if (o.offset == &o.v_.off) offset = &v_.off;
  }
};

// Log-probabilities requested with a sample: n per row (row-major rows x n), and the chosen token's.
struct SampleLogprobs {
  std::int64_t n = 0;
  double* token_logprob = nullptr;  // rows
  std::int64_t* top_tokens = nullptr;  // rows x n
  double* top_logprobs = nullptr;      // rows x n
};

// Penalties from previous tokens: per-row pointer + stride (null: off), or one value for all.
struct PenaltyParams : logitcore_penalty_params {
  PenaltyParams() : logitcore_penalty_params{nullptr, 0, nullptr, 0, nullptr, 0} {}
  PenaltyParams(const PenaltyParams& o) : logitcore_penalty_params(o), r_(o.r_), f_(o.f_), p_(o.p_) { rebind(o); }
  PenaltyParams& operator=(const PenaltyParams& o) {
    static_cast<logitcore_penalty_params&>(*this) = o;
    r_ = o.r_;
    f_ = o.f_;
    p_ = o.p_;
    rebind(o);
    return *this;
  }
  PenaltyParams& with_repetition(double rho) { r_ = rho; repetition = &r_; repetition_stride = 0; return *this; }
  PenaltyParams& with_frequency(double a) { f_ = a; frequency = &f_; frequency_stride = 0; return *this; }
  PenaltyParams& with_presence(double a) { p_ = a; presence = &p_; presence_stride = 0; return *this; }

 private:
  double r_ = 1, f_ = 0, p_ = 0;
  void rebind(const PenaltyParams& o) {
    if (o.repetition == &o.r_) repetition = &r_;
    if (o.frequency == &o.f_) frequency = &f_;
    if (o.presence == &o.p_) presence = &p_;
  }
};

// The uniform of (seed, offset) (docs/math.md §4.2).
inline double sample_uniform(std::uint64_t seed, std::uint64_t offset) { return logitcore_sample_uniform(seed, offset); }

#define LOGITCORE_SAMPLE_(T, S)                                                                              \
  /* One token per row into tokens (rows entries); log-probabilities if lp.n > 0 or lp.token_logprob. */     \
  inline void sample(Matrix<const T> logits, const SamplingParams& params, std::int64_t* tokens,              \
                     const SampleLogprobs& lp = {}, int num_threads = 0) {                                    \
    const logitcore_matrix cx = logits.c();                                                                  \
    detail::check(logitcore_sample_##S(&cx, &params, tokens, lp.n, lp.token_logprob, lp.top_tokens,           \
                                       lp.top_logprobs, num_threads));                                       \
  }                                                                                                          \
  /* The distribution sample() draws from: probs / kept (each optional: data null) and gamma (optional). */  \
  inline void sample_filter(Matrix<const T> logits, const SamplingParams& params, Matrix<T> probs,            \
                            Matrix<std::uint8_t> kept = {}, double* gamma = nullptr, int num_threads = 0) {  \
    const logitcore_matrix cx = logits.c(), cp = probs.c(), ck = kept.c();                                   \
    detail::check(logitcore_sample_filter_##S(&cx, &params, probs.data ? &cp : nullptr,                       \
                                              kept.data ? &ck : nullptr, gamma, num_threads));               \
  }                                                                                                          \
  /* y = x with the penalties of each row's previous tokens (token_ids: rows x L, -1 = padding). */          \
  inline void apply_penalties(Matrix<const T> x, Matrix<T> y, Matrix<const std::int64_t> token_ids,           \
                              const PenaltyParams& params, int num_threads = 0) {                             \
    const logitcore_matrix cx = x.c(), cy = y.c(), ci = token_ids.c();                                       \
    detail::check(logitcore_apply_penalties_##S(&cx, &cy, &ci, &params, num_threads));                       \
  }

LOGITCORE_SAMPLE_(float, f32)
LOGITCORE_SAMPLE_(double, f64)

LOGITCORE_SAMPLE_(bfloat16, bf16)
LOGITCORE_SAMPLE_(float16, f16)
#undef LOGITCORE_SAMPLE_

// ---- sparse (CSR) times dense ---------------------------------------------------------------------

// A CSR view (logitcore_csr): row r holds data[p] at column indices[p], p in [indptr[r],
// indptr[r + 1]); indptr has rows + 1 entries. I is std::int32_t or std::int64_t (SciPy's index
// types), T float or double. For A^T use the CSC arrays of A with rows and cols swapped.
template <class T, class I>
struct CsrMatrix {
  static_assert(std::is_same<I, std::int32_t>::value || std::is_same<I, std::int64_t>::value,
                "CsrMatrix indices are std::int32_t or std::int64_t");
  const I* indptr = nullptr;
  const I* indices = nullptr;
  const T* data = nullptr;
  std::int64_t rows = 0;
  std::int64_t cols = 0;

  CsrMatrix() = default;
  CsrMatrix(const I* ip, const I* ix, const T* d, std::int64_t r, std::int64_t c)
      : indptr(ip), indices(ix), data(d), rows(r), cols(c) {}
  std::int64_t nnz() const { return indptr ? static_cast<std::int64_t>(indptr[rows]) : 0; }
  logitcore_csr c() const {
    return {rows, cols, std::is_same<I, std::int32_t>::value ? LOGITCORE_INDEX_INT32 : LOGITCORE_INDEX_INT64,
            indptr, indices, data};
  }
};

// out (a.rows x k) = a times b (a.cols x k); contiguous columns in b and out, any row strides.
// Bitwise the same for every thread count (see logitcore_csr_matmul_f32).
template <class I>
inline void csr_matmul(const CsrMatrix<float, I>& a, Matrix<const float> b, Matrix<float> out, int num_threads = 0) {
  const logitcore_csr ca = a.c();
  const logitcore_matrix cb = b.c(), co = out.c();
  detail::check(logitcore_csr_matmul_f32(&ca, &cb, &co, num_threads));
}
template <class I>
inline void csr_matmul(const CsrMatrix<double, I>& a, Matrix<const double> b, Matrix<double> out,
                       int num_threads = 0) {
  const logitcore_csr ca = a.c();
  const logitcore_matrix cb = b.c(), co = out.c();
  detail::check(logitcore_csr_matmul_f64(&ca, &cb, &co, num_threads));
}
// b of half-precision data: a and out float, the same sums as with b widened to float.
template <class I>
inline void csr_matmul(const CsrMatrix<float, I>& a, Matrix<const bfloat16> b, Matrix<float> out,
                       int num_threads = 0) {
  const logitcore_csr ca = a.c();
  const logitcore_matrix cb = b.c(), co = out.c();
  detail::check(logitcore_csr_matmul_bf16(&ca, &cb, &co, num_threads));
}
template <class I>
inline void csr_matmul(const CsrMatrix<float, I>& a, Matrix<const float16> b, Matrix<float> out,
                       int num_threads = 0) {
  const logitcore_csr ca = a.c();
  const logitcore_matrix cb = b.c(), co = out.c();
  detail::check(logitcore_csr_matmul_f16(&ca, &cb, &co, num_threads));
}

// ---- elementwise (contiguous; y may be x) --------------------------------------------------------

inline void exp(const float* x, std::int64_t n, float* y) { detail::check(logitcore_exp_f32(x, n, y)); }
inline void exp(const double* x, std::int64_t n, double* y) { detail::check(logitcore_exp_f64(x, n, y)); }
inline void log(const float* x, std::int64_t n, float* y) { detail::check(logitcore_log_f32(x, n, y)); }
inline void log(const double* x, std::int64_t n, double* y) { detail::check(logitcore_log_f64(x, n, y)); }

}  // namespace logitcore

#endif  // LOGITCORE_LOGITCORE_HPP
