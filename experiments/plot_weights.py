"""Draws a run's weights: P_ℓ and Q_ℓ of every layer (and head) as heatmaps, and for `pgd` and
`gdpp` runs Σ^{1/2} Γ_ℓ Σ^{1/2}, which theory says is a multiple of I when w ~ N(0, Σ⁻¹).

    /usr/bin/python3 experiments/plot_weights.py RUN.h5 [OUT.png]
"""
import os
import sys

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from common import effective_preconditioner, text


def symmetric_sqrt(m):
    values, vectors = np.linalg.eigh(m)
    return vectors @ np.diag(np.sqrt(values)) @ vectors.T


def heatmap(ax, m, title):
    limit = np.abs(m).max() or 1.0
    image = ax.imshow(m, cmap="RdBu_r", vmin=-limit, vmax=limit)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    return image


def plot(path, out):
    with h5py.File(path, "r") as f:
        p, q = f["weights/P"][()], f["weights/Q"][()]
        sigma = f["data/Sigma"][()]
        param = text(f["config"].attrs["param"])
    layers, heads = p.shape[:2]
    structured = param in ("pgd", "gdpp")
    cols = 2 * heads + (1 if structured else 0)
    fig, axes = plt.subplots(layers, cols, figsize=(2.2 * cols, 2.2 * layers), squeeze=False)
    root = symmetric_sqrt(sigma)
    for l in range(layers):
        for h in range(heads):
            fig.colorbar(heatmap(axes[l, 2 * h], p[l, h], f"P  layer {l} head {h}"), ax=axes[l, 2 * h])
            fig.colorbar(heatmap(axes[l, 2 * h + 1], q[l, h], f"Q  layer {l} head {h}"),
                         ax=axes[l, 2 * h + 1])
        if structured:
            m = root @ effective_preconditioner(p, q, l) @ root
            fig.colorbar(heatmap(axes[l, -1], m, f"Σ½ Γ Σ½  layer {l}"), ax=axes[l, -1])
    fig.suptitle(f"{os.path.basename(path)}: {param}, L = {layers}, H = {heads}", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    plot(sys.argv[1], sys.argv[2] if len(sys.argv) == 3 else sys.argv[1].replace(".h5", "") + "_weights.png")
