/* logitcore: the C API (a plain C ABI, for C programs and for FFI from Rust, Go, Python ctypes...).
 *
 * Softmax-family kernels for CPUs: logsumexp (weights, sign), softmax, log_softmax, the entropy of a
 * softmax, the entropy of a distribution, a mergeable streaming logsumexp state, batched entropy
 * normalization, the fused losses of the target probability (gamma-cross-entropy, generalized
 * cross-entropy, focal loss), a token sampler and sparse (CSR) times dense products. The
 * mathematics of every operation is written down in docs/math.md of the source tree; the section
 * is cited at each function. Entropies are in nats.
 *
 * Data: a matrix is a pointer, a number of rows and columns and two strides, in ELEMENTS (not
 * bytes), which may be negative or zero for inputs (logitcore_matrix). Every operation works on
 * the rows: one result per row, or one output row per input row. Per-row results go to vectors:
 * a pointer, a length and a stride in elements (logitcore_vector). Functions come in two typed
 * flavours, _f32 (float data) and _f64 (double data), and the logsumexp family and the losses
 * also _bf16 and _f16 (half-precision data computed in float32); per-row statistics that are always double
 * (losses, states, entropy-normalization info) are contiguous double arrays.
 *
 * Ownership: the caller allocates every input and output and keeps them alive during the call;
 * the library keeps no pointer after a call returns. Internally a call may allocate scratch (at
 * most a few blocks of 2048 elements per thread, a row's worth for entropy normalization and for
 * strided long-row gradients, and O(rows) doubles for the losses); an allocation failure is
 * reported as LOGITCORE_OUT_OF_MEMORY. Outputs must not overlap inputs, except where a function
 * says an output may be the input itself (the same data and strides: in-place). Outputs must
 * not overlap themselves (no two of their elements at one address).
 *
 * Errors: every function that can fail returns a logitcore_status. On failure nothing has been
 * written to the outputs, and logitcore_last_error() returns a message naming the problem (held
 * per thread, valid until the next failing call on that thread). The library never aborts,
 * never prints and never throws across this ABI.
 *
 * Threads: each compute function takes num_threads; 0 means the process-wide setting
 * (logitcore_set_num_threads; by default OpenMP's, which honours OMP_NUM_THREADS). Results are
 * bitwise identical for every thread count (rows are cut into fixed blocks of
 * logitcore_block_size() elements whose states merge in a fixed order). All functions are
 * reentrant and may be called from many threads at once; calls from inside an OpenMP parallel
 * region run on the calling thread.
 *
 * ISA: the kernels are compiled for several instruction sets (scalar, AVX2+FMA, AVX-512) and the
 * best one the CPU and OS support is used. The environment variable LOGITCORE_ISA
 * (scalar|avx2|avx512|auto) is read once, at the first call that needs it; logitcore_set_isa
 * changes the choice at run time. The ISA never changes what a function computes beyond the
 * documented error bounds.
 */
#ifndef LOGITCORE_LOGITCORE_H
#define LOGITCORE_LOGITCORE_H

#include <stddef.h>
#include <stdint.h>

#include "logitcore/export.h"
#include "logitcore/version.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors ------------------------------------------------------------------------------ */

typedef enum logitcore_status {
  LOGITCORE_OK = 0,
  LOGITCORE_INVALID_ARGUMENT = 1, /* a bad shape, stride, pointer, option or parameter value */
  LOGITCORE_OUT_OF_RANGE = 2,     /* an index out of range (a loss target not in [0, cols)) */
  LOGITCORE_UNSUPPORTED = 3,      /* the CPU or this build cannot do it (e.g. an ISA) */
  LOGITCORE_OUT_OF_MEMORY = 4,    /* scratch allocation failed */
  LOGITCORE_INTERNAL = 5          /* a bug: please report it */
} logitcore_status;

/* Message of the last failing call on this thread ("" if none). */
LOGITCORE_API const char* logitcore_last_error(void);
/* Name of a status code ("ok", "invalid argument", ...). */
LOGITCORE_API const char* logitcore_status_name(logitcore_status status);

/* ---- version, ISA, threads ----------------------------------------------------------------- */

/* The library's version string, e.g. "0.1.0" (LOGITCORE_VERSION_STRING is the header's). */
LOGITCORE_API const char* logitcore_version(void);

typedef enum logitcore_isa {
  LOGITCORE_ISA_SCALAR = 0, /* portable C++, any CPU */
  LOGITCORE_ISA_AVX2 = 1,   /* AVX2 + FMA (x86-64) */
  LOGITCORE_ISA_AVX512 = 2  /* AVX-512 F/DQ/BW/VL (x86-64) */
} logitcore_isa;
#define LOGITCORE_ISA_COUNT 3

