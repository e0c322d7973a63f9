/* Compiled as strict C99 (-pedantic-errors -Werror, see CMakeLists.txt): logitcore.h is a valid C
 * header. Uses every type, enum and macro of the header and calls a few functions through it;
 * test_c_api.cpp runs it. Returns 0 on success, otherwise the number of the failed step. */
#include "logitcore/logitcore.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

int logitcore_c_header_check(void);

int logitcore_c_header_check(void) {
  double x[6] = {0.0, 1.0, 2.0, -1.0, -1.0, -1.0};
  double b[6] = {1.0, 1.0, 1.0, 1.0, -2.0, 1.0};
  double out[2], sign[2], q[6], target = 0.5;
  double state_max[2], state_excess[2], lse_result[2], loss_row[2], reduced = 0.0, loss = 0.0, weight = 0.0;
  double gamma[2], h_min[2], h_max[2], entropy[2];
  int32_t n_iter[2];
  uint8_t converged[2], clipped[2];
  int8_t row_status[2];
  int64_t labels[2] = {2, LOGITCORE_LOSS_DEFAULT_IGNORE_INDEX};
  float xf[3] = {1.0f, 2.0f, 3.0f}, yf[3];
  logitcore_matrix mx = {x, 2, 3, 3, 1};
  logitcore_matrix mb = {b, 2, 3, 3, 1};
  logitcore_matrix mq = {q, 2, 3, 3, 1};
  logitcore_vector vout = {out, 2, 1};
  logitcore_vector vsign = {sign, 2, 1};
  logitcore_en_options eo = logitcore_en_default_options();
  logitcore_en_info info;
  logitcore_loss_options lo = logitcore_loss_default_options();
  logitcore_en_input input = LOGITCORE_EN_LOGITS;
  logitcore_en_row_status ok_row = LOGITCORE_EN_OK;
  logitcore_loss_kind kind = LOGITCORE_LOSS_FOCAL;
  logitcore_reduction reduction = LOGITCORE_REDUCTION_SUM;
  logitcore_isa isa = logitcore_get_isa();
  logitcore_status st;
  int i;

  /* 1: version and names */
  if (strcmp(logitcore_version(), LOGITCORE_VERSION_STRING) != 0) return 1;
  if (LOGITCORE_VERSION_MAJOR < 0 || LOGITCORE_VERSION_MINOR < 0 || LOGITCORE_VERSION_PATCH < 0) return 1;
  if (strcmp(logitcore_status_name(LOGITCORE_OK), "ok") != 0) return 1;
  /* 2: ISA and threads */
  if ((int)isa < 0 || (int)isa >= LOGITCORE_ISA_COUNT || !logitcore_isa_supported((int)isa)) return 2;
  if (logitcore_isa_name(LOGITCORE_ISA_SCALAR) == NULL || !logitcore_isa_compiled(LOGITCORE_ISA_SCALAR)) return 2;
  if (logitcore_get_num_threads() < 1 || logitcore_get_num_threads() > LOGITCORE_MAX_THREADS) return 2;
  if (logitcore_block_size() <= 0 || logitcore_have_openmp() < 0) return 2;
  if (LOGITCORE_ISA_AVX2 == LOGITCORE_ISA_AVX512) return 2;
  /* 3: weighted logsumexp with sign: row 1 sums to e^-1 (1 - 2 + 1) = 0 */
  st = logitcore_logsumexp_f64(&mx, &mb, &vout, &vsign, 0);
  if (st != LOGITCORE_OK || sign[0] != 1.0 || sign[1] != 0.0 || !(isinf(out[1]) && out[1] < 0)) return 3;
  if (fabs(out[0] - log(exp(0.0) + exp(1.0) + exp(2.0))) > 1e-13) return 3;
  /* 4: an error sets the status and the message */
  mx.rows = -1;
  st = logitcore_softmax_f64(&mx, &mq, 1);
  mx.rows = 2;
  if (st != LOGITCORE_INVALID_ARGUMENT || logitcore_last_error()[0] == '\0') return 4;
  /* 5: the streaming state */
  if (logitcore_lse_state_init(state_max, state_excess, 2) != LOGITCORE_OK) return 5;
  if (logitcore_lse_state_update_f64(state_max, state_excess, &mx, 1) != LOGITCORE_OK) return 5;
  if (logitcore_lse_state_merge(state_max, state_excess, state_max, state_excess, 0) != LOGITCORE_OK) return 5;
  if (logitcore_lse_state_result(state_max, state_excess, 2, lse_result) != LOGITCORE_OK) return 5;
  if (fabs(lse_result[0] - out[0]) > 1e-13) return 5;
  /* 6: entropy normalization of logits with every info field */
  info.gamma = gamma;
  info.n_iter = n_iter;
  info.converged = converged;
  info.clipped = clipped;
  info.status = row_status;
  info.h_min = h_min;
  info.h_max = h_max;
  info.entropy = entropy;
  eo.input = (int)input;
  eo.tol = LOGITCORE_EN_DEFAULT_TOL_F64;
  eo.max_iter = LOGITCORE_EN_DEFAULT_MAX_ITER;
  eo.sum_tol = LOGITCORE_EN_MIN_SUM_TOL;
  if (logitcore_en_effective_tol(&eo, 1) != LOGITCORE_EN_DEFAULT_TOL_F64) return 6;
  if (logitcore_en_effective_sum_tol(&eo, 0) != LOGITCORE_EN_MIN_SUM_TOL) return 6;
  mx.rows = mq.rows = 1; /* row 1 is uniform: it cannot reach 0.5 nats */
  st = logitcore_entropy_normalize_f64(&mx, &mq, &target, 0, &eo, &info, 1);
  mx.rows = mq.rows = 2;
  if (st != LOGITCORE_OK) return 6;
  for (i = 0; i < 1; ++i)
    if (row_status[i] != (int8_t)ok_row || !converged[i] || fabs(entropy[i] - target) > 1e-9) return 6;
  if (LOGITCORE_EN_ABOVE_RANGE + LOGITCORE_EN_BELOW_RANGE + LOGITCORE_EN_INVALID + LOGITCORE_EN_BAD_SUM +
          LOGITCORE_EN_NO_SUPPORT + LOGITCORE_EN_PROBABILITIES + LOGITCORE_EN_DEFAULT_TOL_F32 <= 0)
    return 6;
  /* 7: a summed focal loss; the ignored row contributes 0 */
  lo.kind = (int)kind;
  lo.param = 2.0;
  lo.reduction = (int)reduction;
  if (logitcore_loss_f64(&mx, labels, &lo, loss_row, &reduced, NULL, 1) != LOGITCORE_OK) return 7;
  if (loss_row[1] != 0.0 || reduced != loss_row[0] || !(reduced > 0.0)) return 7;
  if (logitcore_loss_from_logp(&lo, -1.0, &loss, &weight) != LOGITCORE_OK || !(loss > 0.0 && weight > 0.0)) return 7;
  if (LOGITCORE_LOSS_GAMMA_CE + LOGITCORE_LOSS_GCE + LOGITCORE_REDUCTION_NONE + LOGITCORE_REDUCTION_MEAN <= 0)
    return 7;
  /* 8: elementwise */
  if (logitcore_exp_f32(xf, 3, yf) != LOGITCORE_OK || fabs(yf[2] - exp(3.0)) > 1e-5) return 8;
  if (logitcore_log_f32(yf, 3, yf) != LOGITCORE_OK || fabs(yf[1] - 2.0) > 1e-6) return 8;
  /* 9: status codes and ISA values are distinct */
  if (LOGITCORE_OUT_OF_RANGE == LOGITCORE_UNSUPPORTED || LOGITCORE_OUT_OF_MEMORY == LOGITCORE_INTERNAL) return 9;
  if (logitcore_set_isa(logitcore_isa_name((int)isa)) != LOGITCORE_OK || logitcore_get_isa() != isa) return 9;
  if (logitcore_isa_env_error() != NULL && logitcore_isa_env_error()[0] == '\0') return 9;
  return 0;
}
