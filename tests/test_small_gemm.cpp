// small_gemm against a long-double triple loop, over shapes that exercise every edge path.
#include <sys/mman.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <limits>

#include "fixtures.hpp"
#include "linicl/model/small_gemm.hpp"

using namespace linicl;
using namespace linicl::testing;

TEST_CASE("small_gemm computes base + alpha op(a) op(b) for every form and ragged shape",
          "[gemm]") {
  RandomStream rs(8, Purpose::kTest);
  const double eps = std::numeric_limits<double>::epsilon();
  // Empty products. AVX2 (registers of 4): row panels of 1–4 rows alone, 8, 5–7 after full
  // ones, and 9–12 (12-row tiles); columns in panels of 6 and 5 (n = 26, 29), of 3 and 2 (n = 2,
  // 4), or with a narrow rest (n = 1, 13). AVX-512 (registers of 8): panels of 1–4 registers
  // alone (m = 5, 11 and 13, 20 and 22 and 24, 29 and 32), 32 rows then 1–4 registers (m = 33;
  // 44; 50, 51 and 56; 57 and 64), last registers of 1–8 rows; columns in panels of 12 and 11
  // (n = 23 with m = 5 and 13, n = 35 with m = 44), 8 and 7, 6 and 5, or with a narrow rest. The
  // d = 50 products and Gram matrix.
  for (const auto& [m, n, k] :
       {std::tuple{0, 3, 2}, {3, 0, 2},     {3, 4, 0},    {1, 1, 1},    {3, 5, 2},   {8, 6, 7},
        {9, 7, 13},          {11, 2, 4},    {12, 4, 5},   {13, 29, 6},  {15, 26, 3}, {16, 12, 1},
        {17, 13, 30},        {20, 1, 9},    {5, 23, 7},   {29, 17, 5},  {32, 6, 3},  {33, 11, 8},
        {57, 35, 4},         {64, 24, 2},   {13, 23, 3},  {44, 35, 4},  {24, 16, 3}, {56, 15, 2},
        {22, 9, 5},          {50, 50, 400}, {51, 51, 51}, {51, 51, 400}}) {
    for (const bool trans_a : {false, true}) {
      for (const bool trans_b : {false, true}) {
        for (const int base_kind : {0, 1, 2}) {  // none, c itself, another matrix
          // Leading dimensions equal to the rows (buffers end where the matrices do), or larger,
          // to catch a wrong stride.
          const int pad = base_kind;
          const int lda = (trans_a ? k : m) + pad, ldb = (trans_b ? n : k) + pad, ldc = m + pad;
          const Eigen::MatrixXd a = random_matrix(lda, trans_a ? m : k, rs);
          const Eigen::MatrixXd b = random_matrix(ldb, trans_b ? k : n, rs);
          const Eigen::MatrixXd other = random_matrix(ldc, n, rs);
          Eigen::MatrixXd c = random_matrix(ldc, n, rs);
          const Eigen::MatrixXd c_before = c;
          const double alpha = -0.75;
          const double* base = base_kind == 0 ? nullptr : base_kind == 1 ? c.data() : other.data();
          const Eigen::MatrixXd base_copy = base_kind == 1 ? c_before : other;
          small_gemm(m, n, k, alpha, a.data(), lda, trans_a, b.data(), ldb, trans_b, base, c.data(),
                     ldc);
          INFO("m " << m << " n " << n << " k " << k << " trans " << trans_a << trans_b << " base "
                    << base_kind);
          for (int j = 0; j < n; ++j) {
            for (int i = 0; i < m; ++i) {
              long double sum = 0, magnitude = 0;
              for (int p = 0; p < k; ++p) {
                const long double term = static_cast<long double>(trans_a ? a(p, i) : a(i, p)) *
                                         (trans_b ? b(j, p) : b(p, j));
                sum += term;
                magnitude += std::abs(term);
              }
              const long double start = base_kind == 0 ? 0.0L : base_copy(i, j);
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
              // The kernel's own arithmetic, exactly: a chain of fused multiply-adds over p in
              // order, then base + alpha·sum in one more.
              double chain = 0.0;
              for (int p = 0; p < k; ++p) {
                chain = std::fma(trans_a ? a(p, i) : a(i, p), trans_b ? b(j, p) : b(p, j), chain);
              }
              REQUIRE(c(i, j) == std::fma(alpha, chain, static_cast<double>(start)));
#endif
              const double expected = static_cast<double>(start + alpha * sum);
              // k roundings in the sum, one for alpha and one for the base.
              const double bound =
                  (k + 2) * eps *
                  static_cast<double>(std::abs(start) + std::abs(alpha) * magnitude);
              REQUIRE(std::abs(c(i, j) - expected) <= bound);
            }
          }
          // Rows past m of each column belong to the caller: untouched.
          REQUIRE(c.bottomRows(ldc - m) == c_before.bottomRows(ldc - m));
        }
      }
    }
  }
}

