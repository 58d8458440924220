"""The exact one-layer landscape (§7.1, §9): the population loss f(Γ) of one pgd layer on
a 2-D slice through the run's weights that contains Γ* (axis 1: the line from the run to Γ*,
α = 1 at Γ*; axis 2: a filter-normalized random direction), with the sampled loss on a fixed
pool of 20,000 prompts overlaid. The exact surface is recomputed here in numpy from the closed
form, independently of linicl, as a check.

    /usr/bin/python3 experiments/landscape_one_layer.py      (under a minute)
"""
import os

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from common import linicl, one_layer_loss, results_path, train

D, N, NOISE = 5, 20, 0.5


def main():
    runs = results_path("runs")
    os.makedirs(runs, exist_ok=True)
    # A short run, so that the run and Γ* are visibly apart on the slice.
    path = train(os.path.join(runs, "landscape_one_layer.h5"), dim=D, context=N, layers=1,
                 param="pgd", cov="kappa", kappa=10, rotate=True, noise=NOISE, lr=0.02,
                 warmup=0, clip=0, init_std=0, steps=60, batch=1000, eval_every=20)
    print(linicl("landscape", path, "slice", "--dims", 2, "--direction", "theory", "--range",
                 -0.75, 1.5, "--points", 31, "--pool", 20000))
    with h5py.File(path, "r") as f:
        s = f["landscape/slice"]
        alpha, beta = s["alpha"][()].ravel(), s["beta"][()].ravel()
        loss, se, exact = s["loss"][()], s["standard_error"][()], s["exact"][()]
        origin, u, v = (s[k][()].ravel() for k in ("origin", "direction_u", "direction_v"))
        sigma, sigma_w = f["data/Sigma"][()], f["data/Sigma_w"][()]

    # f at every grid point from numpy: θ = vec(A) column-major, Γ = Aᵀ (§3.6).
    numpy_exact = np.empty_like(exact)
    for i, a in enumerate(alpha):
        for j, b in enumerate(beta):
            theta = origin + a * u + b * v
            gamma = theta.reshape(D, D, order="F").T
            numpy_exact[i, j] = one_layer_loss(gamma, sigma, sigma_w, NOISE, N)
    z = (loss - exact) / se
    print(f"exact f, linicl vs numpy: max relative difference "
          f"{np.max(np.abs(numpy_exact - exact) / exact):.2e}")
    print(f"sampled - exact in standard errors: mean {z.mean():.2f}, max |z| {np.abs(z).max():.2f}"
          f" over {z.size} points (common random numbers: one pool for the whole slice)")
    i, j = np.unravel_index(np.argmin(exact), exact.shape)
    print(f"grid minimum of f at alpha {alpha[i]:.3f}, beta {beta[j]:.3f} (Gamma* is at 1, 0)")

    with h5py.File(results_path("landscape_one_layer.h5"), "w") as f:
        for name, value in [("alpha", alpha), ("beta", beta), ("sampled", loss),
                            ("standard_error", se), ("exact", exact),
                            ("exact_numpy", numpy_exact)]:
            f[name] = value

    fig, ax = plt.subplots(figsize=(7, 6))
    levels = np.quantile(exact, np.linspace(0, 1, 16))
    filled = ax.contourf(beta, alpha, exact, levels=levels, cmap="viridis")
    ax.contour(beta, alpha, loss, levels=levels, colors="white", linestyles="dashed",
               linewidths=0.8)
    ax.plot(0, 0, "o", color="red", label="the run (60 steps)")
    ax.plot(0, 1, "*", color="orange", markersize=14, label="Γ* (closed form)")
    fig.colorbar(filled, label="exact population loss f")
    ax.set_xlabel("β (filter-normalized random direction)")
    ax.set_ylabel("α (line from the run to Γ*)")
    ax.set_title("one pgd layer, d = 5, n = 20, κ = 10, σ = 0.5\n"
                 "filled: exact f;  dashed: sampled loss on 20,000 prompts")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(results_path("landscape_one_layer.png"), dpi=120)
    print("wrote", results_path("landscape_one_layer.png"))


if __name__ == "__main__":
    main()
