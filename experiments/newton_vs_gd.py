"""Newton versus GD: which algorithm do the layers of a deep `full` model follow?

Trains a 6-layer `full` linear transformer on ill-conditioned data (d = 5, n = 40, rotated
κ = 10, w ~ N(0, I)), runs `linicl analyze`, and draws SimE (the Σ-metric cosine of the
errors, DESIGN §8) between every layer ℓ and every step k of GD and of iterative Newton,
with the best-matching k*(ℓ) marked. Iterative Newton converges quadratically, so if the
layers are Newton steps k*(ℓ) grows linearly with slope ≈ 1; GD needs exponentially more steps
per layer on ill-conditioned data. Reports the slope of k*(ℓ) and of log2 k*(ℓ) against ℓ.
Deep LSA models are polynomials of degree 3^L in the prompt, so training can hit a prompt whose
loss overflows; linicl then stops with the last good state, which is what gets analyzed (the
script prints the run's status).
Writes results/newton_vs_gd.{h5,png}.
"""
import os

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from common import analyze, print_table, results_path, train

LAYERS = 6
MAX_STEPS = 200
LEARNERS = {"gd": "GD (tuned step)", "newton": "iterative Newton"}


def main():
    path = results_path("runs/newton_vs_gd_L6.h5")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    train(path, dim=5, context=40, layers=LAYERS, param="full", cov="kappa", kappa=10,
          rotate=True, lr=0.001, clip=1, warmup=300, batch=2000, steps=6000, seed=0,
          reuse=True, allow_diverged=True)
    analyze(path, "--prompts", 2000, "--calibration", 2000, "--max-steps", MAX_STEPS)
    sime, best, quality = {}, {}, {}
    with h5py.File(path, "r") as f:
        print(f"run status: {f.attrs['status']} {f.attrs['reason']}".strip())
        model_loss = f["analysis/model_loss"][()]
        for name in LEARNERS:
            g = f[f"analysis/algorithms/{name}"]
            sime[name] = g["sime"][()]
            best[name] = g["best_step"][()]
            quality[name] = g["best_sime"][()]
        newton_loss = f["analysis/algorithms/newton/loss"][()]
        gd_loss = f["analysis/algorithms/gd/loss"][()]
    layers = np.arange(1, LAYERS + 1)
    slopes = {}
    for name in LEARNERS:
        linear = np.polyfit(layers, best[name], 1)[0]
        logarithmic = np.polyfit(layers, np.log2(best[name]), 1)[0]
        slopes[name] = (linear, logarithmic)

    rows = [[l, f"{model_loss[l]:.4g}"] +
            [f"{best[n][l - 1]} ({quality[n][l - 1]:.3f})" for n in LEARNERS] for l in layers]
    print(f"k*(l) and SimE there (d = 5, n = 40, rotated kappa = 10, L = {LAYERS} full)")
    print_table(["layer", "model loss"] + [f"k* {n}" for n in LEARNERS], rows)
    for name, (linear, logarithmic) in slopes.items():
        print(f"{name}: slope of k* = {linear:.2f} steps/layer, slope of log2 k* = {logarithmic:.2f}")
    capped = [n for n in LEARNERS if best[n].max() >= MAX_STEPS]
    if capped:
        print(f"k* reached --max-steps {MAX_STEPS} for: {', '.join(capped)}")
    print(f"loss: Newton k=1..8 {np.round(newton_loss[1:9], 4)}, GD k=1..8 {np.round(gd_loss[1:9], 4)}")

    with h5py.File(results_path("newton_vs_gd.h5"), "w") as f:
        f["model_loss"] = model_loss
        for name in LEARNERS:
            f[f"{name}/sime"] = sime[name]
            f[f"{name}/best_step"] = best[name]
            f[f"{name}/best_sime"] = quality[name]
            f[f"{name}/slope"] = slopes[name][0]
            f[f"{name}/log2_slope"] = slopes[name][1]

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, (name, label) in zip(axes, LEARNERS.items()):
        shown = min(MAX_STEPS, int(best[name].max() * 2) + 4)
        image = ax.imshow(sime[name][:, :shown], aspect="auto", cmap="viridis", origin="lower",
                          extent=(0.5, shown + 0.5, 0.5, LAYERS + 0.5), vmin=0, vmax=1)
        ax.plot(best[name], layers, "r*", ms=9, label="k*(ℓ)")
        ax.set_xscale("log" if name == "gd" else "linear")
        ax.set_xlabel(f"{label} step k")
        ax.set_ylabel("layer ℓ")
        ax.set_title(f"SimE(layer, {label}); slope of k*: {slopes[name][0]:.2f}")
        ax.legend(loc="lower right", fontsize=8)
        fig.colorbar(image, ax=ax)
    fig.tight_layout()
    fig.savefig(results_path("newton_vs_gd.png"), dpi=120)


if __name__ == "__main__":
    main()
