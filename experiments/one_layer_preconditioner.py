"""One pgd layer learns the closed-form preconditioner Γ* (§7.1).

For isotropic, κ = 10 and κ = 100 rotated covariances and noise σ ∈ {0, 0.5}, three seeds
each, trains one `pgd` layer (d = 5, n = 20, Adam, cosine schedule, 1,500 steps of 2,000
prompts) and reports, with Γ* and f recomputed here in numpy:
  - the relative Frobenius error ‖Γ − Γ*‖_F/‖Γ*‖_F,
  - the Σ-weighted error ‖Σ^{1/2}(Γ − Γ*)Σ^{1/2}‖_F/‖Σ^{1/2}Γ*Σ^{1/2}‖_F, which weighs each
    direction by how much the loss depends on it,
  - the relative excess population loss (f(Γ) − f(Γ*))/f(Γ*).
κ = 100 is also trained four times longer with a larger step ("kappa100-long"): its
low-variance directions are nearly flat for the loss and converge slowly.
Writes results/one_layer_preconditioner.{h5,png}.
"""
import os

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from common import (effective_preconditioner, gamma_star, one_layer_loss, print_table,
                    results_path, train, weights)

KAPPA100 = dict(cov="kappa", kappa=100, rotate=True)
SETTINGS = {"isotropic": {}, "kappa10": dict(cov="kappa", kappa=10, rotate=True),
            "kappa100": KAPPA100, "kappa100-long": dict(KAPPA100, steps=6000, lr=0.1)}
NOISES = [0.0, 0.5]
SEEDS = [0, 1, 2]
METRICS = ["frobenius", "sigma_weighted", "excess_loss"]


def symmetric_sqrt(m):
    values, vectors = np.linalg.eigh(m)
    return vectors @ np.diag(np.sqrt(values)) @ vectors.T


def run(setting, noise, seed):
    path = results_path(f"runs/one_layer_{setting}_noise{noise}_seed{seed}.h5")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    options = dict(dim=5, context=20, layers=1, param="pgd", lr=0.03, init_std=0, batch=2000,
                   steps=1500, warmup=0, clip=0, noise=noise, seed=seed, reuse=True)
    options.update(SETTINGS[setting])
    train(path, **options)
    p, q = weights(path)
    with h5py.File(path, "r") as f:
        sigma, sigma_w = f["data/Sigma"][()], f["data/Sigma_w"][()]
    g = effective_preconditioner(p, q, 0)
    gs = gamma_star(sigma, sigma_w, noise, 20)
    root = symmetric_sqrt(sigma)
    f_star = one_layer_loss(gs, sigma, sigma_w, noise, 20)
    return [np.linalg.norm(g - gs) / np.linalg.norm(gs),
            np.linalg.norm(root @ (g - gs) @ root) / np.linalg.norm(root @ gs @ root),
            (one_layer_loss(g, sigma, sigma_w, noise, 20) - f_star) / f_star]


def main():
    errors = np.zeros((len(SETTINGS), len(NOISES), len(SEEDS), len(METRICS)))
    for i, setting in enumerate(SETTINGS):
        for j, noise in enumerate(NOISES):
            for k, seed in enumerate(SEEDS):
                errors[i, j, k] = run(setting, noise, seed)
    rows = []
    for i, setting in enumerate(SETTINGS):
        for j, noise in enumerate(NOISES):
            e = 100 * errors[i, j]
            rows.append([setting, noise] + [f"{x:.2f}%" for x in e[:, 0]] +
                        [f"{e[:, 0].mean():.2f}%", f"{e[:, 1].mean():.2f}%",
                         f"{e[:, 2].mean():.4f}%"])
    print("learned Gamma against Gamma* (d = 5, n = 20, 3 seeds)")
    print_table(["covariance", "noise"] + [f"Frob. seed {s}" for s in SEEDS] +
                ["Frob. mean", "Sigma-weighted mean", "excess loss mean"], rows)
    with h5py.File(results_path("one_layer_preconditioner.h5"), "w") as f:
        f["relative_error"] = errors
        f.attrs["axes"] = "setting, noise, seed, metric"
        f.attrs["settings"] = list(SETTINGS)
        f.attrs["noises"] = NOISES
        f.attrs["seeds"] = SEEDS
        f.attrs["metrics"] = METRICS

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    width = 0.38
    x = np.arange(len(SETTINGS))
    for ax, m, label in zip(axes, [0, 1], ["‖Γ − Γ*‖ / ‖Γ*‖  (%)",
                                           "‖Σ½(Γ − Γ*)Σ½‖ / ‖Σ½Γ*Σ½‖  (%)"]):
        for j, noise in enumerate(NOISES):
            ax.bar(x + (j - 0.5) * width, 100 * errors[:, j, :, m].mean(axis=1), width,
                   label=f"noise σ = {noise}")
            for k in range(len(SEEDS)):
                ax.plot(x + (j - 0.5) * width, 100 * errors[:, j, k, m], "k.", ms=4)
        ax.set_xticks(x, list(SETTINGS))
        ax.set_yscale("log")
        ax.set_ylabel(label)
        ax.legend(fontsize=8)
    fig.suptitle("One pgd layer: learned preconditioner against the closed form Γ*")
    fig.tight_layout()
    fig.savefig(results_path("one_layer_preconditioner.png"), dpi=120)


if __name__ == "__main__":
    main()