/* "scalar", "avx2", "avx512"; NULL for a value outside the enum. */
LOGITCORE_API const char* logitcore_isa_name(int isa);
/* 1 if this build contains the ISA's kernels (the AVX ones only on x86-64), else 0. */
LOGITCORE_API int logitcore_isa_compiled(int isa);
/* 1 if compiled and the CPU and OS support it (CPUID and XGETBV), else 0. */
LOGITCORE_API int logitcore_isa_supported(int isa);
/* The ISA in use. */
LOGITCORE_API logitcore_isa logitcore_get_isa(void);
/* Use an ISA by name: "scalar", "avx2", "avx512", or "auto" (also NULL or ""): the best
 * supported. LOGITCORE_INVALID_ARGUMENT for an unknown name, LOGITCORE_UNSUPPORTED when the CPU
 * (or build) lacks it. Affects calls that start afterwards, in every thread. */
LOGITCORE_API logitcore_status logitcore_set_isa(const char* name);
/* The problem with the LOGITCORE_ISA environment variable (an unknown or unsupported ISA, in
 * which case the best supported one is used), or NULL when it is unset or valid. */
LOGITCORE_API const char* logitcore_isa_env_error(void);

#define LOGITCORE_MAX_THREADS 4096
/* Threads used when a call passes num_threads = 0. */
LOGITCORE_API int logitcore_get_num_threads(void);
/* n in [1, LOGITCORE_MAX_THREADS]; n <= 0 restores the OpenMP default. */
LOGITCORE_API logitcore_status logitcore_set_num_threads(int n);
/* 1 if built with OpenMP (otherwise every call runs on the calling thread). */
LOGITCORE_API int logitcore_have_openmp(void);
/* The fixed block length (elements) of the bitwise-reproducible block fold. */
LOGITCORE_API int64_t logitcore_block_size(void);

/* ---- views ------------------------------------------------------------------------------- */

/* Element (i, j) is data[i * row_stride + j * col_stride]; strides in elements. A row-major
 * contiguous matrix has row_stride = cols and col_stride = 1. data may be NULL only when the
 * matrix is empty (rows == 0 or cols == 0). */
typedef struct logitcore_matrix {
  void* data;
  int64_t rows;
  int64_t cols;
  int64_t row_stride;
  int64_t col_stride;
} logitcore_matrix;

/* Element i is data[i * stride]; stride in elements. */
typedef struct logitcore_vector {
  void* data;
  int64_t size;
  int64_t stride;
} logitcore_vector;

/* ---- the logsumexp family (docs/math.md §1) ------------------------------------------------ */

/* out[i] = log sum_j b[i,j] exp(x[i,j]) per row (b = NULL: unweighted), out->size == x->rows.
 * b has x's shape. Entries with b == 0 are excluded whatever their value. Without sign (NULL),
 * a negative sum gives NaN; with sign, out gets log|sum| and sign gets +1, 0, -1 (NaN for a NaN
 * row). An empty row gives -inf. Unweighted rows dominated by their maximum m finish as
 * m + log1p(u), u summed on its own (full relative accuracy of the excess). float32 rows are
 * within 1e-6 (1 + |result|) of exact for rows up to 1e8 entries. */
LOGITCORE_API logitcore_status logitcore_logsumexp_f32(const logitcore_matrix* x, const logitcore_matrix* b,
                                                       const logitcore_vector* out, const logitcore_vector* sign,
                                                       int num_threads);
LOGITCORE_API logitcore_status logitcore_logsumexp_f64(const logitcore_matrix* x, const logitcore_matrix* b,
                                                       const logitcore_vector* out, const logitcore_vector* sign,
                                                       int num_threads);

/* y = softmax(x) per row; y has x's shape and may be x itself (in place). Rows with +inf entries
 * are uniform over them; rows of -inf are 0; rows with a NaN are NaN. */
LOGITCORE_API logitcore_status logitcore_softmax_f32(const logitcore_matrix* x, const logitcore_matrix* y,
                                                     int num_threads);
LOGITCORE_API logitcore_status logitcore_softmax_f64(const logitcore_matrix* x, const logitcore_matrix* y,
                                                     int num_threads);
/* y = log_softmax(x) = x - logsumexp(x) per row; y may be x itself. */
LOGITCORE_API logitcore_status logitcore_log_softmax_f32(const logitcore_matrix* x, const logitcore_matrix* y,
                                                         int num_threads);
LOGITCORE_API logitcore_status logitcore_log_softmax_f64(const logitcore_matrix* x, const logitcore_matrix* y,
                                                         int num_threads);