TEST_CASE("small_gram equals small_gemm of a and its transpose bit for bit, with half the tiles",
          "[gemm]") {
  RandomStream rs(9, Purpose::kTest);
  for (const auto& [m, k] : {std::pair{1, 1},
                             {3, 0},
                             {3, 7},
                             {8, 5},
                             {9, 13},
                             {12, 20},
                             {13, 4},
                             {17, 30},
                             {35, 12},
                             {40, 7},
                             {41, 9},
                             {60, 5},
                             {50, 400},
                             {51, 60}}) {
    for (const int pad : {0, 2}) {
      const Eigen::MatrixXd a = random_matrix(m + pad, k, rs);
      Eigen::MatrixXd gram = random_matrix(m + pad, m, rs), gemm = gram;
      const Eigen::MatrixXd before = gram;
      small_gram(m, k, 0.5, a.data(), m + pad, gram.data(), m + pad);
      small_gemm(m, m, k, 0.5, a.data(), m + pad, false, a.data(), m + pad, true, nullptr,
                 gemm.data(), m + pad);
      INFO("m " << m << " k " << k << " pad " << pad);
      CHECK(gram == gemm);
      CHECK(gram.bottomRows(pad) == before.bottomRows(pad));
    }
  }
}

namespace {

// `count` doubles that end where an unreadable page begins: a read or write past them faults.
class GuardedDoubles {
 public:
  explicit GuardedDoubles(std::size_t count) {
    const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    const std::size_t bytes = count * sizeof(double);
    size_ = (bytes + page - 1) / page * page + page;
    void* region = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(region != MAP_FAILED);
    base_ = static_cast<char*>(region);
    REQUIRE(mprotect(base_ + size_ - page, page, PROT_NONE) == 0);
    data_ = reinterpret_cast<double*>(base_ + size_ - page - bytes);
  }
  ~GuardedDoubles() { munmap(base_, size_); }
  GuardedDoubles(const GuardedDoubles&) = delete;
  GuardedDoubles& operator=(const GuardedDoubles&) = delete;
  double* data() { return data_; }

 private:
  char* base_;
  std::size_t size_;
  double* data_;
};

}  // namespace

TEST_CASE("small_gemm and small_gram touch nothing past their matrices", "[gemm]") {
  // Every operand and the output end at an unreadable page, with leading dimensions equal to the
  // rows: a last row panel read or written past m (the ragged register of any vector width)
  // crashes the test. Same numbers as from ordinary buffers.
  RandomStream rs(10, Purpose::kTest);
  for (const auto& [m, n, k] : {std::tuple{1, 3, 5},
                                {5, 7, 3},
                                {13, 23, 4},
                                {19, 19, 19},
                                {22, 9, 5},
                                {44, 35, 4},
                                {51, 51, 51},
                                {51, 51, 400}}) {
    for (const bool trans_a : {false, true}) {
      const Eigen::MatrixXd a = random_matrix(trans_a ? k : m, trans_a ? m : k, rs);
      const Eigen::MatrixXd b = random_matrix(k, n, rs), base = random_matrix(m, n, rs);
      GuardedDoubles a_guarded(a.size()), b_guarded(b.size()), base_guarded(base.size()),
          c_guarded(base.size());
      std::memcpy(a_guarded.data(), a.data(), sizeof(double) * a.size());
      std::memcpy(b_guarded.data(), b.data(), sizeof(double) * b.size());
      std::memcpy(base_guarded.data(), base.data(), sizeof(double) * base.size());
      Eigen::MatrixXd expected(m, n);
      small_gemm(m, n, k, 0.5, a.data(), static_cast<int>(a.rows()), trans_a, b.data(), k, false,
                 base.data(), expected.data(), m);
      small_gemm(m, n, k, 0.5, a_guarded.data(), static_cast<int>(a.rows()), trans_a,
                 b_guarded.data(), k, false, base_guarded.data(), c_guarded.data(), m);
      INFO("m " << m << " n " << n << " k " << k << " trans_a " << trans_a);
      CHECK(Eigen::Map<const Eigen::MatrixXd>(c_guarded.data(), m, n) == expected);
    }
    const Eigen::MatrixXd a = random_matrix(m, k, rs);
    GuardedDoubles a_guarded(a.size()), gram_guarded(static_cast<std::size_t>(m) * m);
    std::memcpy(a_guarded.data(), a.data(), sizeof(double) * a.size());
    Eigen::MatrixXd gram(m, m);
    small_gram(m, k, 1.0, a.data(), m, gram.data(), m);
    small_gram(m, k, 1.0, a_guarded.data(), m, gram_guarded.data(), m);
    CHECK(Eigen::Map<const Eigen::MatrixXd>(gram_guarded.data(), m, m) == gram);
  }
}
