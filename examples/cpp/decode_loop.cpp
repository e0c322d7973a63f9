// A consumer of the installed logitcore package (C++ API, logitcore.hpp): a greedy decode loop
// over the logits of a stand-in language model.
//
// Every step, for a batch of rows (sequences) over a vocabulary:
//   1. log_softmax: the log-probabilities of the next token;
//   2. the greedy token: the argmax of each row;
//   3. entropy normalization of the logits: q = softmax(gamma z) with entropy kTargetEntropy
//      nats per row (gamma is an inverse temperature chosen per row);
//   4. the cross-entropy of reference tokens (teacher forcing) with its gradient written over
//      the logits (in place: no second rows x vocab buffer).
//
//   decode_loop                 the demo: 4 rows x 32000 tokens, 5 steps, prints a summary
//   decode_loop --dump IN OUT   one step on the logits and reference tokens read from IN,
//                               every result written to OUT (the test compares them bitwise
//                               with the Python API; the format is in examples/README.md)
#include <logitcore/logitcore.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

constexpr double kTargetEntropy = 3.0;  // nats: about exp(3) = 20 plausible tokens per row

// What one decode step computes for a batch of rows.
struct Step {
  std::vector<float> log_probs;   // rows x vocab
  std::vector<std::int64_t> token;  // greedy token of each row
  std::vector<float> q;           // rows x vocab: entropy-normalized distribution
  logitcore::EntropyNormalizeInfo q_info;
  std::vector<double> row_loss;   // cross-entropy of each row's reference token
  double loss = 0;                // mean over the rows
  std::vector<float> grad;        // rows x vocab: d loss / d logits
};

Step decode_step(const std::vector<float>& logits, std::int64_t rows, std::int64_t vocab,
                 const std::vector<std::int64_t>& reference) {
  using logitcore::Matrix;
  const Matrix<const float> z(logits.data(), rows, vocab);
  const auto n = static_cast<std::size_t>(rows * vocab);
  Step s;

  s.log_probs.resize(n);
  logitcore::log_softmax(z, Matrix<float>(s.log_probs.data(), rows, vocab));

  s.token.resize(static_cast<std::size_t>(rows));
  for (std::int64_t i = 0; i < rows; ++i) {
    const float* row = s.log_probs.data() + i * vocab;
    s.token[static_cast<std::size_t>(i)] = std::max_element(row, row + vocab) - row;
  }

  s.q.resize(n);
  logitcore::entropy_normalize(z, Matrix<float>(s.q.data(), rows, vocab), kTargetEntropy,
                               logitcore::EntropyNormalizeOptions::logits(), &s.q_info);

  // the gradient overwrites a copy of the logits: grad may be the logits themselves
  s.grad = logits;
  s.row_loss.resize(static_cast<std::size_t>(rows));
  const Matrix<float> g(s.grad.data(), rows, vocab);
  s.loss = logitcore::loss(g, reference.data(), logitcore::LossOptions(), s.row_loss.data(), g);
  return s;
}

// A stand-in for a language model: noise, plus three likely continuations of the previous
// token (the second of which is what the reference text says comes next).
class FakeModel {
 public:
  FakeModel(std::int64_t rows, std::int64_t vocab, std::uint64_t seed) : rows_(rows), vocab_(vocab), rng_(seed) {}

  std::int64_t continuation(std::int64_t previous, std::int64_t k) const { return (previous * 7919 + k) % vocab_; }

  std::vector<float> logits(const std::vector<std::int64_t>& previous) {
    std::normal_distribution<float> noise(0.0f, 2.0f);
    std::vector<float> z(static_cast<std::size_t>(rows_ * vocab_));
    for (float& v : z) v = noise(rng_);
    for (std::int64_t i = 0; i < rows_; ++i)
      for (std::int64_t k = 1; k <= 3; ++k)
        z[static_cast<std::size_t>(i * vocab_ + continuation(previous[static_cast<std::size_t>(i)], k))] +=
            12.0f - 2.0f * static_cast<float>(k);
    return z;
  }

  std::vector<std::int64_t> reference_tokens(const std::vector<std::int64_t>& previous) const {
    std::vector<std::int64_t> t(previous.size());
    for (std::size_t i = 0; i < t.size(); ++i) t[i] = continuation(previous[i], 2);
    return t;
  }

 private:
  std::int64_t rows_, vocab_;
  std::mt19937_64 rng_;
};

