"""OLS without noise, ridge with noise: does a trained model approach the Bayes-optimal learner?

Trains 4-layer `full` models (d = 5, n = 20, isotropic Σ, w ~ N(0, I)) with the default recipe,
two seeds, without label noise and with σ = 0.5, and compares the model's loss after L layers
(its own readout and the probe, §8) with OLS and with ridge at λ = σ² (Bayes-optimal for
w ~ N(0, I)). Writes results/ols_ridge.h5.
"""
import os

import h5py

from common import analyze, print_table, results_path, train

LAYERS = 4
SEEDS = [0, 1]
NOISES = [0.0, 0.5]
# The default recipe, spelled out so that common.train's earlier defaults do not apply.
RECIPE = dict(dim=5, context=20, layers=LAYERS, param="full", optimizer="adamw", lr=0.02,
              beta2=0.9, init_std=0.05, schedule="constant", warmup=0, clip=1, batch=1000,
              steps=3000, closing_prompts=0)


def main():
    rows, table = [], {}
    for noise in NOISES:
        for seed in SEEDS:
            path = results_path(f"runs/ols_ridge_noise{noise}_seed{seed}.h5")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            train(path, noise=noise, seed=seed, reuse=True, **RECIPE)
            analyze(path, "--max-steps", 8)
            with h5py.File(path, "r") as f:
                a = f["analysis"]
                r = {"model": a["model_loss"][LAYERS], "model_se": a["model_loss_se"][LAYERS],
                     "probe": a["probe_loss"][LAYERS], "ols": a["algorithms/ols/loss"][1],
                     "ridge": a["algorithms/ridge/loss"][1], "zero": a["model_loss"][0]}
            table[(noise, seed)] = r
            rows.append([noise, seed, f"{r['model']:.4g} ± {r['model_se']:.2g}",
                         f"{r['probe']:.4g}", f"{r['ols']:.4g}", f"{r['ridge']:.4g}",
                         f"{r['zero']:.4g}"])
    print(f"loss after L = {LAYERS} layers against OLS and ridge (lambda = sigma^2), "
          "2,000 evaluation prompts")
    print_table(["sigma", "seed", "model", "probe", "ols", "ridge", "zero"], rows)
    with h5py.File(results_path("ols_ridge.h5"), "w") as f:
        for (noise, seed), r in table.items():
            g = f.create_group(f"noise{noise}/seed{seed}")
            for key, value in r.items():
                g.attrs[key] = value


if __name__ == "__main__":
    main()
