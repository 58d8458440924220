// Times one training step of linicl for one configuration and prints one JSON line.
//
//   linicl_bench --dim 5 --context 20 --layers 3 --batch 4000 --threads 2 --reps 7
//   linicl_bench --peak --threads 2        (FP64 FMA peak of this machine, GFLOP/s)
//   linicl_bench --gemm --dim 50           (Eigen's (d+1)×(d+1) product alone, GFLOP/s)
//
// A step is what `linicl train` does per update: draw the batch, forward and backward over
// every prompt, Adam update. The sampling alone and the update alone are timed apart. Each
// configuration runs in its own process (run_grid.py), so the peak resident set size is the
// configuration's own.
#include <omp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "linicl/data/task.hpp"
#include "linicl/model/model_lanes.hpp"
#include "linicl/model/parametrization.hpp"
#include "linicl/model/small_gemm.hpp"
#include "linicl/numerics/rng.hpp"
#include "linicl/train/objective.hpp"
#include "linicl/train/optimizer.hpp"

namespace {

using linicl::BatchSpec;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

struct Stats {
  double median, min, max;
};

Stats summarize(std::vector<double> times) {
  std::sort(times.begin(), times.end());
  const std::size_t m = times.size();
  const double median = m % 2 ? times[m / 2] : 0.5 * (times[m / 2 - 1] + times[m / 2]);
  return {median, times.front(), times.back()};
}

// Floating-point operations of one prompt's forward and backward as src/model/gram_layers.hpp
// performs them on its one-prompt and lane back ends (a multiply-add counts 2, scalings folded into
// a product count nothing; D = d + 1). Sampling and the optimizer are not counted.
//   embed      G_0 = Σ z_i z_iᵀ, one triangle:  n·D(D + 1) (small_gram and the lane kernels
//              mirror the other)
//   below the top layer, forward: per head PG, (PG)Q: 4D³;  B = G + KG, C = B + BKᵀ: 4D³;
//              K/n, symmetrize (C + Cᵀ)/2, q' = q + Kq: 5D²
//   below the top layer, backward: K̄ = q̄'qᵀ: D²;  AG, (Ḡ'+Ḡ'ᵀ)AG: 4D³ and Ḡ' + Ḡ'ᵀ: D²;
//              per head K̄Qᵀ, (·)G, GPᵀ, (·)K̄ and the sums into P̄, Q̄: 8D³ + 2D²;  above the
//              bottom layer (which needs no Ḡ, q̄) q̄ = q̄' + Kᵀq̄': 2D², per head PᵀK̄, (·)Qᵀ
//              and the sum into Ḡ: 4D³ + D², and Ḡ'A, AᵀḠ'A: 4D³
//   top layer, forward: per head u = Qq, v = Gu, q_L += Pv: 6D²
//   top layer, backward: per head r = Pᵀq̄', s = Gr, P̄ += q̄'vᵀ, Q̄ += sqᵀ: 8D²;  above the
//              bottom layer Ḡ += ruᵀ, q̄ += Qᵀs: 4D²
double prompt_flops(double d, double n, int layers, int heads) {
  const double D = d + 1, D2 = D * D, D3 = D2 * D;
  double flops = n * D * (D + 1);
  for (int l = 0; l + 1 < layers; ++l) {
    flops += heads * 4 * D3 + 4 * D3 + 5 * D2;
    flops += D2 + 4 * D3 + D2 + heads * (8 * D3 + 2 * D2);
    if (l > 0) flops += 2 * D2 + heads * (4 * D3 + D2) + 4 * D3;
  }
  flops += heads * (6 * D2 + 8 * D2 + (layers > 1 ? 4 * D2 : 0));
  return flops;
}

// Independent FMA chains, enough to hide latency on every core: GFLOP/s of the machine,
// over `iterations` rounds of the chains (20 M: 20–25 ms). Twelve vector registers of chains:
// two pipes of 4 cycles' latency need eight, sixteen with the constants no longer fit in
// AVX2's register file, and on Zen 5 (AVX-512) 6, 12 and 16 registers measured 82, 112 and
// 102–107 GFLOP/s.
double fma_peak(int threads, long iterations = 20000000) {
#if defined(__AVX512F__)
  constexpr int kChains = 12 * 8;
#else
  constexpr int kChains = 12 * 4;
#endif
  double sink = 0.0;
  const auto start = Clock::now();
#pragma omp parallel num_threads(threads) reduction(+ : sink)
  {
    alignas(64) double acc[kChains];
    for (int j = 0; j < kChains; ++j) acc[j] = 1.0 + 1e-3 * (j + omp_get_thread_num());
    const double a = 0.9999999, b = 1e-9;
    for (long i = 0; i < iterations; ++i) {
#pragma omp simd
      for (int j = 0; j < kChains; ++j) acc[j] = std::fma(acc[j], a, b);
    }
    for (int j = 0; j < kChains; ++j) sink += acc[j];
  }
  const double elapsed = seconds_since(start);
  if (!(sink > 0)) std::printf("impossible\n");  // keeps the loop alive
  return 2.0 * kChains * iterations * threads / elapsed / 1e9;
}

// GFLOP/s of one side×side matrix product c = a·b on one thread, best of 5 rounds, done by
// `product(a, b, c)`: Eigen's, and small_gemm, which the prompt-by-prompt path uses (sides
// without lane or compiled-size kernels), so the ceiling of that path's step.
template <class Product>
double gemm_rate(int side, Product product) {
  const Eigen::MatrixXd a = Eigen::MatrixXd::Random(side, side);
  Eigen::MatrixXd b = Eigen::MatrixXd::Random(side, side), c(side, side);
  const long reps = std::max(1L, 200000000L / (2L * side * side * side));
  double best = 0.0;
  for (int round = 0; round < 5; ++round) {
    const auto start = Clock::now();
    for (long r = 0; r < reps; ++r) {
      product(a, b, c);
      b(0, 0) += 1e-300 * c(side - 1, side - 1);  // each product depends on the last
    }
    best = std::max(best, 2.0 * side * side * side * reps / seconds_since(start) / 1e9);
  }
  return best;
}

// The high-water mark of this process's resident set (VmHWM). Not getrusage's ru_maxrss,
// which Linux carries over exec from the process that forked us (the Python driver).
double peak_rss_mib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;  // in kB
  }
  return std::nan("");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("time one linicl training step");
  int dim = 5, context = 20, layers = 3, heads = 1, batch = 4000, threads = 1, reps = 7;
  bool peak = false, gemm = false;
  app.add_option("--dim", dim)->check(CLI::PositiveNumber);
  app.add_option("--context", context)->check(CLI::PositiveNumber);
  app.add_option("--layers", layers)->check(CLI::PositiveNumber);
  app.add_option("--heads", heads)->check(CLI::PositiveNumber);
  app.add_option("--batch", batch)->check(CLI::PositiveNumber);
  app.add_option("--threads", threads)->check(CLI::PositiveNumber);
  app.add_option("--reps", reps)->check(CLI::PositiveNumber);
  app.add_flag("--peak", peak, "measure the FP64 FMA peak instead");
  app.add_flag("--gemm", gemm,
               "measure Eigen's and small_gemm's (d+1)x(d+1) product on one thread instead");
  CLI11_PARSE(app, argc, argv);
  omp_set_num_threads(threads);
  if (peak) {
    fma_peak(threads);  // warm-up: clocks ramp up
    std::printf("{\"threads\": %d, \"peak_gflops\": %.3f}\n", threads, fma_peak(threads));
    return 0;
  }
  if (gemm) {
    const int side = dim + 1;
    const double eigen =
        gemm_rate(side, [](const auto& a, const auto& b, auto& c) { c.noalias() = a * b; });
    const double small = gemm_rate(side, [side](const auto& a, const auto& b, auto& c) {
      linicl::small_gemm(side, side, side, 1.0, a.data(), side, false, b.data(), side, false,
                         nullptr, c.data(), side);
    });
    std::printf(
        "{\"side\": %d, \"eigen_gflops\": %.3f, \"small_gemm_gflops\": %.3f, "
        "\"peak_gflops\": %.3f}\n",
        side, eigen, small, fma_peak(1));
    return 0;
  }

  linicl::TaskSpec spec;
  spec.dim = dim;
  spec.context = context;
  const Eigen::MatrixXd identity = Eigen::MatrixXd::Identity(dim, dim);
  const linicl::TaskSampler sampler(spec, identity, identity);
  const linicl::Parametrization param(linicl::Param::kFull, dim, layers, heads, false);
  linicl::BatchObjective objective(sampler, param);
  linicl::RandomStream rs(1, linicl::Purpose::kInit);
  Eigen::VectorXd theta(param.size()), grad(param.size());
  for (Eigen::Index i = 0; i < theta.size(); ++i) theta[i] = 0.02 * rs.normal();
  linicl::OptimizerSpec adam;
  adam.kind = linicl::OptimizerKind::kAdam;
  adam.beta2 = 0.999;
  linicl::OptimizerState state;

  // The peak is measured again after every repetition (about 25 ms each): on a shared host it
  // moves with the neighbours' load, and the fraction of peak compares like with like.
  std::vector<double> step_times, sample_times, update_times, peaks;
  const int chunks = (batch + linicl::BatchObjective::kChunk - 1) / linicl::BatchObjective::kChunk;
  // Each chunk's prompt on cache lines of its own, as in the objective's thread scratch.
  struct alignas(64) ChunkPrompt {
    linicl::PromptColumns columns;
  };
  std::vector<ChunkPrompt> prompts(chunks);
  const bool lanes = linicl::has_lane_kernels(dim + 1);
  for (int r = 0; r <= reps; ++r) {  // r = 0 warms up
    const BatchSpec spec_r{0, static_cast<std::uint64_t>(r), batch};
    auto start = Clock::now();
    objective.evaluate(theta, spec_r, &grad);
    const auto update_start = Clock::now();
    linicl::optimizer_step(adam, 1e-3, grad, theta, state);
    const double update = seconds_since(update_start), step = seconds_since(start);

    // The same batch's sampling alone, with the objective's chunking (at the lane sizes without
    // the labels, which the step sums in embed_lanes()).
    start = Clock::now();
#pragma omp parallel for schedule(guided)
    for (int c = 0; c < chunks; ++c) {
      const int end = std::min(batch, (c + 1) * linicl::BatchObjective::kChunk);
      for (int b = c * linicl::BatchObjective::kChunk; b < end; ++b) {
        sampler.sample_columns(0, spec_r.step, static_cast<std::uint64_t>(b), prompts[c].columns,
                               !lanes);
      }
    }
    const double sample = seconds_since(start);
    const double peak_now = fma_peak(threads, 5000000);
    if (r > 0) {
      step_times.push_back(step);
      update_times.push_back(update);
      sample_times.push_back(sample);
      peaks.push_back(peak_now);
    }
  }
  const Stats step = summarize(step_times), sample = summarize(sample_times),
              update = summarize(update_times), peak_gflops = summarize(peaks);
  const double flops = batch * prompt_flops(dim, context, layers, heads);
  // What a batched implementation would have to keep for backward, per prompt as Tape holds it
  // (model.hpp): G_ℓ (ℓ < L), K_ℓ (ℓ < L − 1), q_ℓ (ℓ ≤ L) and the top layer's u_h, v_h.
  const double D = dim + 1.0;
  const double activations_mib =
      batch * ((2.0 * layers - 1) * D * D + (layers + 1 + 2.0 * heads) * D) * 8 / (1024.0 * 1024.0);
  std::printf(
      "{\"dim\": %d, \"context\": %d, \"layers\": %d, \"heads\": %d, \"batch\": %d, "
      "\"threads\": %d, \"reps\": %d, \"step_ms\": %.4f, \"step_min_ms\": %.4f, "
      "\"step_max_ms\": %.4f, \"sample_ms\": %.4f, \"update_ms\": %.4f, "
      "\"prompt_layers_per_s\": %.6g, \"model_gflop\": %.6g, \"gflops\": %.4f, "
      "\"peak_gflops\": %.3f, \"peak_gflops_min\": %.3f, \"peak_gflops_max\": %.3f, "
      "\"peak_fraction\": %.4f, \"peak_rss_mib\": %.2f, \"batch_activations_mib\": %.2f}\n",
      dim, context, layers, heads, batch, threads, reps, 1e3 * step.median, 1e3 * step.min,
      1e3 * step.max, 1e3 * sample.median, 1e3 * update.median, batch * layers / step.median,
      flops / 1e9, flops / step.median / 1e9, peak_gflops.median, peak_gflops.min, peak_gflops.max,
      flops / step.median / 1e9 / peak_gflops.median, peak_rss_mib(), activations_mib);
  return 0;
}
