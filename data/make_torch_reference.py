"""Writes torch_reference.h5: small LSA models evaluated by PyTorch autograd, for the tests.

The model is §3.2 exactly as written, with the (n+1)×(n+1) attention scores formed,
in float64: Z_{l+1} = Z_l + (1/n) Σ_h P_h Z_l M Z_lᵀ Q_h Z_l, prediction −[Z_L]_{d+1,n+1},
loss the batch mean of (prediction − y_{n+1})² (§3.4). Gradients come from autograd, so
tests/test_torch_reference.cpp holds linicl's hand-derived backward (§4.1) and R-operator
(§4.3) to an independent implementation that never uses the Gram form.

What the file holds (matrices row-major, [L, H, d+1, d+1] as /weights/P of a run, §10):

  /  the original case: L = 3, H = 2, d = 4, n = 7, 6 prompts drawn by numpy;
     P, Q, x [B, n+1, d], y [B, n+1], prediction [B], loss [1], dP, dQ.
  /cases/<name>  d ∈ {2, 5, 6} × L ∈ {1, 3} × H ∈ {1, 2}, n = 4…7, B ∈ {5, 6, 7, 8, 13};
     attributes dim, context, layers, heads, prompts (B), seed, step, noise, loss (ℒ);
     x, y, prediction as above, and pairs [2, L, H, d+1, d+1] (P then Q):
       weights                (P, Q)
       gradient               ∂ℒ/∂(P, Q)
       direction              a fixed direction dW
       hessian_vector         ∇²ℒ·dW of the batch loss ℒ = (1/B) Σ_b (ŷ_b − y_b)²
       prompt_hessian_vector  ∇²ℓ₀·dW of prompt 0's loss ℓ₀ = (ŷ₀ − y₀)²
  The Hessian–vector products are PyTorch's double backward: g = ∂ℒ/∂(P, Q) with
  create_graph=True, then the gradient of ⟨g, dW⟩; nothing of §4.3 is used.

The cases' prompts are linicl's own: prompt b is TaskSampler::sample(seed, step, b) for
Gaussian covariates, Σ = Σ_w = I and label noise `noise` (§2.1, §2.4), drawn here by a copy
of the counter-based stream and its ziggurat (`Stream`), the labels summed with one fused
multiply-add per term as the sampler sums them. So BatchObjective (evaluate, hessian_times)
sees the same batch as the kernels fed the stored x, y; the test first checks that the sampler
still draws these prompts. d = 2 and 5 have lane kernels (8 prompts at a time, §13), d = 6 has
none; with lanes, B = 13 is a full lane group and a partial one (5 prompts), B = 8 a full one
alone, B = 5 a partial one alone.

Weights are standard normals times 0.5·(d+1)^−¾ (L = 1) or 0.3·(d+1)^−¾ (L = 3), from a
fixed torch seed: then no prompt of a case is an outlier of the heavy-tailed ŷ (§3.6(e),
degree 3^L in the data), the stored numbers span a few orders of magnitude only, and rounding
on either side stays near machine precision. The test asks every entry to agree within 1e-12
of its tensor's largest entry: both sides are float64 evaluations of the same polynomial in
different orders, off by a few hundred rounding errors at most (the worst seen is 1.4e-15).
One thread, fixed seeds and no timestamps: every run writes the same bytes.

    /usr/bin/python3 data/make_torch_reference.py     (rewrites data/torch_reference.h5)
"""
import math
import os
from fractions import Fraction

import h5py
import numpy as np
import torch
from h5py import h5f, h5g, h5p

L, H, D, N, B = 3, 2, 4, 7, 6  # the original case


# Objects without timestamps: the same bytes on every run, so regenerating changes no file.
def create_file(path):
    fapl = h5p.create(h5p.FILE_ACCESS)
    fapl.set_libver_bounds(h5f.LIBVER_LATEST, h5f.LIBVER_LATEST)
    fcpl = h5p.create(h5p.FILE_CREATE)
    fcpl.set_obj_track_times(False)
    return h5py.File(h5f.create(path.encode(), h5f.ACC_TRUNC, fcpl=fcpl, fapl=fapl))


