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

}  // namespace linicl
