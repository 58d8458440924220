"""Depth versus loss: a trained `full` model of L layers against L steps of reference learners.

For L = 1…6 (d = 5, n = 20, rotated κ = 10 covariance, w ~ N(0, I), no noise) trains a `full`
linear transformer from two seeds (Adam, warm-up, gradient clipping: deep LSA models are
polynomials of degree 3^L in the data, and rare prompts otherwise blow training up), keeps the
seed with the lower final evaluation loss, runs `linicl analyze` on it and reads, at k = L
steps, the loss of
GD (step tuned for L steps), PGD with fitted a_ℓ·Σ⁻¹, GD++ (fitted a_ℓ, b_ℓ), iterative Newton,
and OLS (no steps). Writes results/depth.{h5,png}.
"""
import os

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from common import analyze, print_table, results_path, train

DEPTHS = [1, 2, 3, 4, 5, 6]
LEARNERS = {"gd": "GD (tuned step)", "pgd-inverse": "PGD, a·Σ⁻¹", "gdpp": "GD++",
            "newton": "Newton", "ols": "OLS"}
TASK = dict(dim=5, context=20, cov="kappa", kappa=10, rotate=True)


SEEDS = [0, 1]


def run(layers):
    paths = []
    for seed in SEEDS:
        path = results_path(f"runs/depth_L{layers}_seed{seed}.h5")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        train(path, layers=layers, param="full", lr=0.002, clip=1, warmup=200,
              batch=2000, steps=3000, seed=seed, reuse=True, allow_diverged=True, **TASK)
        with h5py.File(path, "r") as f:
            paths.append((f["eval/loss"][-1], path))
    final_losses = [loss for loss, _ in paths]
    path = min(paths)[1]
    analyze(path, "--prompts", 4000, "--calibration", 4000, "--max-steps", 8)
    with h5py.File(path, "r") as f:
        model = f["analysis/model_loss"][layers]
        alg = {}
        for name in LEARNERS:
            loss = f[f"analysis/algorithms/{name}/loss"][()]
            alg[name] = loss[-1] if name == "ols" else loss[layers]
    return model, final_losses, alg


def main():
    model = np.zeros(len(DEPTHS))
    seeds = np.zeros((len(DEPTHS), len(SEEDS)))
    algs = {name: np.zeros(len(DEPTHS)) for name in LEARNERS}
    for i, layers in enumerate(DEPTHS):
        model[i], seeds[i], alg = run(layers)
        for name in LEARNERS:
            algs[name][i] = alg[name]
    header = ["L", "trained"] + [f"eval seed {s}" for s in SEEDS] + list(LEARNERS)
    rows = [[L, f"{model[i]:.4f}"] + [f"{x:.4g}" for x in seeds[i]] +
            [f"{algs[n][i]:.4f}" for n in LEARNERS]
            for i, L in enumerate(DEPTHS)]
    print("loss after L layers / L steps (d = 5, n = 20, rotated kappa = 10; predicting 0 scores 5)")
    print_table(header, rows)
    with h5py.File(results_path("depth.h5"), "w") as f:
        f["depths"] = DEPTHS
        f["trained"] = model
        f["eval_loss_per_seed"] = seeds
        for name in LEARNERS:
            f[f"learners/{name}"] = algs[name]

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(DEPTHS, model, "ko-", lw=2, label="trained linear transformer")
    for name, label in LEARNERS.items():
        if name == "ols" and algs[name].max() < 1e-12:
            continue  # exact without noise (n > d): off a log scale
        ax.plot(DEPTHS, algs[name], "--" if name == "ols" else ".-", label=label)
    ax.set_yscale("log")
    ax.set_xlabel("layers L (= steps of each learner)")
    ax.set_ylabel("in-context loss")
    title = "Depth versus loss, d = 5, n = 20, rotated κ = 10"
    if algs["ols"].max() < 1e-12:
        title += f"\n(OLS: {algs['ols'].max():.0e}, exact without noise)"
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(results_path("depth.png"), dpi=120)


if __name__ == "__main__":
    main()
