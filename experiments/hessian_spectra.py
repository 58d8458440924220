"""Hessian spectra of a 3-layer linear transformer (d = 5, n = 20, full, Adam; the default
config) at initialization (after one step), mid-training (step 1500) and the end (step 3000),
each from the exact Hessian-vector products on a pool of 2,000 prompts (§9).

    /usr/bin/python3 experiments/hessian_spectra.py      (about a minute)
"""
import os
import shutil

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from common import linicl, print_table, results_path

POINTS = [("init", 1), ("mid", 1500), ("end", 0)]  # --stop-at (0: to the end)


def main():
    runs = results_path("runs")
    os.makedirs(runs, exist_ok=True)
    spectra, rows, previous = {}, [], None
    for name, stop in POINTS:
        path = os.path.join(runs, f"spectra_{name}.h5")
        if previous is None:
            linicl("train", "-o", path, "--force", "--stop-at", stop)
        else:
            shutil.copy(previous, path)
            linicl("train", "--resume", path, *(["--stop-at", stop] if stop else []))
        previous = path
        linicl("landscape", path, "curvature", "--pool", 2000)
        with h5py.File(path, "r") as f:
            c = f["landscape/curvature"]
            spectra[name] = c["active_eigenvalues"][()].ravel()
            step = f["checkpoint"].attrs["step"]
            rows.append([name, step, f"{f['eval/loss'][-1]:.4g}", f"{c.attrs['sharpness']:.4g}",
                         f"{c.attrs['lambda_median']:.4g}", f"{c.attrs['robust_condition']:.4g}",
                         c.attrs["negative"], c.attrs["positive"], c.attrs["inactive"]])
    print_table(["point", "step", "eval loss", "λmax", "λmedian", "λmax/λmedian", "negative",
                 "positive", "inactive"], rows)

    with h5py.File(results_path("hessian_spectra.h5"), "w") as f:
        for name, values in spectra.items():
            f[name] = values
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for name, values in spectra.items():
        axes[0].plot(np.arange(len(values)), values, ".", label=name)
        axes[1].hist(np.sign(values) * np.log10(1 + np.abs(values) / 1e-3), bins=60, alpha=0.5,
                     label=name)
    axes[0].set_yscale("symlog", linthresh=1e-3)
    axes[0].set_xlabel("index (ascending)")
    axes[0].set_ylabel("eigenvalue of ∇²ℒ (active parameters)")
    axes[1].set_xlabel("sign(λ)·log10(1 + |λ|/1e-3)")
    axes[1].set_ylabel("count")
    for ax in axes:
        ax.legend()
    fig.suptitle("Hessian spectra, 3-layer full LSA, d = 5, n = 20 (Adam, default config)")
    fig.tight_layout()
    fig.savefig(results_path("hessian_spectra.png"), dpi=120)
    print("wrote", results_path("hessian_spectra.png"))


if __name__ == "__main__":
    main()
