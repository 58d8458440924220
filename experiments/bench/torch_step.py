"""The same training step in PyTorch, and the linicl/PyTorch ratios, measured in one run.

Variants (full parametrization, one head, isotropic Gaussian prompts, Adam, batch B):
  naive     the way published reference code writes it: attention scores Zᵀ Q Z as a
            B×(n+1)×(n+1) tensor, autograd, float32;
  tuned32   the O(n·d²) association: G = Z M Zᵀ first, then K = P G Q / n and Z ← Z + K Z,
            autograd, float32;
  tuned64   the same in float64 (linicl computes in float64).
A step draws the batch, runs forward and backward and applies Adam, as linicl's does.
linicl (experiments/bench/bench_step.cpp) and the PyTorch variants run alternately, round by
round, at the same thread count; medians over rounds are compared.

    /usr/bin/python3 experiments/bench/torch_step.py --threads 2 [--dim 5 --context 20 ...]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from common import cpu_description  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.environ.get("LINICL_BENCH", os.path.join(ROOT, "build", "linicl_bench"))


def make_step(variant, d, n, layers, batch):
    """A closure running one training step of the variant; parameters live inside it."""
    dtype = torch.float64 if variant == "tuned64" else torch.float32
    gen = torch.Generator().manual_seed(0)
    p = (0.02 * torch.randn(layers, d + 1, d + 1, generator=gen, dtype=dtype)).requires_grad_()
    q = (0.02 * torch.randn(layers, d + 1, d + 1, generator=gen, dtype=dtype)).requires_grad_()
    optimizer = torch.optim.Adam([p, q], lr=1e-3)
    key_mask = torch.ones(n + 1, dtype=dtype)
    key_mask[n] = 0.0  # the query is no key

    def sample():
        x = torch.randn(batch, d, n + 1, dtype=dtype)
        w = torch.randn(batch, d, 1, dtype=dtype)
        y = (w.transpose(1, 2) @ x)[:, 0, :] + 0.0 * torch.randn(batch, n + 1, dtype=dtype)
        z = torch.cat([x, y[:, None, :]], dim=1)
        target = z[:, d, n].clone()
        z[:, d, n] = 0.0
        return z, target

    def forward(z):
        for l in range(layers):
            if variant == "naive":
                scores = z.transpose(1, 2) @ q[l] @ z          # B × (n+1) × (n+1)
                scores = scores * key_mask[None, :, None]      # keys i ≤ n only
                z = z + p[l] @ z @ scores / n
            else:
                g = (z * key_mask) @ z.transpose(1, 2)         # B × D × D, O(n·d²)
                k = p[l] @ g @ q[l] / n
                z = z + k @ z
        return -z[:, d, n]

    def step():
        z, target = sample()
        loss = ((forward(z) - target) ** 2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


def time_torch(variant, args):
    step = make_step(variant, args.dim, args.context, args.layers, args.batch)
    step()  # warm-up
    times = []
    for _ in range(args.reps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def time_linicl(args):
    command = [BENCH, "--dim", args.dim, "--context", args.context, "--layers", args.layers,
               "--batch", args.batch, "--threads", args.threads, "--reps", args.reps]
    done = subprocess.run([str(c) for c in command], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)["step_ms"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dim", type=int, default=5)
    parser.add_argument("--context", type=int, default=20)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--batch", type=int, default=4000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=7, help="steps timed per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", help="append the result as one JSON line to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    variants = ["naive", "tuned32", "tuned64"]
    times = {v: [] for v in ["linicl"] + variants}
    for _ in range(args.rounds):  # A, B, A, B, ...: drift hits every contender alike
        times["linicl"].append(time_linicl(args))
        for v in variants:
            times[v].append(time_torch(v, args))
    median = {k: statistics.median(v) for k, v in times.items()}
    print(f"d = {args.dim}, n = {args.context}, L = {args.layers}, batch {args.batch}, "
          f"{args.threads} thread(s), torch {torch.__version__}, {cpu_description()}; "
          f"median ms per step over {args.rounds} rounds of {args.reps} steps")
    for k, v in median.items():
        ratio = "" if k == "linicl" else f"   linicl is {v / median['linicl']:.1f}x faster"
        spread = f"[{min(times[k]):.2f}, {max(times[k]):.2f}]"
        print(f"  {k:8s} {v:9.2f} ms  {spread:>18s}{ratio}")
    if args.json:
        with open(args.json, "a") as f:
            f.write(json.dumps(dict(vars(args), torch=torch.__version__, cpu=cpu_description(),
                                    median_ms=median, rounds_ms=times)) + "\n")


if __name__ == "__main__":
    main()
