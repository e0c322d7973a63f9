/* A C99 consumer of the installed logitcore package (the C ABI, logitcore.h): logsumexp,
 * softmax and a fused loss with its gradient, every call checked.
 *
 *   lse                  the demo: a small batch, printed
 *   lse --dump IN OUT    the same calls on the logits and targets read from IN, every result
 *                        written to OUT (the test compares them bitwise with the Python API;
 *                        the format is in examples/README.md)
 *
 * The loss is the gamma-cross-entropy with gamma = 0.5, summed over the rows; rows whose target
 * is -100 (the default ignore_index) are left out.
 */
#include <logitcore/logitcore.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOSS_GAMMA 0.5

/* Every logitcore function that can fail returns a status; on failure it has written nothing
 * and logitcore_last_error() names the problem. */
#define CHECK(call)                                                                             \
  do {                                                                                          \
    logitcore_status check_status_ = (call);                                                    \
    if (check_status_ != LOGITCORE_OK) {                                                        \
      fprintf(stderr, "lse: %s failed (%s): %s\n", #call, logitcore_status_name(check_status_), \
              logitcore_last_error());                                                          \
      exit(1);                                                                                  \
    }                                                                                           \
  } while (0)

typedef struct results {
  float* lse;        /* rows */
  float* softmax;    /* rows x cols */
  double* row_loss;  /* rows */
  double reduced;    /* the summed loss */
  float* grad;       /* rows x cols */
} results;

static void* xmalloc(size_t n) {
  void* p = malloc(n ? n : 1);
  if (!p) {
    fprintf(stderr, "lse: out of memory\n");
    exit(1);
  }
  return p;
}

/* A row-major contiguous matrix view of rows x cols floats. */
static logitcore_matrix matrix(float* data, int64_t rows, int64_t cols) {
  logitcore_matrix m;
  m.data = data;
  m.rows = rows;
  m.cols = cols;
  m.row_stride = cols;
  m.col_stride = 1;
  return m;
}

static results compute(float* logits, const int64_t* target, int64_t rows, int64_t cols) {
  results r;
  const size_t n = (size_t)(rows * cols);
  logitcore_matrix x = matrix(logits, rows, cols);
  logitcore_matrix y, g;
  logitcore_vector out;
  logitcore_loss_options opt;

  r.lse = (float*)xmalloc((size_t)rows * sizeof(float));
  r.softmax = (float*)xmalloc(n * sizeof(float));
  r.row_loss = (double*)xmalloc((size_t)rows * sizeof(double));
  r.grad = (float*)xmalloc(n * sizeof(float));

  out.data = r.lse;
  out.size = rows;
  out.stride = 1;
  CHECK(logitcore_logsumexp_f32(&x, NULL, &out, NULL, 0)); /* unweighted, no sign */

  y = matrix(r.softmax, rows, cols);
  CHECK(logitcore_softmax_f32(&x, &y, 0));

  opt = logitcore_loss_default_options(); /* cross-entropy, ignore_index -100, mean */
  opt.kind = LOGITCORE_LOSS_GAMMA_CE;
  opt.param = LOSS_GAMMA;
  opt.reduction = LOGITCORE_REDUCTION_SUM;
  g = matrix(r.grad, rows, cols);
  CHECK(logitcore_loss_f32(&x, target, &opt, r.row_loss, &r.reduced, &g, 0));
  return r;
}

static void release(results* r) {
  free(r->lse);
  free(r->softmax);
  free(r->row_loss);
  free(r->grad);
}

