// Sparse (CSR) times dense through the C and C++ API: parity with a double reference for random
// CSR (empty rows, empty matrices, one column, widths around every vector and tile width, up to
// 300 columns, repeated and unsorted indices, strided b and out, int32 and int64 indices), on
// every ISA; bitwise the same for 1 and 2 threads and on AVX2 and AVX-512; every bad argument
// fails with a message and writes nothing.
#include <functional>

#include "logitcore/logitcore.hpp"
#include "test_support.h"

namespace {

using namespace lct;

template <class T, class I>
struct Csr {
  i64 rows = 0, cols = 0;
  std::vector<I> indptr, indices;
  std::vector<T> data;
  logitcore_csr c() const {
    return {rows, cols, sizeof(I) == 4 ? LOGITCORE_INDEX_INT32 : LOGITCORE_INDEX_INT64, indptr.data(),
            indices.data(), data.data()};
  }
};

// rows x cols, about `per_row` entries a row (every 4th row empty), column indices unsorted with
// repeats.
template <class T, class I>
Csr<T, I> random_csr(i64 rows, i64 cols, i64 per_row, unsigned seed) {
  std::mt19937_64 rng(seed);
  Csr<T, I> a;
  a.rows = rows;
  a.cols = cols;
  a.indptr.push_back(0);
  for (i64 r = 0; r < rows; ++r) {
    const i64 n = (cols == 0 || r % 4 == 3) ? 0 : static_cast<i64>(rng() % static_cast<std::uint64_t>(2 * per_row + 1));
    const size_t start = a.indices.size();
    for (i64 p = 0; p < n; ++p) {
      a.indices.push_back(static_cast<I>(rng() % static_cast<std::uint64_t>(cols)));
      a.data.push_back(static_cast<T>(std::uniform_real_distribution<double>(-2, 2)(rng)));
    }
    if (n >= 3) a.indices.back() = a.indices[start];  // a repeat
    a.indptr.push_back(static_cast<I>(a.indices.size()));
  }
  return a;
}

// out = a b in double, with the sum of |terms| per element (the scale of the rounding errors).
template <class T, class I>
void reference(const Csr<T, I>& a, const std::vector<T>& b, i64 ldb, i64 k, std::vector<double>* out,
               std::vector<double>* mag) {
  out->assign(static_cast<size_t>(a.rows * k), 0.0);
  mag->assign(static_cast<size_t>(a.rows * k), 0.0);
  for (i64 r = 0; r < a.rows; ++r)
    for (i64 p = a.indptr[r]; p < a.indptr[r + 1]; ++p)
      for (i64 j = 0; j < k; ++j) {
        const double t = static_cast<double>(a.data[p]) * static_cast<double>(b[a.indices[p] * ldb + j]);
        (*out)[r * k + j] += t;
        (*mag)[r * k + j] += std::fabs(t);
      }
}

template <class T>
logitcore_status call(const logitcore_csr* a, const logitcore_matrix* b, const logitcore_matrix* out, int nt) {
  if constexpr (sizeof(T) == 4) return logitcore_csr_matmul_f32(a, b, out, nt);
  else return logitcore_csr_matmul_f64(a, b, out, nt);
}

// out (rows x k, row stride ldo >= k, the gaps filled with the sentinel) for a, b (cols x k, row stride ldb)
template <class T, class I>
std::vector<T> product(const Csr<T, I>& a, const std::vector<T>& b, i64 ldb, i64 k, i64 ldo, int nt) {
  std::vector<T> out(static_cast<size_t>(std::max<i64>(a.rows * ldo, 1)), static_cast<T>(kSentinel));
  const logitcore_csr ca = a.c();
  const logitcore_matrix mb = mat(b.data(), a.cols, k, ldb, 1), mo = mat(out.data(), a.rows, k, ldo, 1);
  EXPECT_OK(call<T>(&ca, &mb, &mo, nt));
  return out;
}

template <class T, class I>
void parity() {
  RuntimeGuard guard;
  const double eps = std::numeric_limits<T>::epsilon();
  struct Case {
    i64 rows, cols, per_row, k;
  };
  const Case cases[] = {{0, 5, 2, 3},   {4, 0, 2, 3},   {5, 7, 2, 0},    {1, 1, 3, 1},    {37, 50, 6, 1},
                        {37, 50, 6, 3}, {40, 60, 8, 7}, {40, 60, 8, 8},  {40, 60, 8, 9},  {33, 80, 5, 15},
                        {33, 80, 5, 16}, {33, 80, 5, 17}, {30, 90, 9, 31}, {30, 90, 9, 33}, {30, 90, 9, 63},
                        {30, 90, 9, 64}, {30, 90, 9, 65}, {25, 120, 12, 100}, {64, 700, 20, 200}, {20, 300, 30, 300}};
  for (const Case& c : cases) {
    const Csr<T, I> a = random_csr<T, I>(c.rows, c.cols, c.per_row, static_cast<unsigned>(c.rows * 131 + c.k));
    for (const i64 pad : {i64{0}, i64{5}}) {  // contiguous, and rows with gaps in b and out
      const i64 ldb = c.k + pad, ldo = c.k + pad;
      const std::vector<T> b = uniform<T>(static_cast<size_t>(std::max<i64>(c.cols * ldb, 1)), -1, 1, 7);
      std::vector<double> want, mag;
      reference(a, b, ldb, c.k, &want, &mag);
      std::vector<T> first;
      for (const std::string& isa : supported_isa_names()) {
        ASSERT_OK(logitcore_set_isa(isa.c_str()));
        for (int nt : {1, 2}) {
          SCOPED_TRACE(isa + " threads " + std::to_string(nt) + " case " + std::to_string(c.rows) + " x " +
                       std::to_string(c.cols) + " k " + std::to_string(c.k) + " pad " + std::to_string(pad));
          const std::vector<T> got = product(a, b, ldb, c.k, ldo, nt);
          for (i64 r = 0; r < c.rows; ++r) {
            for (i64 j = 0; j < c.k; ++j) {
              const double g = got[r * ldo + j], w = want[r * c.k + j];
              ASSERT_LE(std::fabs(g - w), 4 * eps * (mag[r * c.k + j] + 1e-300) * (a.indptr[r + 1] - a.indptr[r] + 1))
                  << "at (" << r << ", " << j << "): " << g << " vs " << w;
            }
            for (i64 j = c.k; j < ldo; ++j) ASSERT_EQ(got[r * ldo + j], static_cast<T>(kSentinel)) << "gap written";
          }
          // bitwise: 1 and 2 threads; AVX2 and AVX-512 (both fused)
          if (isa == "scalar") continue;
          if (first.empty()) first = got;
          else EXPECT_TRUE(BitEqual(got, first));
        }
      }
    }
  }
}
TEST(Sparse, ParityF32I32) { parity<float, std::int32_t>(); }
TEST(Sparse, ParityF32I64) { parity<float, std::int64_t>(); }
TEST(Sparse, ParityF64I32) { parity<double, std::int32_t>(); }
TEST(Sparse, ParityF64I64) { parity<double, std::int64_t>(); }

// Large enough that 2 threads split the rows and b is taken in several panels (200 columns of
// 20000 float64 rows: 32 MB).
TEST(Sparse, BitwiseForAnyThreadCountLarge) {
  RuntimeGuard guard;
  const i64 rows = 3000, cols = 20000, k = 200;
  const Csr<double, std::int32_t> a = random_csr<double, std::int32_t>(rows, cols, 40, 3);
  const std::vector<double> b = uniform<double>(static_cast<size_t>(cols * k), -1, 1, 9);
  for (const std::string& isa : supported_isa_names()) {
    ASSERT_OK(logitcore_set_isa(isa.c_str()));
    SCOPED_TRACE(isa);
    const std::vector<double> one = product(a, b, k, k, k, 1), two = product(a, b, k, k, k, 2);
    EXPECT_TRUE(BitEqual(one, two));
    std::vector<double> want, mag;
    reference(a, b, k, k, &want, &mag);
    for (i64 i = 0; i < rows * k; i += 97) ASSERT_NEAR(one[i], want[i], 1e-13 * (mag[i] + 1)) << i;
  }
}

TEST(Sparse, NonFinitePropagates) {
  Csr<double, std::int32_t> a;
  a.rows = 2;
  a.cols = 2;
  a.indptr = {0, 2, 3};
  a.indices = {0, 1, 1};
  a.data = {1.0, kNaN, 2.0};
  const std::vector<double> b = {1, 2, kInf, 3};
  const std::vector<double> got = product(a, b, 2, 2, 2, 1);
  EXPECT_TRUE(std::isnan(got[0]) && std::isnan(got[1]));
  EXPECT_EQ(got[2], kInf);
  EXPECT_EQ(got[3], 6.0);
}

TEST(Sparse, CppWrapper) {
  const std::vector<std::int64_t> indptr = {0, 2, 2, 3}, indices = {1, 0, 1};
  const std::vector<float> data = {2.0f, 3.0f, -1.0f}, b = {1, 2, 3, 4};
  std::vector<float> out(6, -1.0f);
  const logitcore::CsrMatrix<float, std::int64_t> a(indptr.data(), indices.data(), data.data(), 3, 2);
  EXPECT_EQ(a.nnz(), 3);
  logitcore::csr_matmul(a, logitcore::Matrix<const float>(b.data(), 2, 2), logitcore::Matrix<float>(out.data(), 3, 2));
  EXPECT_EQ(out, (std::vector<float>{9, 14, 0, 0, -3, -4}));
  const std::vector<std::int64_t> bad = {0, 2, 5};
  const logitcore::CsrMatrix<float, std::int64_t> abad(indptr.data(), bad.data(), data.data(), 3, 2);
  EXPECT_THROW(logitcore::csr_matmul(abad, logitcore::Matrix<const float>(b.data(), 2, 2),
                                     logitcore::Matrix<float>(out.data(), 3, 2)),
               std::out_of_range);
  EXPECT_THROW(logitcore::csr_matmul(a, logitcore::Matrix<const float>(b.data(), 1, 2),
                                     logitcore::Matrix<float>(out.data(), 3, 2)),
               std::invalid_argument);
}

template <class I>
void bad_arguments() {
  // a: 3 x 4 with 4 entries; b: 4 x 3; out: 3 x 3
  Csr<double, I> a;
  a.rows = 3;
  a.cols = 4;
  a.indptr = {0, 2, 2, 4};
  a.indices = {3, 0, 1, 2};
  a.data = {1, 2, 3, 4};
  std::vector<double> b(12, 1.0), out(9, kSentinel);
  const logitcore_matrix mb = mat(b.data(), 4, 3), mo = mat(out.data(), 3, 3);
  const auto expect = [&](logitcore_csr ca, logitcore_matrix b_, logitcore_matrix o_, logitcore_status st,
                          const char* needle, int nt = 0) {
    EXPECT_FAILS(logitcore_csr_matmul_f64(&ca, &b_, &o_, nt), st, needle);
    EXPECT_TRUE(Untouched(out));
    EXPECT_EQ(b, std::vector<double>(12, 1.0));
  };
  const logitcore_status inv = LOGITCORE_INVALID_ARGUMENT;
  const logitcore_csr ok = a.c();
  EXPECT_FAILS(logitcore_csr_matmul_f64(nullptr, &mb, &mo, 0), inv, "a is null");
  EXPECT_FAILS(logitcore_csr_matmul_f64(&ok, nullptr, &mo, 0), inv, "b is null");
  EXPECT_FAILS(logitcore_csr_matmul_f64(&ok, &mb, nullptr, 0), inv, "out is null");
  EXPECT_TRUE(Untouched(out));
  logitcore_csr c = ok;
  c.rows = -1;
  expect(c, mb, mo, inv, "rows and cols");
  c = ok;
  c.cols = -2;
  expect(c, mb, mo, inv, "rows and cols");
  c = ok;
  c.index_type = 7;
  expect(c, mb, mo, inv, "index_type");
  c = ok;
  c.indptr = nullptr;
  expect(c, mb, mo, inv, "indptr is null");
  c = ok;
  c.indices = nullptr;
  expect(c, mb, mo, inv, "indices is null");
  c = ok;
  c.data = nullptr;
  expect(c, mb, mo, inv, "data is null");
  // shapes
  expect(ok, mat(b.data(), 3, 3), mo, inv, "b has 3 rows&4 columns");
  expect(ok, mb, mat(out.data(), 2, 3), inv, "out has shape 2 x 3&3 x 3");
  expect(ok, mb, mat(out.data(), 3, 2), inv, "out has shape 3 x 2");
  expect(ok, mat(b.data(), -1, 3), mo, inv, "b: rows and cols");
  expect(ok, mat(nullptr, 4, 3), mo, inv, "b: data is null");
  // layouts: strided columns, an out with two elements at one address, overlaps
  expect(ok, mat(b.data(), 4, 3, 1, 4), mo, inv, "b: columns must be contiguous");
  expect(ok, mb, mat(out.data(), 3, 3, 1, 3), inv, "out: columns must be contiguous");
  expect(ok, mb, mat(out.data(), 3, 3, 1, 1), inv, "out: overlapping elements");
  expect(ok, mb, mat(out.data(), 3, 3, 2, 1), inv, "out: overlapping elements");
  expect(ok, mb, mat(b.data(), 3, 3), inv, "out overlaps b");
  {
    std::vector<double> d2(9, kSentinel);  // out over a's data
    Csr<double, I> a2 = a;
    a2.data.assign(d2.begin(), d2.end());
    logitcore_csr c2 = a2.c();
    c2.data = d2.data();
    const logitcore_matrix o2 = mat(d2.data(), 3, 3);
    EXPECT_FAILS(logitcore_csr_matmul_f64(&c2, &mb, &o2, 0), inv, "out overlaps a's data");
  }
  // indptr
  for (const auto& [ip, needle] : std::vector<std::pair<std::vector<I>, const char*>>{
           {{1, 2, 2, 4}, "indptr[0] must be 0"},
           {{0, 2, 1, 4}, "non-decreasing&indptr[2] = 1 < indptr[1] = 2"},
           {{0, 3, 2, 4}, "non-decreasing&indptr[2] = 2"}}) {
    Csr<double, I> a2 = a;
    a2.indptr = ip;
    expect(a2.c(), mb, mo, inv, needle);
  }
  // column indices: the first bad one, its position and row
  for (const auto& [ix, needle] : std::vector<std::pair<std::vector<I>, const char*>>{
           {{3, 0, 4, -1}, "indices[2] = 4&row 2&4 columns"},
           {{3, -1, 7, 2}, "indices[1] = -1&row 0"},
           {{3, 0, 1, 9}, "indices[3] = 9&out of range"}}) {
    Csr<double, I> a2 = a;
    a2.indices = ix;
    expect(a2.c(), mb, mo, LOGITCORE_OUT_OF_RANGE, needle);
  }
  expect(ok, mb, mo, inv, "num_threads", -1);
  // and the valid call writes
  EXPECT_OK(logitcore_csr_matmul_f64(&ok, &mb, &mo, 0));
  EXPECT_EQ(out, (std::vector<double>{3, 3, 3, 0, 0, 0, 7, 7, 7}));
}
TEST(Sparse, BadArgumentsI32) { bad_arguments<std::int32_t>(); }
TEST(Sparse, BadArgumentsI64) { bad_arguments<std::int64_t>(); }

// Empty shapes need no data: rows x 0 and 0 x cols products, and a matrix without entries times
// an empty b (its pointer null).
TEST(Sparse, EmptyNeedsNoData) {
  const std::vector<std::int32_t> indptr = {0, 0, 0};
  std::vector<float> out(6, 5.0f);
  logitcore_csr a{2, 0, LOGITCORE_INDEX_INT32, indptr.data(), nullptr, nullptr};
  logitcore_matrix b = mat(nullptr, 0, 3), o = mat(out.data(), 2, 3);
  EXPECT_OK(logitcore_csr_matmul_f32(&a, &b, &o, 0));
  EXPECT_EQ(out, std::vector<float>(6, 0.0f));
  a.cols = 4;
  b = mat(nullptr, 4, 0);
  o = mat(nullptr, 2, 0);
  EXPECT_OK(logitcore_csr_matmul_f32(&a, &b, &o, 0));
}

}  // namespace