def create_group(parent, name):
    gcpl = h5p.create(h5p.GROUP_CREATE)
    gcpl.set_obj_track_times(False)
    return h5py.Group(h5g.create(parent.id, name.encode(), gcpl=gcpl))


def put(group, **datasets):
    for name, value in datasets.items():
        group.create_dataset(name, data=np.asarray(value), track_times=False)


def literal_predictions(p, q, x, y):
    """ŷ of every prompt by §3.2 with the (n+1)×(n+1) scores formed; x [B, n+1, d], y [B, n+1]."""
    layers, heads, d, n = p.shape[0], p.shape[1], x.shape[2], x.shape[1] - 1
    z = torch.cat([x.transpose(1, 2), y[:, None, :]], dim=1)
    z[:, d, n] = 0.0  # the query's label slot is empty
    mask = torch.eye(n + 1, dtype=torch.float64)
    mask[n, n] = 0.0
    for layer in range(layers):
        update = torch.zeros_like(z)
        for h in range(heads):
            scores = mask @ z.transpose(1, 2) @ q[layer, h] @ z  # B × (n+1) × (n+1)
            update = update + p[layer, h] @ z @ scores / n
        z = z + update
    return -z[:, d, n]


def write_original(f):
    rng = np.random.default_rng(20261123)
    p = torch.tensor(0.3 * rng.standard_normal((L, H, D + 1, D + 1)), requires_grad=True)
    q = torch.tensor(0.3 * rng.standard_normal((L, H, D + 1, D + 1)), requires_grad=True)
    x = rng.standard_normal((B, N + 1, D))  # prompt b, covariate i (the last is the query)
    y = rng.standard_normal((B, N + 1))     # labels; y[b, N] is the query's target
    prediction = literal_predictions(p, q, torch.tensor(x), torch.tensor(y))
    loss = ((prediction - torch.tensor(y[:, N])) ** 2).mean()
    loss.backward()
    put(f, P=p.detach().numpy(), Q=q.detach().numpy(), x=x, y=y,
        prediction=prediction.detach().numpy(), loss=[loss.item()], dP=p.grad.numpy(),
        dQ=q.grad.numpy())


# linicl's random streams (§2.4), for TaskSampler's prompts.
MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
PURPOSE_PROMPT = 1
TAIL_START = 4.0388498461095045227  # r and v of the 1,024-layer ziggurat
LAYER_AREA = 1.2263246463530880729e-3
LAYERS = 1024


