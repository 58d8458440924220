"""Writes torch_reference.h5: a small LSA model evaluated by PyTorch autograd, for the tests.

The model is §3.2 exactly as written, with the (n+1)×(n+1) attention scores formed,
in float64: Z_{l+1} = Z_l + (1/n) Σ_h P_h Z_l M Z_lᵀ Q_h Z_l, prediction −[Z_L]_{d+1,n+1},
loss the batch mean of (prediction − y_{n+1})². Gradients come from autograd, so the test
holds linicl's hand-derived backward to an independent implementation.

    /usr/bin/python3 data/make_torch_reference.py     (rewrites data/torch_reference.h5)
"""
import os

import h5py
import numpy as np
import torch

L, H, D, N, B = 3, 2, 4, 7, 6


def main():
    rng = np.random.default_rng(20261123)
    p = torch.tensor(0.3 * rng.standard_normal((L, H, D + 1, D + 1)), requires_grad=True)
    q = torch.tensor(0.3 * rng.standard_normal((L, H, D + 1, D + 1)), requires_grad=True)
    x = rng.standard_normal((B, N + 1, D))  # prompt b, covariate i (the last is the query)
    y = rng.standard_normal((B, N + 1))     # labels; y[b, N] is the query's target
    z = torch.cat([torch.tensor(x).transpose(1, 2), torch.tensor(y)[:, None, :]], dim=1)
    z[:, D, N] = 0.0                        # the query's label slot is empty
    mask = torch.eye(N + 1, dtype=torch.float64)
    mask[N, N] = 0.0
    for layer in range(L):
        update = torch.zeros_like(z)
        for h in range(H):
            scores = mask @ z.transpose(1, 2) @ q[layer, h] @ z  # B × (n+1) × (n+1)
            update = update + p[layer, h] @ z @ scores / N
        z = z + update
    prediction = -z[:, D, N]
    loss = ((prediction - torch.tensor(y[:, N])) ** 2).mean()
    loss.backward()
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_reference.h5")
    with h5py.File(path, "w") as f:
        f.attrs["generator"] = "data/make_torch_reference.py, torch " + torch.__version__
        f["P"], f["Q"] = p.detach().numpy(), q.detach().numpy()
        f["x"], f["y"] = x, y
        f["prediction"] = prediction.detach().numpy()
        f["loss"] = [loss.item()]
        f["dP"], f["dQ"] = p.grad.numpy(), q.grad.numpy()


if __name__ == "__main__":
    main()
