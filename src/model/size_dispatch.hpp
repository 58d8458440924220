// Compile-time sizes for the small (d+1)×(d+1) kernels (private to src/).
#pragma once

#include <type_traits>
#include <utility>

namespace linicl {

// body(std::integral_constant<int, N>()) for the N among Sizes that equals m, else fallback().
// Kernels instantiated for a compile-time N let Eigen and the compiler unroll every product.
template <class Body, class Fallback>
decltype(auto) dispatch_size(int /*m*/, Body&& /*body*/, Fallback&& fallback) {
  return fallback();
}
template <int First, int... Rest, class Body, class Fallback>
decltype(auto) dispatch_size(int m, Body&& body, Fallback&& fallback) {
  if (m == First) return body(std::integral_constant<int, First>());
  return dispatch_size<Rest...>(m, std::forward<Body>(body), std::forward<Fallback>(fallback));
}

// The one list of compiled sizes m = d + 1 (d = 1…5 and 10) for every kernel: the one-prompt
// model, its Hessian–vector product and the lane kernels. Other sizes take the fallback. (d = 20
// is not among them: there small_gemm ran the d = 20, n = 20, L = 3 step in 103–106 ms against
// 142–144 with Eigen's fixed-size products, fastest steps.)
//
// A sanitizer build (LINICL_SANITIZE) compiles one size only: the kernels are one template for
// every N, so one instantiation checks their code, and six would need gigabytes of compiler
// memory per file under the sanitizers' instrumentation.
template <class Body, class Fallback>
decltype(auto) dispatch_kernel_size(int m, Body&& body, Fallback&& fallback) {
#ifdef LINICL_SANITIZE
  return dispatch_size<6>(m, std::forward<Body>(body), std::forward<Fallback>(fallback));
#else
  return dispatch_size<2, 3, 4, 5, 6, 11>(m, std::forward<Body>(body),
                                          std::forward<Fallback>(fallback));
#endif
}

}  // namespace linicl
