"""Critical points of deep pgd and gdpp models (§7): for w ~ N(0, Σ⁻¹), fit the family
Γ_ℓ = a_ℓ Σ⁻¹ (and B_ℓ = b_ℓ I for gdpp) on a pool of 20,000 prompts with `linicl landscape
critical`, then check that the full gradient vanishes within its sampling noise on an
independent pool, and read the Hessian's signature there (over the active parameters: the
last layer's B never reaches the prediction). Each model is also trained (3,000 Adam steps)
to see whether training lands on the fitted point: the trained Γ_ℓ's best multiples a_ℓ of
Σ⁻¹, and max_ℓ ‖Γ_ℓ − a_ℓΣ⁻¹‖/‖Γ_ℓ‖ ("off-family").

    /usr/bin/python3 experiments/critical_points.py      (about a minute)
"""
import os

import h5py
import numpy as np

from common import effective_preconditioner, linicl, print_table, results_path, train, weights

D, N, KAPPA = 5, 20, 10
MODELS = [("pgd", 1), ("pgd", 2), ("pgd", 3), ("gdpp", 2), ("gdpp", 3)]


def main():
    runs = results_path("runs")
    os.makedirs(runs, exist_ok=True)
    rows = []
    with h5py.File(results_path("critical_points.h5"), "w") as out:
        for param, layers in MODELS:
            path = train(os.path.join(runs, f"critical_{param}_L{layers}.h5"), dim=D, context=N,
                         layers=layers, param=param, cov="kappa", kappa=KAPPA, rotate=True,
                         w_cov="inverse", lr=0.01, reuse=True)
            linicl("landscape", path, "critical", "--pool", 20000)
            with h5py.File(path, "r") as f:
                c = f["landscape/critical/family"]
                a = c.attrs
                k = c["curvature"].attrs
                sigma_inv = np.linalg.inv(f["data/Sigma"][()])
                scalars = c["scalars"][()].ravel()
                trained_loss = f["eval/loss"][-1]
                g = out.create_group(f"{param}_L{layers}")
                g["scalars"] = scalars
                for name in ("loss", "gradient_norm", "gradient_noise"):
                    g.attrs[name] = a[name]
                g.attrs["trained_loss"] = trained_loss
                # The trained layers against the family: the best a_ℓ for each Γ_ℓ and the part
                # of Γ_ℓ off the line a·Σ⁻¹.
                p, q = weights(path)
                gammas = [effective_preconditioner(p, q, l) for l in range(layers)]
                trained_a = [np.sum(gm * sigma_inv) / np.sum(sigma_inv * sigma_inv) for gm in gammas]
                off = max(np.linalg.norm(gm - a_l * sigma_inv) / np.linalg.norm(gm)
                          for gm, a_l in zip(gammas, trained_a))
                g["trained_a"] = trained_a
                g.attrs["trained_off_family"] = off
                for name in ("negative", "zero", "positive"):
                    g.attrs[name] = k[name]
                rows.append([
                    param, layers, " ".join(f"{s:.3f}" for s in scalars),
                    f"{a['loss']:.4f} ± {a['loss_standard_error']:.4f}", f"{trained_loss:.4f}",
                    f"{a['gradient_norm']:.3g}", f"{a['gradient_noise']:.3g}",
                    f"{a['gradient_norm'] / a['gradient_noise']:.2f}",
                    f"{k['negative']}/{k['zero']}/{k['positive']}",
                    f"{c['curvature/active_eigenvalues'][()].min():.3g}",
                    " ".join(f"{x:.3f}" for x in trained_a), f"{off:.3f}"])
    print(f"d = {D}, n = {N}, rotated kappa = {KAPPA}, w ~ N(0, Sigma^-1), pool 20,000 prompts")
    print_table(["param", "L", "scalars (a_l or a_l, b_l)", "loss at fit", "trained loss",
                 "|grad|", "noise", "ratio", "signature -/0/+", "λmin", "trained a_l", "off-family"],
                rows)
    print("wrote", results_path("critical_points.h5"))


if __name__ == "__main__":
    main()