/* out[i] = H(softmax(x[i])) = logsumexp(x[i]) - sum_j softmax(x[i])_j x[i,j] (nats, >= 0). */
LOGITCORE_API logitcore_status logitcore_softmax_entropy_f32(const logitcore_matrix* x, const logitcore_vector* out,
                                                             int num_threads);
LOGITCORE_API logitcore_status logitcore_softmax_entropy_f64(const logitcore_matrix* x, const logitcore_vector* out,
                                                             int num_threads);
/* out[i] = -sum_j p[i,j] log p[i,j] (0 log 0 = 0; a negative or NaN entry gives NaN). */
LOGITCORE_API logitcore_status logitcore_entropy_f32(const logitcore_matrix* p, const logitcore_vector* out,
                                                     int num_threads);
LOGITCORE_API logitcore_status logitcore_entropy_f64(const logitcore_matrix* p, const logitcore_vector* out,
                                                     int num_threads);

/* ---- streaming logsumexp state (docs/math.md §1) ------------------------------------------- */
/* n row states held by the caller as two contiguous double arrays: the running maximum m and
 * the excess u = (sum exp(x - m)) - 1, kept apart from the maximum's own term so rows dominated
 * by their maximum keep full accuracy. logsumexp = m + log1p(u). An empty state is (-inf, -1).
 * Merging is associative and commutative up to rounding; a row's state after updates with
 * column blocks equals the state of the concatenated row up to rounding. */
LOGITCORE_API logitcore_status logitcore_lse_state_init(double* max, double* excess, int64_t n);
/* Merge the rows of x (x->rows == n, any number of columns) into the states. */
LOGITCORE_API logitcore_status logitcore_lse_state_update_f32(double* max, double* excess, const logitcore_matrix* x,
                                                              int num_threads);
LOGITCORE_API logitcore_status logitcore_lse_state_update_f64(double* max, double* excess, const logitcore_matrix* x,
                                                              int num_threads);
/* (max, excess) <- merge((max, excess), (max2, excess2)), elementwise over n states. */
LOGITCORE_API logitcore_status logitcore_lse_state_merge(double* max, double* excess, const double* max2,
                                                         const double* excess2, int64_t n);
/* out[i] = max[i] + log1p(excess[i]) (out may be max or excess). */
LOGITCORE_API logitcore_status logitcore_lse_state_result(const double* max, const double* excess, int64_t n,
                                                          double* out);

/* ---- entropy normalization (docs/math.md §2) ----------------------------------------------- */
/* For every row find gamma >= 0 such that q = p^gamma / sum p^gamma (probabilities) or
 * q = softmax(gamma z) (logits) has entropy target[i] nats, and write q. */

typedef enum logitcore_en_input {
  LOGITCORE_EN_PROBABILITIES = 0, /* rows are probabilities (>= 0, summing to 1) */
  LOGITCORE_EN_LOGITS = 1         /* rows are logits */
} logitcore_en_input;

typedef enum logitcore_en_row_status {
  LOGITCORE_EN_OK = 0,
  LOGITCORE_EN_ABOVE_RANGE = 1, /* target > log|support| + tol: gamma = 0 comes closest */
  LOGITCORE_EN_BELOW_RANGE = 2, /* target < log|ties at the maximum| - tol: gamma = inf */
  LOGITCORE_EN_INVALID = 3,     /* a negative, NaN or infinite probability; a NaN or +inf logit */
  LOGITCORE_EN_BAD_SUM = 4,     /* probabilities do not sum to 1 within sum_tol */
  LOGITCORE_EN_NO_SUPPORT = 5   /* every probability is 0 / every logit is -inf */
} logitcore_en_row_status;

#define LOGITCORE_EN_DEFAULT_TOL_F32 1e-5 /* nats; float32 rows reach it reliably */
#define LOGITCORE_EN_DEFAULT_TOL_F64 1e-9
#define LOGITCORE_EN_DEFAULT_MAX_ITER 50
#define LOGITCORE_EN_MIN_SUM_TOL 1e-6 /* default sum_tol: max(this, epsilon of the data type) */

typedef struct logitcore_en_options {
  int input;              /* logitcore_en_input */
  double tol;             /* |H(q) - target| <= tol (nats) after q is rounded; < 0: dtype default */
  int max_iter;           /* passes over a row spent on the search, >= 1 */
  int check_sum;          /* probabilities must sum to 1 within sum_tol (0: any positive sum) */
  double sum_tol;         /* < 0: max(LOGITCORE_EN_MIN_SUM_TOL, epsilon of the data type) */
  int out_of_range_fails; /* 1: rows whose target is out of range fail (are not written) */
} logitcore_en_options;

