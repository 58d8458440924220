"""Shared helpers of the experiment scripts: run linicl, read run files, save figures."""
import os
import subprocess
import sys

import h5py
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.environ.get("LINICL", os.path.join(ROOT, "build", "linicl"))
RESULTS = os.path.join(ROOT, "experiments", "results")


EXIT_DIVERGED = 3  # linicl's exit code for a run stopped by a non-finite loss
ANALYSIS_EVALUATION_STEP = (1 << 62) + 3  # streams.hpp: PromptSet::kAnalysisEvaluation


def linicl(*args, allow_diverged=False):
    """Runs `linicl ARGS...` and returns its stdout; stops the script on failure (a diverged
    run, which keeps its last good state, is accepted when allow_diverged is set)."""
    command = [BINARY] + [str(a) for a in args]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0 and not (allow_diverged and done.returncode == EXIT_DIVERGED):
        sys.exit(f"failed: {' '.join(command)}\n{done.stderr}")
    if done.returncode == EXIT_DIVERGED:
        print(done.stderr.strip())
    return done.stdout


def text(value):
    """A string attribute as str: linicl stores fixed-length UTF-8, which h5py reads as bytes."""
    return value.decode() if isinstance(value, bytes) else value


def analyze(path, *args, reuse=None):
    """Runs `linicl analyze PATH ARGS...` and prints its notes (fits that do not carry over,
    learners skipped), which the tables read from the file would not show. With `reuse`, a
    dict of /analysis attributes, an analysis already in the file with those values is kept
    (if it was made on the analysis' own prompt sets, which carry an evaluation_step)."""
    if reuse is not None:
        reuse = dict(reuse, evaluation_step=ANALYSIS_EVALUATION_STEP)
    if reuse and os.path.exists(path):
        with h5py.File(path, "r") as f:
            done = f.get("analysis")
            if done is not None and all(
                    k in done.attrs and text(done.attrs[k]) == v for k, v in reuse.items()):
                return
    for line in linicl("analyze", path, *args).splitlines():
        if line.startswith("note: "):
            print(f"{os.path.basename(path)}: {line}")


# linicl train's defaults before the reference recipe became the default; the stored results
# of these scripts were trained with them, so every option a script leaves unset is pinned
# here and a rerun reproduces them.
EARLIER_DEFAULTS = dict(optimizer="adam", lr=0.002, beta2=0.999, init_std=0.02,
                        schedule="cosine", warmup=200)


def train(path, **options):
    """Trains a run into `path` (reusing it if it exists and `reuse` is set), returns the path.
    Options a script does not set take EARLIER_DEFAULTS, then linicl's defaults."""
    for name, value in EARLIER_DEFAULTS.items():
        options.setdefault(name, value)
    reuse = options.pop("reuse", False)
    allow_diverged = options.pop("allow_diverged", False)
    if reuse and os.path.exists(path):
        return path
    args = ["train", "-o", path, "--force"]
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        if value is True:
            args.append(flag)
        else:
            args += [flag, value]
    linicl(*args, allow_diverged=allow_diverged)
    return path


def weights(path):
    """(P, Q) of a run as arrays [L, H, d+1, d+1]."""
    with h5py.File(path, "r") as f:
        return f["weights/P"][()], f["weights/Q"][()]


def effective_preconditioner(p, q, layer):
    """Γ_ℓ = Σ_h P_h[d+1,d+1]·(−Q_h[1:d,1:d])ᵀ (§3.6)."""
    d = p.shape[-1] - 1
    return sum(-p[layer, h, d, d] * q[layer, h, :d, :d].T for h in range(p.shape[1]))


def one_layer_h(sigma, sigma_w, noise, n):
    """H = (1 + 1/n) Σ Σ_w Σ + ((tr(Σ_w Σ) + σ²)/n) Σ for Gaussian x (§7.1)."""
    return (1 + 1 / n) * sigma @ sigma_w @ sigma + (np.trace(sigma_w @ sigma) + noise**2) / n * sigma


def gamma_star(sigma, sigma_w, noise, n):
    """Closed form Γ* = Σ_w Σ H⁻¹ (§7.1), computed independently of linicl."""
    return sigma_w @ sigma @ np.linalg.inv(one_layer_h(sigma, sigma_w, noise, n))


def one_layer_loss(gamma, sigma, sigma_w, noise, n):
    """Exact population loss f(Γ) of one pgd layer (§7.1)."""
    h = one_layer_h(sigma, sigma_w, noise, n)
    return (np.trace(gamma @ h @ gamma.T @ sigma) - 2 * np.trace(gamma @ sigma @ sigma_w @ sigma)
            + np.trace(sigma_w @ sigma) + noise**2)


def results_path(name):
    os.makedirs(RESULTS, exist_ok=True)
    return os.path.join(RESULTS, name)


def print_table(header, rows):
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    for row in [header] + rows:
        print("  ".join(str(x).rjust(w) for x, w in zip(row, widths)))


def cpu_description():
    """The CPU model and its widest vector extension, from /proc/cpuinfo (Linux)."""
    with open("/proc/cpuinfo") as f:
        info = f.read()
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines()
                  if line.startswith("model name")), "unknown CPU")
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines()
                  if line.startswith("flags")), [])
    vector = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "SSE"
    return f"{model}, {vector}, {os.cpu_count()} cores"