def mix64(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def density(x):
    return math.exp(-0.5 * x * x)


def ziggurat_edges():
    x = [LAYER_AREA / density(TAIL_START), TAIL_START]
    for _ in range(2, LAYERS):
        x.append(math.sqrt(-2.0 * math.log(density(x[-1]) + LAYER_AREA / x[-1])))
    return x + [0.0]


EDGES = ziggurat_edges()


class Stream:
    """RandomStream(seed, purpose, a, b): its k-th word is mix64(key + k·φ), k = 1, 2, …"""

    def __init__(self, seed, purpose, a, b):
        key = mix64(mix64(seed) ^ purpose)
        key = mix64((key + a) & MASK)
        self.key = mix64(key ^ ((b * GOLDEN) & MASK))
        self.counter = 0

    def next_u64(self):
        self.counter += 1
        return mix64((self.key + self.counter * GOLDEN) & MASK)

    @staticmethod
    def uniform_of(bits):
        return (float(bits >> 11) + 0.5) * 2.0**-53

    def uniform(self):
        return self.uniform_of(self.next_u64())

    def normal(self):
        """The ziggurat: core, exact wedge rule and tail, as RandomStream::normal()."""
        while True:
            bits = self.next_u64()
            layer, u = bits & (LAYERS - 1), 2.0 * self.uniform_of(bits) - 1.0
            if abs(u) < EDGES[layer + 1] / EDGES[layer]:
                return u * EDGES[layer]
            if layer == 0:
                while True:
                    a = -math.log(self.uniform()) / TAIL_START
                    b = -math.log(self.uniform())
                    if 2.0 * b >= a * a:
                        return -(TAIL_START + a) if u < 0 else TAIL_START + a
            z = u * EDGES[layer]
            low = math.exp(-0.5 * (EDGES[layer] ** 2 - z * z))
            high = math.exp(-0.5 * (EDGES[layer + 1] ** 2 - z * z))
            if low + self.uniform() * (high - low) < 1.0:
                return z


def fused_multiply_add(a, b, c):
    return float(Fraction(a) * Fraction(b) + Fraction(c))  # rounded once, as std::fma


def sample_prompt(d, n, noise, seed, step, index):
    """TaskSampler::sample for Gaussian x, Σ = Σ_w = I: w, then per column x_i and ε_i."""
    rs = Stream(seed, PURPOSE_PROMPT, step, index)
    w = [rs.normal() for _ in range(d)]
    x, y = np.zeros((n + 1, d)), np.zeros(n + 1)
    for i in range(n + 1):
        x[i] = [rs.normal() for _ in range(d)]
        label = noise * rs.normal()
        for j in range(d):
            label = fused_multiply_add(x[i, j], w[j], label)
        y[i] = label
    return x, y


def hessian_vector(loss, weights, direction):
    """∇²loss·direction by double backward: the gradient of ⟨∇loss, direction⟩."""
    grads = torch.autograd.grad(loss, weights, create_graph=True)
    inner = sum((g * v).sum() for g, v in zip(grads, direction))
    return torch.autograd.grad(inner, weights)


def pair(p, q):
    return np.stack([p.detach().numpy(), q.detach().numpy()])


def write_case(group, d, layers, heads, n, prompts, seed, step, noise, generator):
    m = d + 1
    scale = (0.5 if layers == 1 else 0.3) / m**0.75
    shape = (layers, heads, m, m)
    p = (scale * torch.randn(shape, generator=generator, dtype=torch.float64)).requires_grad_()
    q = (scale * torch.randn(shape, generator=generator, dtype=torch.float64)).requires_grad_()
    direction = [torch.randn(shape, generator=generator, dtype=torch.float64) for _ in range(2)]
    drawn = [sample_prompt(d, n, noise, seed, step, b) for b in range(prompts)]
    x = np.stack([xb for xb, _ in drawn])
    y = np.stack([yb for _, yb in drawn])
    target = torch.tensor(y[:, n])

    prediction = literal_predictions(p, q, torch.tensor(x), torch.tensor(y))
    loss = ((prediction - target) ** 2).mean()
    gradient = torch.autograd.grad(loss, [p, q], retain_graph=True)
    batch_hv = hessian_vector(loss, [p, q], direction)
    first = literal_predictions(p, q, torch.tensor(x[:1]), torch.tensor(y[:1]))
    prompt_hv = hessian_vector(((first - target[:1]) ** 2).sum(), [p, q], direction)

    for key, value in dict(dim=d, context=n, layers=layers, heads=heads, prompts=prompts,
                           seed=seed, step=step).items():
        group.attrs[key] = np.int64(value)
    group.attrs["noise"], group.attrs["loss"] = noise, loss.item()
    put(group, x=x, y=y, prediction=prediction.detach().numpy(), weights=pair(p, q),
        gradient=pair(*gradient), direction=pair(*direction), hessian_vector=pair(*batch_hv),
        prompt_hessian_vector=pair(*prompt_hv))


def main():
    torch.set_num_threads(1)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_reference.h5")
    generator = torch.Generator().manual_seed(20261124)
    with create_file(path) as f:
        f.attrs["generator"] = "data/make_torch_reference.py, torch " + torch.__version__
        write_original(f)
        cases = create_group(f, "cases")
        index = 0
        for d in (2, 5, 6):
            for layers in (1, 3):
                for heads in (1, 2):
                    if d == 6:  # no lane kernels
                        prompts = 6 + index % 2
                    else:  # lanes full and partial with 2 heads; full alone, partial alone
                        prompts = 13 if heads == 2 else (8 if layers == 1 else 5)
                    write_case(create_group(cases, f"d{d}_L{layers}_H{heads}"), d, layers, heads,
                               n=4 + index % 4, prompts=prompts, seed=1000 + index, step=index,
                               noise=0.25 * (index % 3), generator=generator)
                    index += 1


if __name__ == "__main__":
    main()