/* The defaults: probabilities, dtype-default tol and sum_tol, 50 passes, sums checked, clip. */
LOGITCORE_API logitcore_en_options logitcore_en_default_options(void);
/* The tolerances a call with `opt` uses for float (is_f64 = 0) or double data. */
LOGITCORE_API double logitcore_en_effective_tol(const logitcore_en_options* opt, int is_f64);
LOGITCORE_API double logitcore_en_effective_sum_tol(const logitcore_en_options* opt, int is_f64);

/* Per-row results, each NULL (not wanted) or a contiguous array with one entry per row. */
typedef struct logitcore_en_info {
  double* gamma;       /* gamma found (0: uniform over the support; inf: uniform over the ties) */
  int32_t* n_iter;     /* passes over the row spent on the search */
  uint8_t* converged;  /* |H - target| <= tol reached */
  uint8_t* clipped;    /* the target was outside [h_min, h_max] and was clipped */
  int8_t* status;      /* logitcore_en_row_status */
  double* h_min;       /* log |ties at the maximum|: the lowest reachable entropy */
  double* h_max;       /* log |support|: the highest reachable entropy */
  double* entropy;     /* entropy of the returned row, as evaluated by the search */
} logitcore_en_info;

/* out has x's shape and may be x itself. target: target[i * target_stride] for row i (stride 0:
 * one target for every row; NaN targets are invalid). opt NULL: defaults; info NULL: nothing
 * reported. Rows that fail (status INVALID, BAD_SUM, NO_SUPPORT, and with out_of_range_fails
 * ABOVE_RANGE/BELOW_RANGE) are not written; the call still returns LOGITCORE_OK: check the
 * per-row status. */
LOGITCORE_API logitcore_status logitcore_entropy_normalize_f32(const logitcore_matrix* x, const logitcore_matrix* out,
                                                               const double* target, int64_t target_stride,
                                                               const logitcore_en_options* opt,
                                                               const logitcore_en_info* info, int num_threads);
LOGITCORE_API logitcore_status logitcore_entropy_normalize_f64(const logitcore_matrix* x, const logitcore_matrix* out,
                                                               const double* target, int64_t target_stride,
                                                               const logitcore_en_options* opt,
                                                               const logitcore_en_info* info, int num_threads);

/* ---- fused losses of the target probability (docs/math.md §3) ------------------------------ */
/* Per row i with target y = target[i] and l = log p_y = x[i,y] - logsumexp(x[i]):
 *   GAMMA_CE  L = -log(g + (1-g) p_y) / (1-g), param g in [0, 1] (L = 1 - p_y at g = 1),
 *             gradient weight w = max(threshold, p_y / (g + (1-g) p_y)), threshold in [0, 1];
 *   GCE       L = (1 - p_y^q) / q, param q in (0, 1], w = p_y^q;
 *   FOCAL     L = -(1 - p_y)^g log p_y, param g >= 0 finite, w = (1-p_y)^g (1 + g p_y (-l)/(1-p_y)).
 * dL/dx[i] = w (softmax(x[i]) - onehot(y)). Everything is computed from l in double. */

typedef enum logitcore_loss_kind {
  LOGITCORE_LOSS_GAMMA_CE = 0,
  LOGITCORE_LOSS_GCE = 1,
  LOGITCORE_LOSS_FOCAL = 2
} logitcore_loss_kind;

typedef enum logitcore_reduction {
  LOGITCORE_REDUCTION_NONE = 0, /* per-row losses; the gradient is that of their sum */
  LOGITCORE_REDUCTION_SUM = 1,
  LOGITCORE_REDUCTION_MEAN = 2  /* sum / (sum of the row weights); 0 when that is 0 */
} logitcore_reduction;

#define LOGITCORE_LOSS_DEFAULT_IGNORE_INDEX (-100)

typedef struct logitcore_loss_options {
  int kind;                   /* logitcore_loss_kind */
  double param;               /* g (GAMMA_CE, FOCAL) or q (GCE) */
  double threshold;           /* GAMMA_CE only: floor on the gradient weight */
  int64_t ignore_index;       /* rows with this target: loss 0, zero gradient row */
  const double* class_weight; /* NULL or cols entries: row i weighs class_weight[target[i]] */
  int reduction;              /* logitcore_reduction */
  const double* row_weight;   /* NULL or one finite weight >= 0 per row (sample weights), contiguous;
                                 row i weighs row_weight[i] * class_weight[target[i]] */
} logitcore_loss_options;

/* Cross-entropy, ignore_index -100, no class or row weights, mean reduction. */
LOGITCORE_API logitcore_loss_options logitcore_loss_default_options(void);

