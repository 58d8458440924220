"""One pgd layer learns the closed-form preconditioner Γ* (DESIGN §7.1).

For isotropic, κ = 10 and κ = 100 rotated covariances and noise σ ∈ {0, 0.5}, three seeds
each, trains one `pgd` layer and reports ‖Γ − Γ*‖_F/‖Γ*‖_F, with Γ* recomputed here in numpy.
Writes results/one_layer_preconditioner.{h5,png}.
"""
import os

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from common import effective_preconditioner, gamma_star, print_table, results_path, train, weights

COVARIANCES = {"isotropic": {}, "kappa10": dict(cov="kappa", kappa=10, rotate=True),
               "kappa100": dict(cov="kappa", kappa=100, rotate=True)}
NOISES = [0.0, 0.5]
SEEDS = [0, 1, 2]


def run(cov, noise, seed):
    path = results_path(f"runs/one_layer_{cov}_noise{noise}_seed{seed}.h5")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    options = dict(dim=5, context=20, layers=1, param="pgd", lr=0.03, init_std=0, batch=2000,
                   steps=1500, noise=noise, seed=seed, reuse=True, **COVARIANCES[cov])
    train(path, **options)
    p, q = weights(path)
    with h5py.File(path, "r") as f:
        sigma, sigma_w = f["data/Sigma"][()], f["data/Sigma_w"][()]
        final_eval = f["eval/loss"][-1]
    g = effective_preconditioner(p, q, 0)
    gs = gamma_star(sigma, sigma_w, noise, 20)
    return np.linalg.norm(g - gs) / np.linalg.norm(gs), final_eval


def main():
    errors = np.zeros((len(COVARIANCES), len(NOISES), len(SEEDS)))
    losses = np.zeros_like(errors)
    for i, cov in enumerate(COVARIANCES):
        for j, noise in enumerate(NOISES):
            for k, seed in enumerate(SEEDS):
                errors[i, j, k], losses[i, j, k] = run(cov, noise, seed)
    rows = []
    for i, cov in enumerate(COVARIANCES):
        for j, noise in enumerate(NOISES):
            e = 100 * errors[i, j]
            rows.append([cov, noise] + [f"{x:.2f}%" for x in e] + [f"{e.mean():.2f}%"])
    print("relative Frobenius error of the learned Gamma against Gamma* (d = 5, n = 20)")
    print_table(["covariance", "noise"] + [f"seed {s}" for s in SEEDS] + ["mean"], rows)
    with h5py.File(results_path("one_layer_preconditioner.h5"), "w") as f:
        f["relative_error"] = errors
        f["eval_loss"] = losses
        f.attrs["covariances"] = list(COVARIANCES)
        f.attrs["noises"] = NOISES
        f.attrs["seeds"] = SEEDS

    fig, ax = plt.subplots(figsize=(6, 3.5))
    width = 0.35
    x = np.arange(len(COVARIANCES))
    for j, noise in enumerate(NOISES):
        mean = 100 * errors[:, j].mean(axis=1)
        ax.bar(x + (j - 0.5) * width, mean, width, label=f"noise {noise}")
        for k in range(len(SEEDS)):
            ax.plot(x + (j - 0.5) * width, 100 * errors[:, j, k], "k.", ms=4)
    ax.set_xticks(x, list(COVARIANCES))
    ax.set_ylabel("‖Γ − Γ*‖ / ‖Γ*‖  (%)")
    ax.set_title("One pgd layer: learned preconditioner vs closed form")
    ax.legend()
    fig.tight_layout()
    fig.savefig(results_path("one_layer_preconditioner.png"), dpi=120)


if __name__ == "__main__":
    main()
