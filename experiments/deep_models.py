"""Deep models: 8, 10 and 12 `full` layers at d = 10, n = 20, rotated κ = 10 (w ~ N(0, I)).

Without help these diverge: a few prompts per batch overflow (the model is a polynomial of
degree 3^L in the prompt) while the median loss is still falling. Trained on the truncated
loss (`--loss-cap`, a prompt above the cap adds the cap and no gradient) they train. This
script measures: the untruncated attempt, L = 8, 10, 12 for seeds 0 and 1 with cap 100, the
cap's effect at L = 8 (10, 100, 1,000, 10⁶), and, for the 8-layer runs, which step of GD and
of Newton (the study's Frobenius start) each layer matches best (`linicl analyze`, both
readouts). Writes results/deep_models.h5.
"""
import os

import h5py
import numpy as np

from common import analyze, print_table, results_path, text, train

RECIPE = dict(dim=10, context=20, param="full", cov="kappa", kappa=10, rotate=True,
              optimizer="adamw", lr=0.002, beta2=0.9, init_std=0.05, schedule="constant",
              warmup=0, clip=1, batch=1000, steps=3000, closing_prompts=0)
CAP = 100
DEPTHS = [8, 10, 12]
SEEDS = [0, 1]
CAPS = [10, 100, 1000, 1e6]
ANALYSIS = ["--prompts", 2000, "--calibration", 2000, "--max-steps", 200,
            "--newton-start", "frobenius"]


def run(name, **options):
    path = results_path(f"runs/deep_{name}.h5")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    train(path, reuse=True, allow_diverged=True, **dict(RECIPE, **options))
    with h5py.File(path, "r") as f:
        capped = f["train/capped"][:]
        return path, {"status": text(f.attrs["status"]), "reason": text(f.attrs["reason"]),
                      "steps": int(f["checkpoint"].attrs["step"]),
                      "mean": f["eval/loss"][-1], "se": f["eval/loss_se"][-1],
                      "median": f["eval/loss_median"][-1],
                      "capped_mean": capped.mean() if capped.size else 0.0,
                      "capped_max": capped.max() if capped.size else 0.0}


def row(label, r):
    status = r["status"] if isinstance(r["status"], str) else r["status"].decode()
    return [label, f"{status} at {r['steps']}", f"{r['mean']:.3g} ± {r['se']:.2g}",
            f"{r['median']:.3g}", f"{100 * r['capped_mean']:.3f}%",
            f"{100 * r['capped_max']:.2f}%"]


def main():
    header = ["run", "status at step", "eval mean ± se", "eval median", "capped (mean)",
              "capped (worst batch)"]
    results, rows = {}, []
    _, results["uncapped_L8_seed0"] = run("uncapped_L8_seed0", layers=8, seed=0)
    rows.append(row("L = 8, seed 0, no cap", results["uncapped_L8_seed0"]))
    for layers in DEPTHS:
        for seed in SEEDS:
            name = f"L{layers}_seed{seed}"
            _, results[name] = run(name, layers=layers, seed=seed, loss_cap=CAP)
            rows.append(row(f"L = {layers}, seed {seed}, cap {CAP}", results[name]))
    for cap in CAPS:
        if cap == CAP:
            continue
        name = f"L8_seed0_cap{cap:g}"
        _, results[name] = run(name, layers=8, seed=0, loss_cap=cap)
        rows.append(row(f"L = 8, seed 0, cap {cap:g}", results[name]))
    print("Deep full models, d = 10, n = 20, rotated kappa = 10, AdamW lr 0.002, 3,000 steps "
          "of 1,000 prompts (predicting 0 scores 10)")
    print_table(header, rows)

    k_star = {}
    for seed in SEEDS:
        path = results_path(f"runs/deep_L8_seed{seed}.h5")
        analyze(path, *ANALYSIS, reuse=dict(prompts=2000, calibration_prompts=2000,
                                            max_steps=200, newton_start="frobenius"))
        with h5py.File(path, "r") as f:
            a = f["analysis"]
            for prefix in ("", "probe/"):
                readout = "probe" if prefix else "readout"
                loss = a["probe_loss_median" if prefix else "model_loss_median"][()]
                k_star[(seed, readout)] = {
                    "median_loss": loss[1:],
                    "gd": a[f"algorithms/gd/{prefix}best_step"][()],
                    "gd_sime": a[f"algorithms/gd/{prefix}best_sime"][()],
                    "newton": a[f"algorithms/newton/{prefix}best_step"][()],
                    "newton_sime": a[f"algorithms/newton/{prefix}best_sime"][()]}
    for (seed, readout), k in k_star.items():
        print(f"\nL = 8, seed {seed}, {readout}: k* (SimE) per layer")
        print_table(["layer", "median loss", "GD", "Newton (Frobenius start)"],
                    [[l + 1, f"{k['median_loss'][l]:.3g}", f"{k['gd'][l]} ({k['gd_sime'][l]:.2f})",
                      f"{k['newton'][l]} ({k['newton_sime'][l]:.2f})"] for l in range(8)])

    with h5py.File(results_path("deep_models.h5"), "w") as f:
        for name, r in results.items():
            g = f.create_group(name)
            for key, value in r.items():
                g.attrs[key] = value
        for (seed, readout), k in k_star.items():
            g = f.create_group(f"k_star/L8_seed{seed}/{readout}")
            for key, value in k.items():
                g[key] = np.asarray(value)


if __name__ == "__main__":
    main()