/* The loss and the gradient weight w of one row from l = log p_y (l <= 0; -inf allowed). */
LOGITCORE_API logitcore_status logitcore_loss_from_logp(const logitcore_loss_options* opt, double logp, double* loss,
                                                        double* weight);

/* x: logits (rows, classes); target: one int64 per row (contiguous). row_loss (NULL or one
 * double per row, contiguous) receives the weighted per-row losses (0 for ignored rows);
 * the mean divides the weighted sum by the sum of the row weights (class_weight[target] times
 * row_weight; 1 per non-ignored row without either);
 * reduced (NULL or one double) receives the reduction of opt->reduction (for NONE: the sum).
 * grad (NULL: no gradient) has x's shape and may be x itself: the gradient of the reduced loss
 * then overwrites the logits (no second rows x classes buffer). A row with a NaN logit (or
 * every logit -inf) gives a NaN loss and a NaN gradient row; a row with +inf logits uses the
 * limit softmax (uniform over them). Targets are checked before anything is written. */
LOGITCORE_API logitcore_status logitcore_loss_f32(const logitcore_matrix* x, const int64_t* target,
                                                  const logitcore_loss_options* opt, double* row_loss, double* reduced,
                                                  const logitcore_matrix* grad, int num_threads);
LOGITCORE_API logitcore_status logitcore_loss_f64(const logitcore_matrix* x, const int64_t* target,
                                                  const logitcore_loss_options* opt, double* row_loss, double* reduced,
                                                  const logitcore_matrix* grad, int num_threads);

/* ---- half-precision storage (docs/math.md §1.5) -------------------------------------------- */
/* bfloat16 and IEEE float16 (binary16) data, held as their 16 bits. The _bf16 and _f16 functions
 * take matrices of these (strides in elements, as everywhere) and compute in float32: each entry
 * is widened exactly as it is loaded, so every result equals the _f32 function's on float32 data
 * holding the same values, bit for bit. Outputs of the input's shape (softmax, log_softmax, the
 * loss gradient) are that float32 result rounded to nearest, ties to even (float16: overflow
 * to inf; NaN stays NaN). Per-row results (logsumexp, sign, entropies) are float32 vectors;
 * losses and states are double, as for _f32. Everything else (arguments, errors, in-place
 * rules, threads) is as documented for the _f32 function of the same name. */
typedef uint16_t logitcore_bf16;
typedef uint16_t logitcore_f16;

/* x, b: logitcore_bf16 / logitcore_f16 data; out, sign: float vectors. */
LOGITCORE_API logitcore_status logitcore_logsumexp_bf16(const logitcore_matrix* x, const logitcore_matrix* b,
                                                        const logitcore_vector* out, const logitcore_vector* sign,
                                                        int num_threads);
LOGITCORE_API logitcore_status logitcore_logsumexp_f16(const logitcore_matrix* x, const logitcore_matrix* b,
                                                       const logitcore_vector* out, const logitcore_vector* sign,
                                                       int num_threads);
/* x, y: half data of one type (y may be x itself). */
LOGITCORE_API logitcore_status logitcore_softmax_bf16(const logitcore_matrix* x, const logitcore_matrix* y,
                                                      int num_threads);
LOGITCORE_API logitcore_status logitcore_softmax_f16(const logitcore_matrix* x, const logitcore_matrix* y,
                                                     int num_threads);
LOGITCORE_API logitcore_status logitcore_log_softmax_bf16(const logitcore_matrix* x, const logitcore_matrix* y,
                                                          int num_threads);
LOGITCORE_API logitcore_status logitcore_log_softmax_f16(const logitcore_matrix* x, const logitcore_matrix* y,
                                                         int num_threads);
/* x, p: half data; out: a float vector. */
LOGITCORE_API logitcore_status logitcore_softmax_entropy_bf16(const logitcore_matrix* x, const logitcore_vector* out,
                                                              int num_threads);
LOGITCORE_API logitcore_status logitcore_softmax_entropy_f16(const logitcore_matrix* x, const logitcore_vector* out,
                                                             int num_threads);
LOGITCORE_API logitcore_status logitcore_entropy_bf16(const logitcore_matrix* p, const logitcore_vector* out,
                                                      int num_threads);
LOGITCORE_API logitcore_status logitcore_entropy_f16(const logitcore_matrix* p, const logitcore_vector* out,
                                                     int num_threads);
LOGITCORE_API logitcore_status logitcore_lse_state_update_bf16(double* max, double* excess,
                                                               const logitcore_matrix* x, int num_threads);
LOGITCORE_API logitcore_status logitcore_lse_state_update_f16(double* max, double* excess, const logitcore_matrix* x,
                                                              int num_threads);
