// The model of gram_lsa.hpp for kLanes prompts at once, for small d (§13).
//
// A prompt's matrices are (d+1)×(d+1), too small for SIMD within one prompt (6×6 at d = 5).
// Here every per-prompt quantity is stored lane-innermost, element (i, j) of prompt l at
// [(i·(d+1) + j)·kLanes + l], so each multiply-add runs on kLanes prompts in one SIMD
// instruction. The arithmetic is that of forward() and backward() of gram_lsa.hpp: both are
// back ends of the one definition in gram_layers.hpp (tested to 1e-12: the gradient's lanes are
// summed in another order, so results differ in the last bits).
#pragma once

#include <cstddef>
#include <new>
#include <vector>

#include "linicl/data/task.hpp"
#include "linicl/model/gram_lsa.hpp"

namespace linicl {

constexpr int kLanes = 8;

// Allocates on 64-byte boundaries: a lane buffer's elements (kLanes = 8 doubles, 64 bytes each)
// then fill whole cache lines, and no 32-byte load straddles two. (At malloc's 16-byte alignment
// half the buffers split one load in two across lines; forward and backward took about a fifth
// longer at d = 5.)
template <class T>
struct LineAligned {
  using value_type = T;
  static constexpr std::align_val_t kAlign{64};
  LineAligned() = default;
  template <class U>
  LineAligned(const LineAligned<U>&) noexcept {}
  T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), kAlign)); }
  void deallocate(T* p, std::size_t) { ::operator delete(p, kAlign); }
};
// Stateless: any two allocate and free alike.
template <class T, class U>
bool operator==(const LineAligned<T>&, const LineAligned<U>&) {
  return true;
}
template <class T, class U>
bool operator!=(const LineAligned<T>&, const LineAligned<U>&) {
  return false;
}
using LaneBuffer = std::vector<double, LineAligned<double>>;

// Whether d + 1 = side has lane kernels (small sides only; larger ones go prompt by prompt).
bool has_lane_kernels(int side);

// Up to kLanes embedded prompts (§3.1); lanes past `count` hold zeros.
struct LanePrompts {
  int dim = 0, context = 0, count = 0;
  LaneBuffer gram;   // G_0, [d+1][d+1][kLanes]
  LaneBuffer query;  // z_{n+1}, [d+1][kLanes]
  double target[kLanes] = {};
  LaneBuffer columns;  // scratch: z_t of every lane, [n][d+1][kLanes]
};
// Unlabelled prompts (all or none) get their labels here, as the sampler would sum them.
void embed_lanes(const PromptColumns* prompts, int count, LanePrompts& out);

// The tape and scratch of forward_lanes and backward_lanes (model.hpp), lane-innermost.
using LaneTape = GramTape<LaneBuffer>;
using LaneWorkspace = GramWorkspace<LaneBuffer>;

// ŷ of every lane into prediction[kLanes] (lanes past count: 0). Needs has_lane_kernels(d+1).
void forward_lanes(const Weights& w, const LanePrompts& prompts, LaneTape& tape, LaneWorkspace& ws,
                   double* prediction);

// Zeroes lane `lane` of the prompts and the tape, so that backward_lanes() adds exactly
// nothing for it: a lane whose forward pass overflowed holds inf or NaN, and 0·inf is NaN.
void clear_lane(LanePrompts& prompts, LaneTape& tape, int lane);

// Adds ∂ℒ/∂P, ∂ℒ/∂Q into grad for ∂ℒ/∂ŷ_l = dloss_dpred[l], the lanes summed in order.
void backward_lanes(const Weights& w, const LanePrompts& prompts, const LaneTape& tape,
                    const double* dloss_dpred, Weights& grad, LaneWorkspace& ws);

}  // namespace linicl
