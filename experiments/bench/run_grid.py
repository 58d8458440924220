"""Runs the step benchmark over the grid and writes results/bench_grid.{h5,md}.

Grid: d ∈ {5, 10, 20, 50}, n ∈ {20, 40, 100, 400}, L ∈ {1, 3, 8}, batch 4,000, `full`, one
head, 1 and 2 threads; each configuration in its own process (its own peak memory). The FP64
peak is measured by the FMA microbenchmark after every repetition of every configuration
(the fraction of peak divides by the median of those), and before and after the grid.

    /usr/bin/python3 experiments/bench/run_grid.py [--quick] [--tag NAME] [--rounds N]

--tag writes results/bench_grid_NAME.{h5,md} instead, to keep the grids of several machines.
--rounds N runs the whole grid N times over (each configuration's runs minutes apart); the
table shows, per configuration, the run whose fraction of peak is the median of the N, and the
range of the N fractions. On a shared host whose load changes over minutes, one run of a
configuration lands in a calm or a busy phase by chance; the median of runs spread over the
grid's duration does not depend on that chance. The .h5 keeps every run.
"""
import argparse
import json
import os
import subprocess
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from common import cpu_description, results_path  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.environ.get("LINICL_BENCH", os.path.join(ROOT, "build", "linicl_bench"))
FIELDS = ["step_ms", "step_min_ms", "step_max_ms", "sample_ms", "update_ms",
          "prompt_layers_per_s", "gflops", "peak_gflops", "peak_gflops_min", "peak_gflops_max",
          "peak_fraction", "peak_rss_mib", "batch_activations_mib"]


def bench(*args):
    done = subprocess.run([BENCH] + [str(a) for a in args], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout)