/* x and grad: half data of one type (grad may be x itself). */
LOGITCORE_API logitcore_status logitcore_loss_bf16(const logitcore_matrix* x, const int64_t* target,
                                                   const logitcore_loss_options* opt, double* row_loss,
                                                   double* reduced, const logitcore_matrix* grad, int num_threads);
LOGITCORE_API logitcore_status logitcore_loss_f16(const logitcore_matrix* x, const int64_t* target,
                                                  const logitcore_loss_options* opt, double* row_loss, double* reduced,
                                                  const logitcore_matrix* grad, int num_threads);

/* Entropy normalization (see logitcore_entropy_normalize_f32) of half data: x and out of one
 * half type (out may be x); q is the _f32 result rounded to the format; the per-row info is the
 * _f32 call's (the entropy reported is that of the float32 q, before its rounding). */
LOGITCORE_API logitcore_status logitcore_entropy_normalize_bf16(const logitcore_matrix* x, const logitcore_matrix* out,
                                                                const double* target, int64_t target_stride,
                                                                const logitcore_en_options* opt,
                                                                const logitcore_en_info* info, int num_threads);
LOGITCORE_API logitcore_status logitcore_entropy_normalize_f16(const logitcore_matrix* x, const logitcore_matrix* out,
                                                               const double* target, int64_t target_stride,
                                                               const logitcore_en_options* opt,
                                                               const logitcore_en_info* info, int num_threads);

/* ---- token sampling (docs/math.md §4) ------------------------------------------------------ */
/* One token per row of logits: tempering (or a target entropy), top-k, top-p, min-p, then one
 * draw from what is left, renormalized, with a uniform from Philox4x32-10 keyed by (seed, offset).
 * No vocabulary sort: a selection pass, a histogram search and one walk. A row's token depends
 * only on its logits, settings, seed and offset: not on the batch, the thread count or the ISA.
 *
 * Settings are per row: each is a pointer and a stride in elements (stride 0: the same value for
 * every row; NULL pointer: the default). Valid values: temperature finite >= 0 (0: greedy,
 * argmax with ties to the lowest index); top_k >= 0 (0: off); top_p in (0, 1] (1: off); min_p in
 * [0, 1] (0: off); target_entropy NaN (off) or >= 0 nats (replaces the temperature; clipped to
 * the reachable range). seed and offset: any unsigned 64-bit values. */
typedef struct logitcore_sampling_params {
  const double* temperature;    /* default 1 */
  int64_t temperature_stride;
  const int64_t* top_k;         /* default 0 (off) */
  int64_t top_k_stride;
  const double* top_p;          /* default 1 (off) */
  int64_t top_p_stride;
  const double* min_p;          /* default 0 (off) */
  int64_t min_p_stride;
  const double* target_entropy; /* default off (NaN) */
  int64_t target_entropy_stride;
  const uint64_t* seed;         /* default 0 */
  int64_t seed_stride;
  const uint64_t* offset;       /* default 0 (a server passes the token position) */
  int64_t offset_stride;
} logitcore_sampling_params;

/* Every pointer NULL: temperature 1, no filter, seed 0, offset 0 for every row. */
LOGITCORE_API logitcore_sampling_params logitcore_sampling_default_params(void);

/* tokens: one int64 per row (contiguous). With n_logprobs > 0 (at most cols), top_tokens and
 * top_logprobs (rows x n_logprobs, contiguous, each may be NULL) receive the n_logprobs largest
 * logits' indices (ties in index order) and their log-probabilities, and token_logprob (NULL or
 * one per row) that of the chosen token; all of log_softmax(logits) at temperature 1, in double.
 * A NaN logit or a row without a finite logit and without +inf fails the call (the message names
 * the row); +inf logits make the row uniform over them. Nothing is written on failure. */
LOGITCORE_API logitcore_status logitcore_sample_f32(const logitcore_matrix* logits, const logitcore_sampling_params* params,
                                                    int64_t* tokens, int64_t n_logprobs, double* token_logprob,
                                                    int64_t* top_tokens, double* top_logprobs, int num_threads);
LOGITCORE_API logitcore_status logitcore_sample_f64(const logitcore_matrix* logits, const logitcore_sampling_params* params,
                                                    int64_t* tokens, int64_t n_logprobs, double* token_logprob,
                                                    int64_t* top_tokens, double* top_logprobs, int num_threads);

/* The distribution logitcore_sample draws from, for inspection (speculative decoding, tests):
 * probs (NULL or logits' shape, same element type) receives the renormalized kept distribution
 * (0 outside the kept set), kept (NULL or logits' shape, uint8_t elements) 1 on the kept set,
 * gamma (NULL or one double per row) the inverse temperature used (1/T; the target entropy's
 * gamma, 0 or inf at the clipped ends; inf for greedy rows). Same settings, same failures. */
