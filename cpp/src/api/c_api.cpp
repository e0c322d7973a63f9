// The public C API (logitcore.h): every argument check of the library lives here, once. A call
// validates everything it will read or write before writing anything, then hands views to the
// drivers with the runtime's kernel table and thread count. Nothing escapes as an exception:
// failures become a status and a per-thread message.
#include "logitcore/logitcore.h"

#include <math.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <cstdio>
#include <cstdint>
#include <limits>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "drivers/drivers.h"
#include "drivers/entropy_norm.h"
#include "drivers/losses.h"
#include "drivers/sampling.h"
#include "drivers/sparse.h"
#include "runtime/runtime.h"

namespace logitcore_impl {
namespace {

using i64 = std::int64_t;

thread_local std::string t_error;

struct ApiError {
  logitcore_status status;
  std::string message;
};

[[noreturn]] void fail(const std::string& msg, logitcore_status s = LOGITCORE_INVALID_ARGUMENT) {
  throw ApiError{s, msg};
}

void set_error(const char* msg) noexcept {
  try {
    t_error = msg;
  } catch (...) {
    t_error.clear();
  }
}

template <class F>
logitcore_status guard(F&& f) noexcept {
  try {
    f();
    return LOGITCORE_OK;
  } catch (const ApiError& e) {
    set_error(e.message.c_str());
    return e.status;
  } catch (const std::bad_alloc&) {
    set_error("out of memory (scratch allocation failed)");
    return LOGITCORE_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    set_error(e.what());
    return LOGITCORE_INTERNAL;
  } catch (...) {
    set_error("unknown internal error");
    return LOGITCORE_INTERNAL;
  }
}

std::string str(i64 v) { return std::to_string(v); }

int threads(int num_threads) {
  if (num_threads < 0) fail("num_threads must be >= 0 (0: the process-wide setting), got " + std::to_string(num_threads));
  if (num_threads > kMaxThreads)
    fail("num_threads must be at most " + std::to_string(kMaxThreads) + ", got " + std::to_string(num_threads));
  return num_threads == 0 ? get_num_threads() : num_threads;
}

// |a * b| and a + b without overflow, for extents
bool mul_ok(i64 a, i64 b, i64* out) { return !__builtin_mul_overflow(a, b, out); }

// ---- views ----------------------------------------------------------------------------------

// One dimension: extent and stride (elements).
struct Dim {
  i64 n, s;
};

// [lo, hi] element offsets touched by the dims (nothing touched: lo > hi).
std::pair<i64, i64> extent(const Dim* d, int nd, const char* name) {
  i64 lo = 0, hi = 0;
  for (int k = 0; k < nd; ++k) {
    if (d[k].n == 0) return {1, 0};
  }
  for (int k = 0; k < nd; ++k) {
    i64 span;
    if (!mul_ok(d[k].n - 1, d[k].s, &span) || span == std::numeric_limits<i64>::min())
      fail(std::string(name) + ": strides too large (the view spans more than 2^63 elements)");
    if (__builtin_add_overflow(span < 0 ? lo : hi, span, span < 0 ? &lo : &hi))
      fail(std::string(name) + ": strides too large (the view spans more than 2^63 elements)");
  }
  return {lo, hi};
}

struct Checked {
  NdView v;
  std::uintptr_t lo = 1, hi = 0;  // byte range (lo > hi: empty)
  i64 rows = 0, cols = 0;
};

// the byte range [lo, hi] of a view whose element offsets span ex (empty: left lo > hi)
template <class T>
void set_bytes(Checked& c, const void* data, std::pair<i64, i64> ex) {
  if (ex.first > ex.second) return;
  const auto base = reinterpret_cast<std::uintptr_t>(data);
  c.lo = base + static_cast<std::uintptr_t>(ex.first * static_cast<i64>(sizeof(T)));
  c.hi = base + static_cast<std::uintptr_t>(ex.second * static_cast<i64>(sizeof(T))) + sizeof(T) - 1;
}

template <class T>
Checked check_matrix(const logitcore_matrix* m, const char* what) {
  const char* const name = what;  // (messages are built only on failure)
  if (!m) fail(std::string(name) + " is NULL");
  if (m->rows < 0 || m->cols < 0)
    fail(std::string(name) + ": rows and cols must be >= 0, got " + str(m->rows) + " x " + str(m->cols));
  const Dim d[2] = {{m->rows, m->row_stride}, {m->cols, m->col_stride}};
  const auto ex = extent(d, 2, name);
  if (ex.first <= ex.second && m->data == nullptr) fail(std::string(name) + ": data is NULL for a non-empty matrix");
  i64 bytes;
  if (ex.first <= ex.second &&
      (!mul_ok(ex.second - ex.first + 1, static_cast<i64>(sizeof(T)), &bytes)))
    fail(std::string(name) + ": strides too large");
  Checked c;
  c.rows = m->rows;
  c.cols = m->cols;
  c.v.data = m->data;
  c.v.ndim = 2;
  c.v.shape[0] = m->rows;
  c.v.shape[1] = m->cols;
  c.v.strides[0] = m->row_stride;
  c.v.strides[1] = m->col_stride;
  set_bytes<T>(c, m->data, ex);
  return c;
}

template <class T>
Checked check_vector(const logitcore_vector* v, const char* what, i64 want) {
  const char* const name = what;  // (messages are built only on failure)
  if (!v) fail(std::string(name) + " is NULL");
  if (v->size != want) fail(std::string(name) + ": size " + str(v->size) + " does not match the " + str(want) + " rows of the input");
  const Dim d[1] = {{v->size, v->stride}};
  const auto ex = extent(d, 1, name);
  if (ex.first <= ex.second && v->data == nullptr) fail(std::string(name) + ": data is NULL for a non-empty vector");
  Checked c;
  c.rows = v->size;
  c.v.data = v->data;
  c.v.ndim = 1;
  c.v.shape[0] = v->size;
  c.v.strides[0] = v->stride;
  set_bytes<T>(c, v->data, ex);
  return c;
}

// An output must not have two elements at one address: sorted by |stride|, each dimension of
// extent > 1 must step past everything the smaller ones span.
void check_distinct(const Checked& c, const char* what) {
  if (c.lo > c.hi) return;  // no elements
  Dim d[2];
  int nd = 0;
  for (int k = 0; k < c.v.ndim; ++k)
    if (c.v.shape[k] > 1) d[nd++] = Dim{c.v.shape[k], c.v.strides[k] < 0 ? -c.v.strides[k] : c.v.strides[k]};
  if (nd == 2 && d[0].s > d[1].s) std::swap(d[0], d[1]);
  bool ok = nd == 0 || d[0].s >= 1;
  if (ok && nd == 2) {
    i64 span;
    ok = mul_ok(d[0].n, d[0].s, &span) && span <= d[1].s;
  }
  if (!ok) fail(std::string(what) + ": overlapping elements (an output needs one address per element)");
}

bool overlap(const Checked& a, const Checked& b) {
  return a.lo <= a.hi && b.lo <= b.hi && a.lo <= b.hi && b.lo <= a.hi;
}

bool same_view(const Checked& a, const Checked& b) {
  if (a.v.data != b.v.data || a.v.ndim != b.v.ndim) return false;
  for (int k = 0; k < a.v.ndim; ++k)
    if (a.v.shape[k] != b.v.shape[k] || (a.v.shape[k] > 1 && a.v.strides[k] != b.v.strides[k])) return false;
  return true;
}

void check_disjoint(const Checked& out, const char* out_name, const Checked& in, const char* in_name) {
  if (overlap(out, in)) fail(std::string(out_name) + " overlaps " + in_name);
}

// out must be in itself (same data and strides) or not overlap it
void check_inplace_or_disjoint(const Checked& out, const char* out_name, const Checked& in, const char* in_name) {
  if (!same_view(out, in) && overlap(out, in))
    fail(std::string(out_name) + " must be " + in_name + " itself (same data and strides) or not overlap it");
}

void check_same_shape(const Checked& a, const char* an, const Checked& b, const char* bn) {
  if (a.rows != b.rows || a.cols != b.cols)
    fail(std::string(an) + " has shape " + str(a.rows) + " x " + str(a.cols) + ", " + bn + " has " + str(b.rows) +
         " x " + str(b.cols));
}

void check_ptr(const void* p, i64 n, const char* what) {
  if (p == nullptr && n > 0) fail(std::string(what) + " is NULL");
  if (n < 0) fail(std::string(what) + ": length must be >= 0, got " + str(n));
}

// A contiguous array of n elements of T (checked by check_ptr) as a byte range, for the
// overlap checks of outputs given as plain pointers.
template <class T>
Checked span_of(const void* p, i64 n) {
  Checked c;
  c.v.data = const_cast<void*>(p);
  c.v.ndim = 1;
  c.v.shape[0] = n;
  c.v.strides[0] = 1;
  if (p != nullptr && n > 0) set_bytes<T>(c, p, {0, n - 1});
  return c;
}


// ---- operations ------------------------------------------------------------------------------

// S: the storage type of the inputs; per-row results are in T = compute_t<S> (float32 for
// the half-precision types).
template <class S>
void logsumexp_impl(const logitcore_matrix* x, const logitcore_matrix* b, const logitcore_vector* out,
                    const logitcore_vector* sign, int num_threads) {
  using T = compute_t<S>;
  const Checked cx = check_matrix<S>(x, "x");
  Checked cb, cs;
  if (b) {
    cb = check_matrix<S>(b, "b");
    check_same_shape(cx, "x", cb, "b");
  }
  const Checked co = check_vector<T>(out, "out", cx.rows);
  check_distinct(co, "out");
  check_disjoint(co, "out", cx, "x");
  if (b) check_disjoint(co, "out", cb, "b");
  if (sign) {
    cs = check_vector<T>(sign, "sign", cx.rows);
    check_distinct(cs, "sign");
    check_disjoint(cs, "sign", cx, "x");
    check_disjoint(cs, "sign", co, "out");
    if (b) check_disjoint(cs, "sign", cb, "b");
  }
  const int nt = threads(num_threads);
  if (cx.rows == 0) return;
  if (cx.cols == 0) {  // empty sums: log 0 = -inf, sign 0
    for (i64 r = 0; r < cx.rows; ++r) {
      static_cast<T*>(co.v.data)[r * co.v.strides[0]] = -std::numeric_limits<T>::infinity();
      if (sign) static_cast<T*>(cs.v.data)[r * cs.v.strides[0]] = T(0);
    }
    return;
  }
  lse_rows<S>(active_table(), cx.v, b ? &cb.v : nullptr, co.v, sign ? &cs.v : nullptr, nt);
}

template <class S>
void softmax_impl(const logitcore_matrix* x, const logitcore_matrix* y, bool log, int num_threads) {
  const Checked cx = check_matrix<S>(x, "x");
  const Checked cy = check_matrix<S>(y, "y");
  check_same_shape(cx, "x", cy, "y");
  check_distinct(cy, "y");
  check_inplace_or_disjoint(cy, "y", cx, "x");
  const int nt = threads(num_threads);
  if (cx.rows == 0 || cx.cols == 0) return;
  softmax_rows<S>(active_table(), cx.v, cy.v, log, nt);
}

template <class S>
void row_reduce_impl(const logitcore_matrix* x, const logitcore_vector* out, bool of_softmax, int num_threads) {
  using T = compute_t<S>;
  const Checked cx = check_matrix<S>(x, of_softmax ? "x" : "p");
  const Checked co = check_vector<T>(out, "out", cx.rows);
  check_distinct(co, "out");
  check_disjoint(co, "out", cx, of_softmax ? "x" : "p");
  const int nt = threads(num_threads);
  if (cx.rows == 0) return;
  if (cx.cols == 0) {  // an empty distribution has entropy 0
    for (i64 r = 0; r < cx.rows; ++r) static_cast<T*>(co.v.data)[r * co.v.strides[0]] = T(0);
    return;
  }
  if (of_softmax) softmax_entropy_rows<S>(active_table(), cx.v, co.v, nt);
  else entropy_rows<S>(active_table(), cx.v, co.v, nt);
}

template <class S>
void state_update_impl(double* max, double* excess, const logitcore_matrix* x, int num_threads) {
  const Checked cx = check_matrix<S>(x, "x");
  check_ptr(max, cx.rows, "max");
  check_ptr(excess, cx.rows, "excess");
  const Checked cm = span_of<double>(max, cx.rows), cu = span_of<double>(excess, cx.rows);
  check_disjoint(cm, "max", cx, "x");
  check_disjoint(cu, "excess", cx, "x");
  check_disjoint(cu, "excess", cm, "max");
  const int nt = threads(num_threads);
  if (cx.rows == 0 || cx.cols == 0) return;
  std::vector<double> m2(static_cast<size_t>(cx.rows)), u2(static_cast<size_t>(cx.rows));
  state_rows<S>(active_table(), cx.v, m2.data(), u2.data(), nt);
  merge_excess_arrays(cx.rows, max, excess, m2.data(), u2.data());
}

// -- entropy normalization --

logitcore_en_options en_defaults() {
  logitcore_en_options o;
  o.input = LOGITCORE_EN_PROBABILITIES;
  o.tol = -1.0;
  o.max_iter = LOGITCORE_EN_DEFAULT_MAX_ITER;
  o.check_sum = 1;
  o.sum_tol = -1.0;
  o.out_of_range_fails = 0;
  return o;
}

double en_tol(const logitcore_en_options& o, bool f64) {
  if (isnan(o.tol)) fail("tol is NaN");
  if (o.tol < 0) return f64 ? LOGITCORE_EN_DEFAULT_TOL_F64 : LOGITCORE_EN_DEFAULT_TOL_F32;
  return o.tol;
}

double en_sum_tol(const logitcore_en_options& o, bool f64) {
  if (isnan(o.sum_tol)) fail("sum_tol is NaN");
  if (o.sum_tol < 0) {
    const double eps = f64 ? std::numeric_limits<double>::epsilon() : std::numeric_limits<float>::epsilon();
    return std::max(LOGITCORE_EN_MIN_SUM_TOL, eps);
  }
  return o.sum_tol;
}

template <class T>
void entropy_normalize_impl(const logitcore_matrix* x, const logitcore_matrix* out, const double* target,
                            i64 target_stride, const logitcore_en_options* opt_in, const logitcore_en_info* info_in,
                            int num_threads) {
  const Checked cx = check_matrix<T>(x, "x");
  const Checked co = check_matrix<T>(out, "out");
  check_same_shape(cx, "x", co, "out");
  check_distinct(co, "out");
  check_inplace_or_disjoint(co, "out", cx, "x");
  const logitcore_en_options o = opt_in ? *opt_in : en_defaults();
  const bool f64 = sizeof(T) == 8;
  if (o.input != LOGITCORE_EN_PROBABILITIES && o.input != LOGITCORE_EN_LOGITS)
    fail("input must be LOGITCORE_EN_PROBABILITIES (0) or LOGITCORE_EN_LOGITS (1), got " + std::to_string(o.input));
  if (o.max_iter < 1) fail("max_iter must be >= 1, got " + std::to_string(o.max_iter));
  EnOptions eo;
  eo.logits = o.input == LOGITCORE_EN_LOGITS;
  eo.tol = en_tol(o, f64);
  eo.max_iter = o.max_iter;
  eo.check_sum = o.check_sum != 0;
  eo.sum_tol = en_sum_tol(o, f64);
  eo.out_of_range_fails = o.out_of_range_fails != 0;
  const i64 rows = cx.rows;
  check_ptr(target, rows, "target");
  {
    const i64 ts = target_stride < 0 ? -target_stride : target_stride;
    const i64 tn = rows > 0 ? (rows - 1) * ts + 1 : 0;
    const Checked ct = span_of<double>(target_stride < 0 && rows > 0 ? target + (rows - 1) * target_stride : target, tn);
    check_disjoint(co, "out", ct, "target");
    if (info_in) {
      const logitcore_en_info& in = *info_in;
      const Checked arrays[8] = {span_of<double>(in.gamma, rows),       span_of<std::int32_t>(in.n_iter, rows),
                                 span_of<std::uint8_t>(in.converged, rows), span_of<std::uint8_t>(in.clipped, rows),
                                 span_of<std::int8_t>(in.status, rows),  span_of<double>(in.h_min, rows),
                                 span_of<double>(in.h_max, rows),        span_of<double>(in.entropy, rows)};
      static const char* names[8] = {"info.gamma", "info.n_iter", "info.converged", "info.clipped",
                                     "info.status", "info.h_min", "info.h_max", "info.entropy"};
      for (int a = 0; a < 8; ++a) {
        check_disjoint(arrays[a], names[a], cx, "x");
        check_disjoint(arrays[a], names[a], co, "out");
        check_disjoint(arrays[a], names[a], ct, "target");
        for (int b = 0; b < a; ++b) check_disjoint(arrays[a], names[a], arrays[b], names[b]);
      }
    }
  }
  for (i64 r = 0; r < rows; ++r) {
    if (isnan(target[r * target_stride])) fail("target entropy is NaN (row " + str(r) + ")");
  }
  const int nt = threads(num_threads);
  if (rows == 0) return;
  // per-row targets contiguous; info arrays the caller did not ask for live here
  std::vector<double> tgt;
  const double* tp = target;
  if (target_stride != 1) {
    tgt.resize(static_cast<size_t>(rows));
    for (i64 r = 0; r < rows; ++r) tgt[static_cast<size_t>(r)] = target[r * target_stride];
    tp = tgt.data();
  }
  const logitcore_en_info given = info_in ? *info_in : logitcore_en_info{};
  std::vector<double> dbuf;
  std::vector<std::int32_t> ibuf;
  std::vector<std::uint8_t> bbuf;
  std::vector<std::int8_t> sbuf;
  const size_t n = static_cast<size_t>(rows);
  const int nd = (!given.gamma) + (!given.h_min) + (!given.h_max) + (!given.entropy);
  dbuf.resize(n * static_cast<size_t>(nd));
  if (!given.n_iter) ibuf.resize(n);
  if (!given.converged || !given.clipped) bbuf.resize(2 * n);
  if (!given.status) sbuf.resize(n);
  double* dp = dbuf.data();
  auto dnext = [&]() {
    double* p = dp;
    dp += n;
    return p;
  };
  EnInfo info;
  info.gamma = given.gamma ? given.gamma : dnext();
  info.h_min = given.h_min ? given.h_min : dnext();
  info.h_max = given.h_max ? given.h_max : dnext();
  info.entropy = given.entropy ? given.entropy : dnext();
  info.n_iter = given.n_iter ? given.n_iter : ibuf.data();
  info.converged = given.converged ? given.converged : bbuf.data();
  info.clipped = given.clipped ? given.clipped : bbuf.data() + n;
  info.status = given.status ? given.status : sbuf.data();
  if (cx.cols == 0) {  // rows without entries have no support
    const double nan = std::numeric_limits<double>::quiet_NaN();
    for (size_t r = 0; r < n; ++r) {
      info.gamma[r] = info.h_min[r] = info.h_max[r] = info.entropy[r] = nan;
      info.n_iter[r] = 0;
      info.converged[r] = info.clipped[r] = 0;
      info.status[r] = kEnNoSupport;
    }
    return;
  }
  entropy_normalize_rows<T>(active_table(), cx.v, co.v, tp, eo, info, nt);
}

// -- losses --

logitcore_loss_options loss_defaults() {
  logitcore_loss_options o;
  o.kind = LOGITCORE_LOSS_GAMMA_CE;
  o.param = 0.0;
  o.threshold = 0.0;
  o.ignore_index = LOGITCORE_LOSS_DEFAULT_IGNORE_INDEX;
  o.class_weight = nullptr;
  o.reduction = LOGITCORE_REDUCTION_MEAN;
  o.row_weight = nullptr;
  return o;
}

std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

LossSpec loss_spec(const logitcore_loss_options& o) {
  LossSpec spec;
  switch (o.kind) {
    case LOGITCORE_LOSS_GAMMA_CE:
      if (!(o.param >= 0 && o.param <= 1)) fail("gamma must lie in [0, 1], got " + num(o.param));
      if (!(o.threshold >= 0 && o.threshold <= 1)) fail("threshold must lie in [0, 1], got " + num(o.threshold));
      spec.kind = LossKind::gamma_ce;
      spec.threshold = o.threshold;
      break;
    case LOGITCORE_LOSS_GCE:
      if (!(o.param > 0 && o.param <= 1)) fail("q must lie in (0, 1], got " + num(o.param));
      spec.kind = LossKind::gce;
      break;
    case LOGITCORE_LOSS_FOCAL:
      if (!(o.param >= 0 && o.param <= std::numeric_limits<double>::max()))
        fail("gamma must be a finite number >= 0, got " + num(o.param));
      spec.kind = LossKind::focal;
      break;
    default:
      fail("unknown loss kind " + std::to_string(o.kind) + " (expected LOGITCORE_LOSS_GAMMA_CE, _GCE or _FOCAL)");
  }
  spec.param = o.param;
  return spec;
}

// Compensated (Neumaier) sum: the reduced loss does not depend on the row order's rounding luck.
double accurate_sum(const double* v, i64 n) {
  double s = 0, c = 0;
  for (i64 i = 0; i < n; ++i) {
    const double t = s + v[i];
    c += ::fabs(s) >= ::fabs(v[i]) ? (s - t) + v[i] : (v[i] - t) + s;
    s = t;
  }
  return s - s == 0 ? s + c : s;  // an inf or NaN total is the plain sum's (the correction is NaN)
}

template <class S>
void loss_impl(const logitcore_matrix* x, const std::int64_t* target, const logitcore_loss_options* opt_in,
               double* row_loss, double* reduced, const logitcore_matrix* grad, int num_threads) {
  const Checked cx = check_matrix<S>(x, "logits");
  const logitcore_loss_options o = opt_in ? *opt_in : loss_defaults();
  const LossSpec spec = loss_spec(o);
  if (o.reduction < LOGITCORE_REDUCTION_NONE || o.reduction > LOGITCORE_REDUCTION_MEAN)
    fail("reduction must be LOGITCORE_REDUCTION_NONE, _SUM or _MEAN, got " + std::to_string(o.reduction));
  Checked cg;
  if (grad) {
    cg = check_matrix<S>(grad, "grad");
    check_same_shape(cx, "logits", cg, "grad");
    check_distinct(cg, "grad");
    check_inplace_or_disjoint(cg, "grad", cx, "logits");
  }
  const i64 rows = cx.rows, ncls = cx.cols;
  check_ptr(target, rows, "target");
  {
    const Checked ct = span_of<std::int64_t>(target, rows), cw = span_of<double>(o.class_weight, o.class_weight ? ncls : 0);
    const Checked crw = span_of<double>(o.row_weight, o.row_weight ? rows : 0);
    const Checked cl = span_of<double>(row_loss, row_loss ? rows : 0), cr = span_of<double>(reduced, reduced ? 1 : 0);
    const std::pair<const Checked*, const char*> outs[2] = {{&cl, "row_loss"}, {&cr, "reduced"}};
    for (const auto& out : outs) {
      check_disjoint(*out.first, out.second, cx, "logits");
      check_disjoint(*out.first, out.second, ct, "target");
      check_disjoint(*out.first, out.second, cw, "class_weight");
      check_disjoint(*out.first, out.second, crw, "row_weight");
      if (grad) check_disjoint(*out.first, out.second, cg, "grad");
    }
    check_disjoint(cr, "reduced", cl, "row_loss");
    if (grad) {
      check_disjoint(cg, "grad", ct, "target");
      check_disjoint(cg, "grad", cw, "class_weight");
      check_disjoint(cg, "grad", crw, "row_weight");
    }
  }
  for (i64 r = 0; r < rows; ++r) {
    const std::int64_t t = target[r];
    if (t != o.ignore_index && (t < 0 || t >= ncls))
      fail("target[" + str(r) + "] = " + str(t) + " is out of range for " + str(ncls) + " classes (valid: 0.." +
               str(ncls - 1) + ", or ignore_index=" + str(o.ignore_index) + ")",
           LOGITCORE_OUT_OF_RANGE);
  }
  if (o.row_weight) {
    for (i64 r = 0; r < rows; ++r) {
      const double w = o.row_weight[r];
      if (!(w >= 0 && w <= std::numeric_limits<double>::max()))
        fail("row_weight[" + str(r) + "] = " + num(w) + " is not a finite number >= 0");
    }
  }
  const int nt = threads(num_threads);
  // row weights: class_weight[target] * row_weight (0 for ignored rows); the mean divides by their sum
  const size_t n = static_cast<size_t>(rows);
  const bool weighted = o.class_weight || o.row_weight;
  std::vector<double> rowscale, lossbuf;
  double total = 0;
  if (weighted) {
    rowscale.resize(n);
    for (size_t r = 0; r < n; ++r) {
      if (target[r] == o.ignore_index) {
        rowscale[r] = 0.0;
        continue;
      }
      const double cw = o.class_weight ? o.class_weight[target[r]] : 1.0;
      rowscale[r] = o.row_weight ? cw * o.row_weight[r] : cw;
    }
    total = accurate_sum(rowscale.data(), rows);
  } else {
    for (size_t r = 0; r < n; ++r) total += target[r] == o.ignore_index ? 0.0 : 1.0;
  }
  const double scale = o.reduction == LOGITCORE_REDUCTION_MEAN ? (total != 0 ? 1.0 / total : 0.0) : 1.0;
  double* lp = row_loss;
  if (!lp) {
    lossbuf.resize(n);
    lp = lossbuf.data();
  }
  if (rows > 0) {
    loss_rows<S>(active_table(), cx.v, target, o.ignore_index, weighted ? rowscale.data() : nullptr, scale, spec,
                 lp, grad ? &cg.v : nullptr, nt);
  }
  if (weighted)
    for (size_t r = 0; r < n; ++r) lp[r] = target[r] == o.ignore_index ? 0.0 : lp[r] * rowscale[r];
  if (reduced) {
    const double s = accurate_sum(lp, rows);
    if (o.reduction == LOGITCORE_REDUCTION_MEAN) *reduced = total != 0 ? s / total : (isnan(s) ? s : 0.0);
    else *reduced = s;
  }
}

// -- token sampling --

logitcore_sampling_params sampling_defaults() {
  logitcore_sampling_params p;
  std::memset(&p, 0, sizeof p);
  return p;
}

// A per-row setting (pointer + stride): every value the rows read is checked by ok(v).
template <class V, class Ok>
void check_setting(const V* p, i64 stride, i64 rows, const char* name, const char* rule, Ok&& ok) {
  if (!p) return;
  const i64 m = stride == 0 ? std::min<i64>(rows, 1) : rows;
  for (i64 r = 0; r < m; ++r) {
    const V v = p[r * stride];
    if (!ok(v)) {
      std::string val;
      if constexpr (std::is_floating_point<V>::value) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.17g", static_cast<double>(v));
        val = buf;
      } else {
        val = std::to_string(v);
      }
      fail(std::string(name) + (stride == 0 ? "" : "[" + str(r) + "]") + " = " + val + ": " + rule);
    }
  }
}

logitcore_sampling_params sampling_params(const logitcore_sampling_params* in, i64 rows) {
  const logitcore_sampling_params o = in ? *in : sampling_defaults();
  check_setting(o.temperature, o.temperature_stride, rows, "temperature", "must be finite and >= 0 (0: greedy)",
                [](double v) { return v >= 0 && v < std::numeric_limits<double>::infinity(); });
  check_setting(o.top_k, o.top_k_stride, rows, "top_k", "must be >= 0 (0: off)", [](std::int64_t v) { return v >= 0; });
  check_setting(o.top_p, o.top_p_stride, rows, "top_p", "must be in (0, 1] (1: off)",
                [](double v) { return v > 0 && v <= 1; });
  check_setting(o.min_p, o.min_p_stride, rows, "min_p", "must be in [0, 1] (0: off)",
                [](double v) { return v >= 0 && v <= 1; });
  check_setting(o.target_entropy, o.target_entropy_stride, rows, "target_entropy",
                "must be >= 0 and finite (nats), or NaN (off)",
                [](double v) { return v != v || (v >= 0 && v < std::numeric_limits<double>::infinity()); });
  return o;
}

void sample_failed(const SampleResult& res) {
  switch (res.failure) {
    case SampleFailure::none:
      return;
    case SampleFailure::nan:
      fail("row " + str(res.row) + " of logits contains NaN");
    case SampleFailure::no_finite:
      fail("row " + str(res.row) + " of logits has no finite entry (every logit is -inf)");
    case SampleFailure::out_of_memory:
      fail("out of memory (scratch allocation failed)", LOGITCORE_OUT_OF_MEMORY);
  }
}

template <class T>
Checked sampling_logits(const logitcore_matrix* logits) {
  const Checked cx = check_matrix<T>(logits, "logits");
  if (cx.cols == 0 && cx.rows > 0) fail("logits has no columns (an empty vocabulary): nothing to sample from");
  return cx;
}

template <class T>
void sample_impl(const logitcore_matrix* logits, const logitcore_sampling_params* params, std::int64_t* tokens,
                 std::int64_t n_logprobs, double* token_logprob, std::int64_t* top_tokens, double* top_logprobs,
                 int num_threads) {
  const Checked cx = sampling_logits<T>(logits);
  const i64 rows = cx.rows;
  if (n_logprobs < 0) fail("n_logprobs must be >= 0, got " + str(n_logprobs));
  if (n_logprobs > cx.cols && rows > 0)
    fail("n_logprobs = " + str(n_logprobs) + " exceeds the vocabulary size " + str(cx.cols));
  check_ptr(tokens, rows, "tokens");
  i64 nl;
  if (!mul_ok(rows, n_logprobs, &nl)) fail("rows x n_logprobs overflows");
  const Checked ct = span_of<std::int64_t>(tokens, rows), cl = span_of<double>(token_logprob, token_logprob ? rows : 0);
  const Checked ci = span_of<std::int64_t>(top_tokens, top_tokens ? nl : 0), cp = span_of<double>(top_logprobs, top_logprobs ? nl : 0);
  const std::pair<const Checked*, const char*> outs[4] = {
      {&ct, "tokens"}, {&cl, "token_logprob"}, {&ci, "top_tokens"}, {&cp, "top_logprobs"}};
  for (int a = 0; a < 4; ++a) {
    check_disjoint(*outs[a].first, outs[a].second, cx, "logits");
    for (int b = 0; b < a; ++b) check_disjoint(*outs[a].first, outs[a].second, *outs[b].first, outs[b].second);
  }
  const logitcore_sampling_params p = sampling_params(params, rows);
  const int nt = threads(num_threads);
  if (rows == 0) return;
  SampleOutputs<T> o;
  o.tokens = tokens;
  o.n_logprobs = n_logprobs;
  o.token_logprob = token_logprob;
  o.top_tokens = top_tokens;
  o.top_logprobs = top_logprobs;
  sample_failed(sample_rows<T>(active_table(), cx.v, p, o, nt));
}

template <class T>
void sample_filter_impl(const logitcore_matrix* logits, const logitcore_sampling_params* params,
                        const logitcore_matrix* probs, const logitcore_matrix* kept, double* gamma, int num_threads) {
  const Checked cx = sampling_logits<T>(logits);
  const i64 rows = cx.rows;
  Checked cp, ck;
  if (probs) {
    cp = check_matrix<T>(probs, "probs");
    check_same_shape(cx, "logits", cp, "probs");
    check_distinct(cp, "probs");
    check_disjoint(cp, "probs", cx, "logits");
  }
  if (kept) {
    ck = check_matrix<std::uint8_t>(kept, "kept");
    check_same_shape(cx, "logits", ck, "kept");
    check_distinct(ck, "kept");
    check_disjoint(ck, "kept", cx, "logits");
    if (probs) check_disjoint(ck, "kept", cp, "probs");
  }
  const Checked cg = span_of<double>(gamma, gamma ? rows : 0);
  check_disjoint(cg, "gamma", cx, "logits");
  if (probs) check_disjoint(cg, "gamma", cp, "probs");
  if (kept) check_disjoint(cg, "gamma", ck, "kept");
  const logitcore_sampling_params p = sampling_params(params, rows);
  const int nt = threads(num_threads);
  if (rows == 0) return;
  SampleOutputs<T> o;
  o.probs = probs ? &cp.v : nullptr;
  o.kept = kept ? &ck.v : nullptr;
  o.gamma = gamma;
  sample_failed(sample_rows<T>(active_table(), cx.v, p, o, nt));
}

template <class T>
void penalties_impl(const logitcore_matrix* x, const logitcore_matrix* y, const logitcore_matrix* token_ids,
                    const logitcore_penalty_params* params, int num_threads) {
  const Checked cx = check_matrix<T>(x, "logits");
  const Checked cy = check_matrix<T>(y, "out");
  check_same_shape(cx, "logits", cy, "out");
  check_distinct(cy, "out");
  check_inplace_or_disjoint(cy, "out", cx, "logits");
  const Checked ci = check_matrix<std::int64_t>(token_ids, "token_ids");
  if (ci.rows != cx.rows)
    fail("token_ids has " + str(ci.rows) + " rows, logits has " + str(cx.rows));
  check_disjoint(cy, "out", ci, "token_ids");
  logitcore_penalty_params o;
  std::memset(&o, 0, sizeof o);
  if (params) o = *params;
  const i64 rows = cx.rows;
  check_setting(o.repetition, o.repetition_stride, rows, "repetition_penalty", "must be finite and > 0 (1: off)",
                [](double v) { return v > 0 && v < std::numeric_limits<double>::infinity(); });
  check_setting(o.frequency, o.frequency_stride, rows, "frequency_penalty", "must be finite (0: off)",
                [](double v) { return std::isfinite(v); });
  check_setting(o.presence, o.presence_stride, rows, "presence_penalty", "must be finite (0: off)",
                [](double v) { return std::isfinite(v); });
  for (i64 r = 0; r < rows; ++r)
    for (i64 j = 0; j < ci.cols; ++j) {
      const std::int64_t id = static_cast<const std::int64_t*>(ci.v.data)[r * ci.v.strides[0] + j * ci.v.strides[1]];
      if (id >= cx.cols || id < -1)
        fail("token_ids[" + str(r) + ", " + str(j) + "] = " + str(id) + " is out of range for a vocabulary of " +
                 str(cx.cols) + " (valid: 0.." + str(cx.cols - 1) + ", or -1 for padding)",
             LOGITCORE_OUT_OF_RANGE);
    }
  const int nt = threads(num_threads);
  if (rows == 0 || cx.cols == 0) return;
  penalty_rows<T>(cx.v, cy.v, ci.v, o, nt);
}

// -- sparse times dense --

// indptr (rows + 1 entries from 0, non-decreasing) and every column index in [0, cols); returns nnz.
template <class I>
i64 check_csr_indices(const logitcore_csr& a) {
  const I* indptr = static_cast<const I*>(a.indptr);
  if (!indptr) fail("a: indptr is NULL (it has rows + 1 entries)");
  if (indptr[0] != 0) fail("a: indptr[0] must be 0, got " + str(static_cast<i64>(indptr[0])));
  for (i64 r = 0; r < a.rows; ++r)
    if (indptr[r + 1] < indptr[r])
      fail("a: indptr must be non-decreasing, but indptr[" + str(r + 1) + "] = " + str(static_cast<i64>(indptr[r + 1])) +
           " < indptr[" + str(r) + "] = " + str(static_cast<i64>(indptr[r])));
  const i64 nnz = static_cast<i64>(indptr[a.rows]);
  check_ptr(a.indices, nnz, "a: indices");
  check_ptr(a.data, nnz, "a: data");
  const I* idx = static_cast<const I*>(a.indices);
  using U = std::make_unsigned_t<I>;
  bool bad = false;  // one branch-free pass (negative indices wrap to huge unsigned values)
  for (i64 p = 0; p < nnz; ++p) bad |= static_cast<U>(idx[p]) >= static_cast<std::uint64_t>(a.cols);
  if (!bad) return nnz;
  i64 p = 0;
  while (static_cast<U>(idx[p]) < static_cast<std::uint64_t>(a.cols)) ++p;
  const i64 row = static_cast<i64>(std::upper_bound(indptr, indptr + a.rows + 1, static_cast<I>(p)) - indptr) - 1;
  fail("a: indices[" + str(p) + "] = " + str(static_cast<i64>(idx[p])) + " (row " + str(row) +
           ") is out of range for " + str(a.cols) + " columns (valid: 0.." + str(a.cols - 1) + ")",
       LOGITCORE_OUT_OF_RANGE);
}

// A dense operand of the product: contiguous columns (col_stride 1 unless it has no rows or
// at most one column).
void check_contiguous_cols(const Checked& c, const char* what) {
  if (c.rows > 0 && c.cols > 1 && c.v.strides[1] != 1)
    fail(std::string(what) + ": columns must be contiguous (col_stride 1), got col_stride " + str(c.v.strides[1]) +
         " (copy to a row-major layout first)");
}

// S: b's storage type (half precision: a, out and the computation in float32).
template <class S, class I>
void csr_matmul_typed(const logitcore_csr& a, const Checked& cb, const Checked& co, int nt) {
  using T = compute_t<S>;
  const i64 nnz = check_csr_indices<I>(a);
  for (const auto& [span, name] : {std::pair<Checked, const char*>{span_of<I>(a.indptr, a.rows + 1), "a's indptr"},
                                   {span_of<I>(a.indices, nnz), "a's indices"},
                                   {span_of<T>(a.data, nnz), "a's data"}})
    check_disjoint(co, "out", span, name);
  const CsrProduct<T, I, S> prod{static_cast<const I*>(a.indptr), static_cast<const I*>(a.indices),
                                 static_cast<const T*>(a.data), static_cast<const S*>(cb.v.data), cb.v.strides[0],
                                 static_cast<T*>(co.v.data), co.v.strides[0]};
  csr_matmul<T, I, S>(active_table(), prod, a.rows, a.cols, co.cols, nt);
}

template <class S>
void csr_matmul_impl(const logitcore_csr* a, const logitcore_matrix* b, const logitcore_matrix* out, int num_threads) {
  using T = compute_t<S>;
  if (!a) fail("a is NULL");
  if (a->rows < 0 || a->cols < 0)
    fail("a: rows and cols must be >= 0, got " + str(a->rows) + " x " + str(a->cols));
  if (a->index_type != LOGITCORE_INDEX_INT32 && a->index_type != LOGITCORE_INDEX_INT64)
    fail("a: index_type must be LOGITCORE_INDEX_INT32 (0) or LOGITCORE_INDEX_INT64 (1), got " +
         std::to_string(a->index_type));
  const Checked cb = check_matrix<S>(b, "b");
  const Checked co = check_matrix<T>(out, "out");
  if (cb.rows != a->cols)
    fail("b has " + str(cb.rows) + " rows, a has " + str(a->cols) + " columns (a is " + str(a->rows) + " x " +
         str(a->cols) + ", b is " + str(cb.rows) + " x " + str(cb.cols) + ")");
  if (co.rows != a->rows || co.cols != cb.cols)
    fail("out has shape " + str(co.rows) + " x " + str(co.cols) + ", a times b has " + str(a->rows) + " x " +
         str(cb.cols));
  check_contiguous_cols(cb, "b");
  check_contiguous_cols(co, "out");
  check_distinct(co, "out");
  check_disjoint(co, "out", cb, "b");
  const int nt = threads(num_threads);
  if (a->index_type == LOGITCORE_INDEX_INT32) csr_matmul_typed<S, std::int32_t>(*a, cb, co, nt);
  else csr_matmul_typed<S, std::int64_t>(*a, cb, co, nt);
}

// -- elementwise --

template <class T>
void map_impl(const T* x, i64 n, T* y, Elementwise op) {
  check_ptr(x, n, "x");
  check_ptr(y, n, "y");
  if (n > 0 && x != y) {
    const auto xa = reinterpret_cast<std::uintptr_t>(x), ya = reinterpret_cast<std::uintptr_t>(y);
    const auto bytes = static_cast<std::uintptr_t>(n) * sizeof(T);
    if (xa < ya + bytes && ya < xa + bytes) fail("y must be x itself or not overlap it");
  }
  elementwise<T>(active_table(), op, x, n, y);
}

}  // namespace
}  // namespace logitcore_impl