def lower_median(items, key=None):
    """The median item (the lower middle one for even counts)."""
    return sorted(items, key=key)[(len(items) - 1) // 2]


def median_and_range(values):
    """"1.85 (1.41–2.10)": the median and the range."""
    return f"{lower_median(values):.2f} ({min(values):.2f}–{max(values):.2f})"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="d, n in {5, 50} x {20, 400} only")
    parser.add_argument("--tag", help="suffix of the result files (e.g. the machine)")
    parser.add_argument("--rounds", type=int, default=1, help="times to run the whole grid")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error(f"--rounds must be >= 1 (got {args.rounds})")
    name = f"bench_grid_{args.tag}" if args.tag else "bench_grid"
    dims, contexts = ([5, 50], [20, 400]) if args.quick else ([5, 10, 20, 50], [20, 40, 100, 400])
    depths, threads = [1, 3, 8], [1, 2]
    peak = {t: bench("--peak", "--threads", t)["peak_gflops"] for t in threads}
    configs = [(d, n, layers, t) for d in dims for n in contexts for layers in depths
               for t in threads]
    runs = {c: [] for c in configs}  # every run of every configuration
    for round_index in range(args.rounds):
        for (d, n, layers, t) in configs:
            # Big configurations take seconds per step: fewer repetitions. Small ones take
            # milliseconds, and 21 spread the median over the host's calm and busy moments.
            reps = 3 if d >= 50 and layers == 8 else 5 if d >= 20 else 21
            r = bench("--dim", d, "--context", n, "--layers", layers, "--batch", 4000,
                      "--threads", t, "--reps", reps)
            r["round"] = round_index
            runs[(d, n, layers, t)].append(r)
            print(f"round {round_index} d={d:3d} n={n:4d} L={layers} t={t}: "
                  f"{r['step_ms']:10.2f} ms ({r['sample_ms']:.2f} sampling)  "
                  f"{r['gflops']:6.2f} GFLOP/s = {100 * r['peak_fraction']:4.1f}% of peak  "
                  f"{r['peak_rss_mib']:.0f} MiB", flush=True)
    # Per configuration the run of median fraction of peak.
    rows = [lower_median(runs[c], key=lambda r: r["peak_fraction"]) for c in configs]
    peak_after = {t: bench("--peak", "--threads", t)["peak_gflops"] for t in threads}
    # The (d+1)-square product alone, the bulk of the prompt-by-prompt path at d = 50
    # (smaller d run in SIMD lanes or with fixed-size products): that path's ceiling, with
    # small_gemm (which the path uses) and with Eigen for comparison.
    d_max = max(dims)
    gemm_run = bench("--gemm", "--dim", d_max)
    gemm, eigen, gemm_peak = (gemm_run[k] for k in ("small_gemm_gflops", "eigen_gflops",
                                                    "peak_gflops"))

    keys = ["dim", "context", "layers", "threads"]
    with h5py.File(results_path(f"{name}.h5"), "w") as f:
        every_run = [r for c in configs for r in runs[c]]
        for k in keys + FIELDS + ["round"]:
            f[k] = np.array([r[k] for r in every_run])
        f.attrs["rounds"] = args.rounds
        for t in threads:
            f.attrs[f"peak_gflops_{t}_threads"] = [peak[t], peak_after[t]]
        f.attrs[f"product_gflops_side_{d_max + 1}"] = [gemm, eigen, gemm_peak]
        f.attrs["batch"] = 4000
        f.attrs["cpu"] = cpu_description()
    with open(results_path(f"{name}.md"), "w") as f:
        f.write(f"{cpu_description()}. FP64 FMA peak: {peak[1]:.1f} GFLOP/s on 1 thread, "
                f"{peak[2]:.1f} on 2 (after the grid: {peak_after[1]:.1f}, "
                f"{peak_after[2]:.1f}). The {d_max + 1}×{d_max + 1} product alone, 1 thread: "
                f"small_gemm {gemm:.1f} GFLOP/s ({100 * gemm / gemm_peak:.0f}% of the peak "
                f"measured next to it), Eigen {eigen:.1f} ({100 * eigen / gemm_peak:.0f}%).\n\n")
        if args.rounds > 1:
            f.write(f"{args.rounds} rounds of the grid; each row is the round of median "
                    f"fraction of peak, the last column the range over the rounds.\n\n")
        # The median step sets GFLOP/s and the fraction of peak; the fastest repetition's
        # fraction (same peak) shows what the step reaches when the host leaves it alone.
        f.write("| d | n | L | threads | step ms (min–max) | sampling ms | prompt·layers/s "
                "| GFLOP/s | % peak (peak GFLOP/s) | % peak, fastest step | peak RSS MiB "
                "| % peak over rounds |\n|" + "---|" * 12 + "\n")
        for c, r in zip(configs, rows):
            fastest = r["peak_fraction"] * r["step_ms"] / r["step_min_ms"]
            fractions = [100 * run["peak_fraction"] for run in runs[c]]
            f.write(f"| {r['dim']} | {r['context']} | {r['layers']} | {r['threads']} | "
                    f"{r['step_ms']:.2f} ({r['step_min_ms']:.2f}–{r['step_max_ms']:.2f}) | "
                    f"{r['sample_ms']:.2f} | {r['prompt_layers_per_s']:.3g} | "
                    f"{r['gflops']:.2f} | {100 * r['peak_fraction']:.1f} "
                    f"({r['peak_gflops']:.1f}) | {100 * fastest:.1f} | "
                    f"{r['peak_rss_mib']:.0f} | {min(fractions):.1f}–{max(fractions):.1f} |\n")
        # 2 threads against 1: in a round the two runs of a configuration are back to back, so
        # their ratio compares like with like; the ratio of their peaks shows what the host gave.
        f.write("\n| d | n | L | 2 threads / 1 thread: step speedup, median (range) "
                "| FMA peak ratio, median (range) |\n|" + "---|" * 5 + "\n")
        for (d, n, layers) in dict.fromkeys(c[:3] for c in configs):
            one, two = runs[(d, n, layers, 1)], runs[(d, n, layers, 2)]
            speedups = [a["step_ms"] / b["step_ms"] for a, b in zip(one, two)]
            peak_ratios = [b["peak_gflops"] / a["peak_gflops"] for a, b in zip(one, two)]
            f.write(f"| {d} | {n} | {layers} | {median_and_range(speedups)} | "
                    f"{median_and_range(peak_ratios)} |\n")
    print(open(results_path(f"{name}.md")).read())


if __name__ == "__main__":
    main()