static int demo(void) {
  enum { ROWS = 3, COLS = 5 };
  float logits[ROWS * COLS] = {
      1.0f, 2.0f, 3.0f,  4.0f, 5.0f,  /* */
      0.0f, 0.0f, 0.0f,  0.0f, 0.0f,  /* uniform */
      9.0f, 0.5f, -1.0f, 2.0f, 0.25f, /* confident */
  };
  const int64_t target[ROWS] = {4, 2, -100}; /* the last row is ignored */
  const int64_t bad_target[ROWS] = {4, 5, 0};
  logitcore_matrix x = matrix(logits, ROWS, COLS);
  logitcore_loss_options opt = logitcore_loss_default_options();
  logitcore_status status;
  double loss;
  results r;
  int i, j;

  printf("logitcore %s (headers %s), ISA %s\n", logitcore_version(), LOGITCORE_VERSION_STRING,
         logitcore_isa_name(logitcore_get_isa()));
  r = compute(logits, target, ROWS, COLS);
  for (i = 0; i < ROWS; ++i) {
    printf("row %d: logsumexp %.6f softmax", i, r.lse[i]);
    for (j = 0; j < COLS; ++j) printf(" %.4f", r.softmax[i * COLS + j]);
    printf(" | loss %.6f\n", r.row_loss[i]);
  }
  printf("gamma-cross-entropy (gamma %.1f), summed: %.6f\n", LOSS_GAMMA, r.reduced);
  release(&r);

  /* an error: a target outside [0, cols) is reported, and nothing is written */
  loss = -1.0;
  status = logitcore_loss_f32(&x, bad_target, &opt, NULL, &loss, NULL, 0);
  printf("a bad target: status %d (%s): %s; loss left at %.1f\n", (int)status, logitcore_status_name(status),
         logitcore_last_error(), loss);
  return status == LOGITCORE_OUT_OF_RANGE ? 0 : 1;
}

/* ---- --dump ------------------------------------------------------------------------------- */

static void read_all(FILE* f, void* p, size_t size, size_t n) {
  if (fread(p, size, n, f) != n) {
    fprintf(stderr, "lse: input file too short\n");
    exit(1);
  }
}

static void write_all(FILE* f, const void* p, size_t size, size_t n) {
  if (fwrite(p, size, n, f) != n) {
    fprintf(stderr, "lse: cannot write the output file\n");
    exit(1);
  }
}

static int dump(const char* in_path, const char* out_path) {
  int64_t shape[2];
  float* logits;
  int64_t* target;
  size_t n;
  results r;
  FILE* f = fopen(in_path, "rb");
  if (!f) {
    fprintf(stderr, "lse: cannot open %s\n", in_path);
    return 1;
  }
  read_all(f, shape, sizeof(int64_t), 2);
  if (shape[0] < 0 || shape[1] < 0) {
    fprintf(stderr, "lse: bad shape in %s\n", in_path);
    return 1;
  }
  n = (size_t)(shape[0] * shape[1]);
  logits = (float*)xmalloc(n * sizeof(float));
  target = (int64_t*)xmalloc((size_t)shape[0] * sizeof(int64_t));
  read_all(f, logits, sizeof(float), n);
  read_all(f, target, sizeof(int64_t), (size_t)shape[0]);
  fclose(f);

  r = compute(logits, target, shape[0], shape[1]);

  f = fopen(out_path, "wb");
  if (!f) {
    fprintf(stderr, "lse: cannot open %s\n", out_path);
    return 1;
  }
  write_all(f, r.lse, sizeof(float), (size_t)shape[0]);
  write_all(f, r.softmax, sizeof(float), n);
  write_all(f, r.row_loss, sizeof(double), (size_t)shape[0]);
  write_all(f, &r.reduced, sizeof(double), 1);
  write_all(f, r.grad, sizeof(float), n);
  if (fclose(f) != 0) {
    fprintf(stderr, "lse: cannot write %s\n", out_path);
    return 1;
  }
  release(&r);
  free(logits);
  free(target);
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 1) return demo();
  if (argc == 4 && strcmp(argv[1], "--dump") == 0) return dump(argv[2], argv[3]);
  fprintf(stderr, "usage: %s [--dump IN OUT]\n", argv[0]);
  return 2;
}