using namespace logitcore_impl;

extern "C" {

const char* logitcore_last_error(void) { return t_error.c_str(); }

const char* logitcore_status_name(logitcore_status s) {
  switch (s) {
    case LOGITCORE_OK: return "ok";
    case LOGITCORE_INVALID_ARGUMENT: return "invalid argument";
    case LOGITCORE_OUT_OF_RANGE: return "out of range";
    case LOGITCORE_UNSUPPORTED: return "unsupported";
    case LOGITCORE_OUT_OF_MEMORY: return "out of memory";
    case LOGITCORE_INTERNAL: return "internal error";
  }
  return "unknown status";
}

const char* logitcore_version(void) { return LOGITCORE_VERSION_STRING; }

const char* logitcore_isa_name(int isa) {
  if (isa < 0 || isa >= kIsaCount) return nullptr;
  return isa_entry(static_cast<Isa>(isa)).name;
}
int logitcore_isa_compiled(int isa) { return isa >= 0 && isa < kIsaCount && isa_compiled(static_cast<Isa>(isa)); }
int logitcore_isa_supported(int isa) { return isa >= 0 && isa < kIsaCount && cpu_supports(static_cast<Isa>(isa)); }
logitcore_isa logitcore_get_isa(void) { return static_cast<logitcore_isa>(active_isa()); }

logitcore_status logitcore_set_isa(const char* name) {
  return guard([&] {
    switch (set_isa(name)) {
      case SetIsaResult::ok: return;
      case SetIsaResult::unknown:
        fail("unknown ISA '" + std::string(name) + "' (expected scalar, avx2, avx512 or auto)");
      case SetIsaResult::unsupported:
        fail("this CPU (or build) does not support the '" + std::string(name) + "' kernels", LOGITCORE_UNSUPPORTED);
    }
  });
}

const char* logitcore_isa_env_error(void) { return isa_env_error(); }

int logitcore_get_num_threads(void) { return get_num_threads(); }
logitcore_status logitcore_set_num_threads(int n) {
  return guard([&] {
    if (n > kMaxThreads) fail("n must be at most " + std::to_string(kMaxThreads) + " threads, got " + std::to_string(n));
    set_num_threads(n);
  });
}
int logitcore_have_openmp(void) { return have_openmp() ? 1 : 0; }
int64_t logitcore_block_size(void) { return kBlock; }

// The entry points every storage type has: the logsumexp family, the streaming state, the
// losses, the penalties, entropy normalization, the sampler and the sparse product (b of S).
#define LOGITCORE_STORAGE_(T, S)                                                                                 \
  logitcore_status logitcore_logsumexp_##S(const logitcore_matrix* x, const logitcore_matrix* b,                 \
                                           const logitcore_vector* out, const logitcore_vector* sign, int nt) {  \
    return guard([&] { logsumexp_impl<T>(x, b, out, sign, nt); });                                               \
  }                                                                                                              \
  logitcore_status logitcore_softmax_##S(const logitcore_matrix* x, const logitcore_matrix* y, int nt) {         \
    return guard([&] { softmax_impl<T>(x, y, false, nt); });                                                     \
  }                                                                                                              \
  logitcore_status logitcore_log_softmax_##S(const logitcore_matrix* x, const logitcore_matrix* y, int nt) {     \
    return guard([&] { softmax_impl<T>(x, y, true, nt); });                                                      \
  }                                                                                                              \
  logitcore_status logitcore_softmax_entropy_##S(const logitcore_matrix* x, const logitcore_vector* out, int nt) {\
    return guard([&] { row_reduce_impl<T>(x, out, true, nt); });                                                 \
  }                                                                                                              \
  logitcore_status logitcore_entropy_##S(const logitcore_matrix* p, const logitcore_vector* out, int nt) {       \
    return guard([&] { row_reduce_impl<T>(p, out, false, nt); });                                                \
  }                                                                                                              \
  logitcore_status logitcore_lse_state_update_##S(double* max, double* excess, const logitcore_matrix* x, int nt) {\
    return guard([&] { state_update_impl<T>(max, excess, x, nt); });                                             \
  }                                                                                                              \
  logitcore_status logitcore_loss_##S(const logitcore_matrix* x, const int64_t* target,                          \
                                      const logitcore_loss_options* opt, double* row_loss, double* reduced,      \
                                      const logitcore_matrix* grad, int nt) {                                    \
    return guard([&] { loss_impl<T>(x, target, opt, row_loss, reduced, grad, nt); });                            \
  }                                                                                                              \
  logitcore_status logitcore_apply_penalties_##S(const logitcore_matrix* x, const logitcore_matrix* y,           \
                                                 const logitcore_matrix* ids, const logitcore_penalty_params* p, \
                                                 int nt) {                                                       \
    return guard([&] { penalties_impl<T>(x, y, ids, p, nt); });                                                  \
  }                                                                                                              \
  logitcore_status logitcore_entropy_normalize_##S(const logitcore_matrix* x, const logitcore_matrix* out,       \
                                                   const double* target, int64_t target_stride,                  \
                                                   const logitcore_en_options* opt, const logitcore_en_info* info,\
                                                   int nt) {                                                     \
    return guard([&] { entropy_normalize_impl<T>(x, out, target, target_stride, opt, info, nt); });              \
  }                                                                                                              \
  logitcore_status logitcore_sample_##S(const logitcore_matrix* x, const logitcore_sampling_params* params,      \
                                        int64_t* tokens, int64_t n_logprobs, double* token_logprob,              \
                                        int64_t* top_tokens, double* top_logprobs, int nt) {                     \
    return guard([&] { sample_impl<T>(x, params, tokens, n_logprobs, token_logprob, top_tokens, top_logprobs, nt); });\
  }                                                                                                              \
  logitcore_status logitcore_sample_filter_##S(const logitcore_matrix* x, const logitcore_sampling_params* params,\
                                               const logitcore_matrix* probs, const logitcore_matrix* kept,      \
                                               double* gamma, int nt) {                                          \
    return guard([&] { sample_filter_impl<T>(x, params, probs, kept, gamma, nt); });                             \
  }                                                                                                              \
  logitcore_status logitcore_csr_matmul_##S(const logitcore_csr* a, const logitcore_matrix* b,                   \
                                            const logitcore_matrix* out, int nt) {                               \
    return guard([&] { csr_matmul_impl<T>(a, b, out, nt); });                                                    \
  }