LOGITCORE_API logitcore_status logitcore_sample_filter_f32(const logitcore_matrix* logits,
                                                           const logitcore_sampling_params* params,
                                                           const logitcore_matrix* probs, const logitcore_matrix* kept,
                                                           double* gamma, int num_threads);
LOGITCORE_API logitcore_status logitcore_sample_filter_f64(const logitcore_matrix* logits,
                                                           const logitcore_sampling_params* params,
                                                           const logitcore_matrix* probs, const logitcore_matrix* kept,
                                                           double* gamma, int num_threads);

/* Half logits (see "half-precision storage"): the same tokens, log-probabilities and gammas as
 * the _f32 calls on float32 logits holding the same values; probs (sample_filter) is half data
 * of the logits' type, the _f32 probabilities rounded to it. */
LOGITCORE_API logitcore_status logitcore_sample_bf16(const logitcore_matrix* logits,
                                                     const logitcore_sampling_params* params, int64_t* tokens,
                                                     int64_t n_logprobs, double* token_logprob, int64_t* top_tokens,
                                                     double* top_logprobs, int num_threads);
LOGITCORE_API logitcore_status logitcore_sample_f16(const logitcore_matrix* logits,
                                                    const logitcore_sampling_params* params, int64_t* tokens,
                                                    int64_t n_logprobs, double* token_logprob, int64_t* top_tokens,
                                                    double* top_logprobs, int num_threads);
LOGITCORE_API logitcore_status logitcore_sample_filter_bf16(const logitcore_matrix* logits,
                                                            const logitcore_sampling_params* params,
                                                            const logitcore_matrix* probs,
                                                            const logitcore_matrix* kept, double* gamma,
                                                            int num_threads);
LOGITCORE_API logitcore_status logitcore_sample_filter_f16(const logitcore_matrix* logits,
                                                           const logitcore_sampling_params* params,
                                                           const logitcore_matrix* probs, const logitcore_matrix* kept,
                                                           double* gamma, int num_threads);

/* Penalties from each row's previous tokens (docs/math.md §4.4), per-row settings as pointer +
 * stride (NULL: off): repetition rho > 0 (logits of seen tokens divided by rho when positive,
 * multiplied when not; 1: off), frequency alpha_f (minus count * alpha_f) and presence alpha_p
 * (minus alpha_p once), both finite. */
typedef struct logitcore_penalty_params {
  const double* repetition;
  int64_t repetition_stride;
  const double* frequency;
  int64_t frequency_stride;
  const double* presence;
  int64_t presence_stride;
} logitcore_penalty_params;

/* y = x adjusted (y has x's shape and may be x itself). token_ids: a rows x L matrix of int64_t
 * (any strides; -1 is padding); an id below -1 or >= cols fails with
 * LOGITCORE_OUT_OF_RANGE before anything is written. */
LOGITCORE_API logitcore_status logitcore_apply_penalties_f32(const logitcore_matrix* x, const logitcore_matrix* y,
                                                             const logitcore_matrix* token_ids,
                                                             const logitcore_penalty_params* params, int num_threads);
LOGITCORE_API logitcore_status logitcore_apply_penalties_f64(const logitcore_matrix* x, const logitcore_matrix* y,
                                                             const logitcore_matrix* token_ids,
                                                             const logitcore_penalty_params* params, int num_threads);
/* Half-precision data (see "half-precision storage"): each adjusted logit computed in double,
 * rounded to float32 and then to the format, as the _f32 result rounded to it. */
LOGITCORE_API logitcore_status logitcore_apply_penalties_bf16(const logitcore_matrix* x, const logitcore_matrix* y,
                                                              const logitcore_matrix* token_ids,
                                                              const logitcore_penalty_params* params, int num_threads);
LOGITCORE_API logitcore_status logitcore_apply_penalties_f16(const logitcore_matrix* x, const logitcore_matrix* y,
                                                             const logitcore_matrix* token_ids,
                                                             const logitcore_penalty_params* params, int num_threads);

/* The uniform in [0, 1) a row with this seed and offset draws (docs/math.md §4.2). */
LOGITCORE_API double logitcore_sample_uniform(uint64_t seed, uint64_t offset);

/* ---- elementwise (contiguous vectors; y may be x) ------------------------------------------ */

