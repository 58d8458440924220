"""Newton versus GD: which algorithm do the layers of a deep `full` model follow?

Trains 5-layer `full` linear transformers in the setting of the second-order-methods study
(d = 10, n = 20, rotated κ = 10, w ~ N(0, I), AdamW), three seeds, runs `linicl analyze`, and
reads every layer two ways: the model's own readout and a least-squares probe of the query
column (§8). For each it finds the best-matching step k*(ℓ) by SimE (the Σ-metric
cosine of the errors) of fixed-step GD and of iterative Newton. If the layers are Newton steps,
k*(ℓ) grows linearly with slope ≈ 3 (each layer ≈ 3 iterations); GD needs exponentially more
steps per layer on ill-conditioned data (log2 k* linear). Newton runs from both starts of
`linicl analyze --newton-start` (spectral, linicl's default, and frobenius, the study's; the
second analysis goes to a copy of each run). Reports the slopes per seed and their mean ± std.
Writes results/newton_vs_gd.{h5,png}.
"""
import os
import shutil

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from common import analyze, print_table, results_path, text, train

LAYERS = 5
SEEDS = [0, 1, 2]
MAX_STEPS = 200
LEARNERS = {"gd": "GD (fixed step, fitted)", "newton": "Newton, spectral start",
            "newton-frobenius": "Newton, Frobenius start"}
ANALYSIS = {"prompts": 2000, "calibration_prompts": 2000, "max_steps": MAX_STEPS}
READOUTS = {"": "model's readout", "probe/": "probe readout"}
RECIPE = dict(dim=10, context=20, layers=LAYERS, param="full", cov="kappa", kappa=10,
              rotate=True, optimizer="adamw", lr=0.002, beta2=0.999, init_std=0.02,
              schedule="cosine", warmup=300, clip=1, batch=2000, steps=6000)


def slopes(best):
    layers = np.arange(1, len(best) + 1)
    return np.polyfit(layers, best, 1)[0], np.polyfit(layers, np.log2(best), 1)[0]


def main():
    results = {}
    for seed in SEEDS:
        path = results_path(f"runs/newton_vs_gd_L{LAYERS}_seed{seed}.h5")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        train(path, seed=seed, reuse=True, allow_diverged=True, **RECIPE)
        frobenius = path.replace(".h5", "_frobenius.h5")
        if not os.path.exists(frobenius):
            shutil.copyfile(path, frobenius)
        options = ["--prompts", 2000, "--calibration", 2000, "--max-steps", MAX_STEPS]
        analyze(path, *options, reuse=dict(ANALYSIS, newton_start="spectral"))
        analyze(frobenius, *options, "--newton-start", "frobenius",
                reuse=dict(ANALYSIS, newton_start="frobenius"))
        with h5py.File(path, "r") as f, h5py.File(frobenius, "r") as g:
            a = f["analysis"]
            r = {"status": text(f.attrs["status"]), "eval": f["eval/loss"][-1],
                 "model_mean": a["model_loss"][()], "model_median": a["model_loss_median"][()],
                 "probe_mean": a["probe_loss"][()], "probe_median": a["probe_loss_median"][()]}
            for prefix in READOUTS:
                for name in LEARNERS:
                    source = g["analysis/algorithms/newton"] if name == "newton-frobenius" \
                        else a[f"algorithms/{name}"]
                    h = source[prefix] if prefix else source
                    r[prefix + name] = (h["best_step"][()], h["best_sime"][()], h["sime"][()])
        results[seed] = r

    layers = np.arange(1, LAYERS + 1)
    summary = {}
    for prefix, readout in READOUTS.items():
        print(f"\nk*(l) with SimE there, {readout} (d = 10, n = 20, rotated kappa = 10, "
              f"L = {LAYERS} full)")
        rows = []
        for seed in SEEDS:
            r = results[seed]
            loss = r["probe_median" if prefix else "model_median"]
            for l in layers:
                rows.append([seed, l, f"{loss[l]:.3g}"] +
                            [f"{r[prefix + n][0][l - 1]} ({r[prefix + n][1][l - 1]:.2f})"
                             for n in LEARNERS])
        print_table(["seed", "layer", "median loss"] + [f"k* {n}" for n in LEARNERS], rows)
        for name in LEARNERS:
            s = np.array([slopes(results[seed][prefix + name][0]) for seed in SEEDS])
            summary[prefix + name] = s
            print(f"{name}: slope of k* {s[:, 0].mean():.2f} ± {s[:, 0].std(ddof=1):.2f} "
                  f"steps/layer, of log2 k* {s[:, 1].mean():.2f} ± {s[:, 1].std(ddof=1):.2f} "
                  f"(seeds: {', '.join(f'{x:.2f}/{y:.2f}' for x, y in s)})")
    for seed in SEEDS:
        r = results[seed]
        print(f"seed {seed}: status {r['status']}, final evaluation loss {r['eval']:.4g}; "
              f"analysis mean/median after L layers {r['model_mean'][-1]:.4g} / "
              f"{r['model_median'][-1]:.4g}")

    with h5py.File(results_path("newton_vs_gd.h5"), "w") as f:
        for seed in SEEDS:
            r = results[seed]
            g = f.create_group(f"seed{seed}")
            for key in ("model_mean", "model_median", "probe_mean", "probe_median"):
                g[key] = r[key]
            for prefix in READOUTS:
                for name in LEARNERS:
                    h = g.create_group((prefix or "readout/") + name)
                    h["best_step"], h["best_sime"], h["sime"] = r[prefix + name]
        for key, s in summary.items():
            f[f"slopes/{key or 'readout/'}"] = s

    fig, axes = plt.subplots(2, len(LEARNERS), figsize=(5.5 * len(LEARNERS), 7))
    r = results[SEEDS[0]]
    for row, (prefix, readout) in enumerate(READOUTS.items()):
        for col, (name, label) in enumerate(LEARNERS.items()):
            ax = axes[row, col]
            best, _, sime = r[prefix + name]
            shown = min(MAX_STEPS, int(best.max() * 2) + 4)
            image = ax.imshow(sime[:, :shown], aspect="auto", cmap="viridis", origin="lower",
                              extent=(0.5, shown + 0.5, 0.5, LAYERS + 0.5), vmin=0, vmax=1)
            ax.plot(best, layers, "r*", ms=9, label="k*(ℓ)")
            ax.set_xscale("log" if name == "gd" else "linear")
            ax.set_xlabel(f"{label} step k")
            ax.set_ylabel("layer ℓ")
            ax.set_title(f"{label}: {readout}, seed {SEEDS[0]}")
            ax.legend(loc="lower right", fontsize=8)
            fig.colorbar(image, ax=ax, label="SimE (Σ-metric cosine of errors)")
    fig.tight_layout()
    fig.savefig(results_path("newton_vs_gd.png"), dpi=120)


if __name__ == "__main__":
    main()