// float and double: those, plus the elementwise maps.
#define LOGITCORE_TYPED_(T, S)                                                                                   \
  LOGITCORE_STORAGE_(T, S)                                                                                       \
  logitcore_status logitcore_exp_##S(const T* x, int64_t n, T* y) {                                              \
    return guard([&] { map_impl<T>(x, n, y, Elementwise::exp); });                                               \
  }                                                                                                              \
  logitcore_status logitcore_log_##S(const T* x, int64_t n, T* y) {                                              \
    return guard([&] { map_impl<T>(x, n, y, Elementwise::log); });                                               \
  }                                                                                                              \
  logitcore_status logitcore_exp2_core_##S(const T* x, int64_t n, T* y) {                                        \
    return guard([&] { map_impl<T>(x, n, y, Elementwise::exp2_core); });                                         \
  }                                                                                                              \
  logitcore_status logitcore_log2_core_##S(const T* x, int64_t n, T* y) {                                        \
    return guard([&] { map_impl<T>(x, n, y, Elementwise::log2_core); });                                         \
  }

LOGITCORE_TYPED_(float, f32)
LOGITCORE_TYPED_(double, f64)
#undef LOGITCORE_TYPED_

// Half-precision storage (docs/math.md §1.5): computed in float32, per-row results in float32.
static_assert(sizeof(bf16) == sizeof(logitcore_bf16) && sizeof(f16) == sizeof(logitcore_f16),
              "half storage types match the public typedefs");