/* y = exp(x) with the kernels' exp (float32: within 1 ulp; overflow +inf, NaN propagates). */
LOGITCORE_API logitcore_status logitcore_exp_f32(const float* x, int64_t n, float* y);
LOGITCORE_API logitcore_status logitcore_exp_f64(const double* x, int64_t n, double* y);
/* y = log(x) (log 0 = -inf, log of a negative or NaN = NaN, log inf = inf). */
LOGITCORE_API logitcore_status logitcore_log_f32(const float* x, int64_t n, float* y);
LOGITCORE_API logitcore_status logitcore_log_f64(const double* x, int64_t n, double* y);
/* The raw vector cores behind the kernels, for accuracy testing: y = 2^x for x in
 * [-160, 128] (float) / [-1100, 1024] (double), y = log2(x) for finite x > 0. Outside these
 * domains the values are unspecified (but the call is safe). */
LOGITCORE_API logitcore_status logitcore_exp2_core_f32(const float* x, int64_t n, float* y);
LOGITCORE_API logitcore_status logitcore_exp2_core_f64(const double* x, int64_t n, double* y);
LOGITCORE_API logitcore_status logitcore_log2_core_f32(const float* x, int64_t n, float* y);
LOGITCORE_API logitcore_status logitcore_log2_core_f64(const double* x, int64_t n, double* y);

/* ---- sparse (CSR) times dense ---------------------------------------------------------------- */

/* The integer type of a CSR matrix's indptr and indices (both the same, as in SciPy). */
typedef enum logitcore_index_type {
  LOGITCORE_INDEX_INT32 = 0, /* int32_t */
  LOGITCORE_INDEX_INT64 = 1  /* int64_t */
} logitcore_index_type;

/* A sparse matrix in CSR form: row r holds the entries data[p] at columns indices[p] for p in
 * [indptr[r], indptr[r + 1]). indptr has rows + 1 entries (never NULL) with indptr[0] == 0,
 * non-decreasing; nnz = indptr[rows] entries of indices (index_type) and data (the element type
 * of the call; both may be NULL when nnz == 0). Column indices must lie in [0, cols); within a
 * row they may be unsorted and repeated (repeats add up). */
typedef struct logitcore_csr {
  int64_t rows;
  int64_t cols;
  int index_type; /* a logitcore_index_type */
  const void* indptr;
  const void* indices;
  const void* data;
} logitcore_csr;

/* out (rows x k) = A (rows x cols, CSR) times b (cols x k). For A^T times b pass the CSC arrays
 * of A (they are the CSR arrays of A^T, with rows and cols swapped).
 *
 * b and out: any row stride (b's may be 0 or negative), contiguous columns (col_stride 1 when
 * they have rows and at least 2 columns; other layouts fail with LOGITCORE_INVALID_ARGUMENT:
 * copy first).
 * out must not overlap b or A's arrays. Every argument and every index is checked before
 * anything is written: a bad indptr fails with LOGITCORE_INVALID_ARGUMENT, a column index
 * outside [0, cols) with LOGITCORE_OUT_OF_RANGE (the message names the first one, its position
 * and row). Non-finite values propagate as in the plain sums (NaN in, NaN out).
 *
 * Each out[r, j] is the sum over the row's entries in their stored order, p = indptr[r] first:
 * ((data[p0] * b[i0, j] + data[p1] * b[i1, j]) + ...), one multiply-add per entry, formed by one
 * thread. Results are bitwise identical for every thread count; the AVX2 and AVX-512 kernels
 * use fused multiply-adds and agree bitwise; the scalar kernels do not fuse (float rows are
 * summed in double and rounded once), so they differ from the others by the rounding of the
 * products: within about nnz_r * eps * sum_p |data[p] b[i_p, j]| of each other (eps of the
 * element type). Rows without entries give 0. Threads split the rows (balanced by entries);
 * a b larger than 2 MB is taken in panels of columns (multiples of 64, as many as fit in 2 MB,
 * at least 64), each reused from cache by all of a thread's rows before the next. */
LOGITCORE_API logitcore_status logitcore_csr_matmul_f32(const logitcore_csr* a, const logitcore_matrix* b,
                                                        const logitcore_matrix* out, int num_threads);
LOGITCORE_API logitcore_status logitcore_csr_matmul_f64(const logitcore_csr* a, const logitcore_matrix* b,
                                                        const logitcore_matrix* out, int num_threads);
/* b of half data (see "half-precision storage"); a's data and out are float (a.data float):
 * the same sums, bit for bit, as _f32 with b widened to float32. */
LOGITCORE_API logitcore_status logitcore_csr_matmul_bf16(const logitcore_csr* a, const logitcore_matrix* b,
                                                         const logitcore_matrix* out, int num_threads);
LOGITCORE_API logitcore_status logitcore_csr_matmul_f16(const logitcore_csr* a, const logitcore_matrix* b,
                                                        const logitcore_matrix* out, int num_threads);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* LOGITCORE_LOGITCORE_H */