double norm(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += static_cast<double>(x) * x;
  return std::sqrt(s);
}

int demo() {
  const std::int64_t rows = 4, vocab = 32000, steps = 5;
  std::printf("logitcore %s (headers %s), ISA %s, %d threads\n", logitcore::version().c_str(),
              LOGITCORE_VERSION_STRING, logitcore::isa().c_str(), logitcore::num_threads());
  std::printf("greedy decode: %lld rows x %lld tokens, %lld steps, target entropy %.2f nats\n",
              static_cast<long long>(rows), static_cast<long long>(vocab), static_cast<long long>(steps),
              kTargetEntropy);

  FakeModel model(rows, vocab, 2024);
  std::vector<std::int64_t> tokens(static_cast<std::size_t>(rows));
  for (std::int64_t i = 0; i < rows; ++i) tokens[static_cast<std::size_t>(i)] = 1 + i;  // start tokens
  for (std::int64_t step = 0; step < steps; ++step) {
    const std::vector<float> logits = model.logits(tokens);
    const Step s = decode_step(logits, rows, vocab, model.reference_tokens(tokens));

    double logp_sum = 0, temp_sum = 0, h_err = 0;
    for (std::int64_t i = 0; i < rows; ++i) {
      const auto r = static_cast<std::size_t>(i);
      logp_sum += s.log_probs[static_cast<std::size_t>(i * vocab + s.token[r])];
      temp_sum += 1.0 / s.q_info.gamma[r];
      h_err = std::max(h_err, std::fabs(s.q_info.entropy[r] - kTargetEntropy));
    }
    std::printf("step %lld: tokens", static_cast<long long>(step));
    for (std::int64_t t : s.token) std::printf(" %5lld", static_cast<long long>(t));
    std::printf(" | mean log p %.4f | temperature %.3f (|H - target| <= %.1e) | loss %.4f | |grad| %.4f\n",
                logp_sum / rows, temp_sum / rows, h_err, s.loss, norm(s.grad));
    tokens = s.token;
  }
  return 0;
}

// ---- --dump: the same step on arrays from a file -------------------------------------------------

struct File {
  std::FILE* f;
  File(const char* path, const char* mode) : f(std::fopen(path, mode)) {
    if (!f) throw std::runtime_error(std::string("cannot open ") + path);
  }
  ~File() {
    if (f) std::fclose(f);
  }
  void close() {  // for output files: a failing fclose loses data
    const int rc = std::fclose(f);
    f = nullptr;
    if (rc != 0) throw std::runtime_error("cannot write the output file");
  }
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  template <class T>
  void read(T* p, std::size_t n) {
    if (std::fread(p, sizeof(T), n, f) != n) throw std::runtime_error("input file too short");
  }
  template <class T>
  void write(const T* p, std::size_t n) {
    if (std::fwrite(p, sizeof(T), n, f) != n) throw std::runtime_error("cannot write the output file");
  }
};

int dump(const char* in_path, const char* out_path) {
  File in(in_path, "rb");
  std::int64_t shape[2];
  in.read(shape, 2);
  const std::int64_t rows = shape[0], vocab = shape[1];
  if (rows < 0 || vocab < 0) throw std::runtime_error("bad shape in the input file");
  std::vector<float> logits(static_cast<std::size_t>(rows * vocab));
  std::vector<std::int64_t> reference(static_cast<std::size_t>(rows));
  in.read(logits.data(), logits.size());
  in.read(reference.data(), reference.size());

  const Step s = decode_step(logits, rows, vocab, reference);

  File out(out_path, "wb");
  out.write(s.log_probs.data(), s.log_probs.size());
  out.write(s.token.data(), s.token.size());
  out.write(s.q.data(), s.q.size());
  out.write(s.q_info.gamma.data(), s.q_info.gamma.size());
  out.write(s.row_loss.data(), s.row_loss.size());
  out.write(&s.loss, 1);
  out.write(s.grad.data(), s.grad.size());
  out.close();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc == 1) return demo();
    if (argc == 4 && std::strcmp(argv[1], "--dump") == 0) return dump(argv[2], argv[3]);
    std::fprintf(stderr, "usage: %s [--dump IN OUT]\n", argv[0]);
    return 2;
  } catch (const std::exception& e) {  // logitcore reports errors as standard exceptions
    std::fprintf(stderr, "decode_loop: %s\n", e.what());
    return 1;
  }
}