LOGITCORE_STORAGE_(bf16, bf16)
LOGITCORE_STORAGE_(f16, f16)
#undef LOGITCORE_STORAGE_

logitcore_sampling_params logitcore_sampling_default_params(void) { return sampling_defaults(); }

double logitcore_sample_uniform(uint64_t seed, uint64_t offset) { return philox_uniform(seed, offset); }

logitcore_status logitcore_lse_state_init(double* max, double* excess, int64_t n) {
  return guard([&] {
    check_ptr(max, n, "max");
    check_ptr(excess, n, "excess");
    for (int64_t i = 0; i < n; ++i) {
      max[i] = -std::numeric_limits<double>::infinity();
      excess[i] = -1.0;
    }
  });
}

logitcore_status logitcore_lse_state_merge(double* max, double* excess, const double* max2, const double* excess2,
                                           int64_t n) {
  return guard([&] {
    check_ptr(max, n, "max");
    check_ptr(excess, n, "excess");
    check_ptr(max2, n, "max2");
    check_ptr(excess2, n, "excess2");
    const Checked cm = span_of<double>(max, n), cu = span_of<double>(excess, n);
    const Checked cm2 = span_of<double>(max2, n), cu2 = span_of<double>(excess2, n);
    check_disjoint(cu, "excess", cm, "max");
    // merging a state into itself reads each entry before writing it: the same arrays are fine
    for (const Checked* out : {&cm, &cu}) {
      const char* name = out == &cm ? "max" : "excess";
      check_inplace_or_disjoint(*out, name, cm2, "max2");
      check_inplace_or_disjoint(*out, name, cu2, "excess2");
    }
    merge_excess_arrays(n, max, excess, max2, excess2);
  });
}

logitcore_status logitcore_lse_state_result(const double* max, const double* excess, int64_t n, double* out) {
  return guard([&] {
    check_ptr(max, n, "max");
    check_ptr(excess, n, "excess");
    check_ptr(out, n, "out");
    const Checked co = span_of<double>(out, n);
    check_inplace_or_disjoint(co, "out", span_of<double>(max, n), "max");
    check_inplace_or_disjoint(co, "out", span_of<double>(excess, n), "excess");
    for (int64_t i = 0; i < n; ++i) out[i] = max[i] + ::log1p(excess[i]);
  });
}

logitcore_en_options logitcore_en_default_options(void) { return en_defaults(); }

double logitcore_en_effective_tol(const logitcore_en_options* opt, int is_f64) {
  const logitcore_en_options o = opt ? *opt : en_defaults();
  if (isnan(o.tol)) return o.tol;
  return o.tol < 0 ? (is_f64 ? LOGITCORE_EN_DEFAULT_TOL_F64 : LOGITCORE_EN_DEFAULT_TOL_F32) : o.tol;
}

double logitcore_en_effective_sum_tol(const logitcore_en_options* opt, int is_f64) {
  const logitcore_en_options o = opt ? *opt : en_defaults();
  if (isnan(o.sum_tol) || o.sum_tol >= 0) return o.sum_tol;
  const double eps = is_f64 ? std::numeric_limits<double>::epsilon() : std::numeric_limits<float>::epsilon();
  return std::max(LOGITCORE_EN_MIN_SUM_TOL, eps);
}

logitcore_loss_options logitcore_loss_default_options(void) { return loss_defaults(); }

logitcore_status logitcore_loss_from_logp(const logitcore_loss_options* opt, double logp, double* loss,
                                          double* weight) {
  return guard([&] {
    const LossSpec spec = loss_spec(opt ? *opt : loss_defaults());
    const LossValue v = loss_from_logp(spec, logp);
    if (loss) *loss = v.loss;
    if (weight) *weight = v.w;
  });
}

}  // extern "C"
