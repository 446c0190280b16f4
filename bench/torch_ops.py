#!/usr/bin/python3
"""PyTorch reference for Retina's benchmarks of the newer layers' ops.

Times in PyTorch (CPU, float32) each case that Retina's op benchmarks in
ops/ time, on the same shapes, so that the two can be compared as a ratio
(PyTorch's time per call over Retina's ns/op):

  BenchmarkConvGrouped (ops/conv_more_test.go), x (64, 32, 14, 14):
    depthwise/{forward,input-grad,filter-grad}   3x3, pad 1, groups 32
    groups2-dilation2/{forward,input-grad,filter-grad}
                                                 w (32, 16, 3, 3), pad 2,
                                                 dilation 2, groups 2
  BenchmarkConvTranspose2D, x (64, 32, 7, 7), w (32, 16, 4, 4), stride 2,
    pad 1: {forward,input-grad,filter-grad}
  BenchmarkConv2DResNet (ops/bench_test.go): convolutions of
    cnn.ResNet(16, 2) at batch 64: stem (1 -> 16 maps, 3x3 pad 1, 28x28),
    stage1 (16 -> 16, 3x3 pad 1, 28x28), stage2-down (16 -> 32, 3x3
    stride 2), stage2-shortcut (16 -> 32, 1x1 stride 2), stage2 (32 -> 32,
    14x14), stage3 (64 -> 64, 7x7):
    {forward,input-grad,filter-grad}
  BenchmarkUpsample2D, x (64, 32, 14, 14), 2x2: {forward,backward}
  BenchmarkGlobalAvgPool2D, x (64, 32, 14, 14): {forward,backward}
  BenchmarkBatchNorm, x (64, 32, 14, 14), training mode:
    forward, forward+backward (the gradients of x, gamma and beta)
  BenchmarkLayerNorm, x (64, 512): forward, forward+backward

A gradient case times that gradient alone, as Retina's benchmark times
that gradient op alone: aten's convolution_backward with only that output
asked for, upsample_nearest2d_backward, and the pooling's backward.

Examples (run from the repository root; by default torch uses every
usable CPU, as Retina's ops do):
  /usr/bin/python3 -B bench/torch_ops.py
  /usr/bin/python3 -B bench/torch_ops.py --only BatchNorm --json
"""

import sys

sys.dont_write_bytecode = True

import argparse
import json
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

aten = torch.ops.aten


def timed(fn, seconds, warmup=3):
    """Median seconds per call of fn over batches of calls lasting about
    seconds in all."""
    for _ in range(warmup):
        fn()
    t = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t, 1e-7)
    per_round = max(1, int(0.05 / one))
    rounds = max(5, int(seconds / (one * per_round)))
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(per_round):
            fn()
        times.append((time.perf_counter() - t) / per_round)
    return float(np.median(times))


def conv_cases(name, x, w, b, stride, pad, dil, groups, transposed=False):
    """forward, input-grad and filter-grad of one convolution."""
    if transposed:
        fwd = lambda: F.conv_transpose2d(x, w, b, stride, pad, 0, groups, dil)
    else:
        fwd = lambda: F.conv2d(x, w, b, stride, pad, dil, groups)
    with torch.no_grad():
        gy = torch.randn_like(fwd())

    def grad(mask):
        return lambda: aten.convolution_backward(
            gy, x, w, [b.shape[0]], [stride] * 2, [pad] * 2, [dil] * 2,
            transposed, [0, 0], groups, mask)

    return [(f"{name}/forward", fwd), (f"{name}/input-grad", grad([True, False, False])),
            (f"{name}/filter-grad", grad([False, True, False]))]


def cases():
    g = torch.Generator().manual_seed(1)
    r = lambda *s: torch.randn(*s, generator=g)
    x = r(64, 32, 14, 14)
    out = []
    out += [("ConvGrouped/" + n, f) for n, f in
            conv_cases("depthwise", x, r(32, 1, 3, 3), r(32), 1, 1, 1, 32)]
    out += [("ConvGrouped/" + n, f) for n, f in
            conv_cases("groups2-dilation2", x, r(32, 16, 3, 3), r(32), 1, 2, 2, 2)]
    out += [("ConvTranspose2D/" + n, f) for n, f in
            conv_cases("x", r(64, 32, 7, 7), r(32, 16, 4, 4), r(16), 2, 1, 1, 1, transposed=True)]
    for name, c, hw, f, k, stride, pad in [
            ("stem", 1, 28, 16, 3, 1, 1), ("stage1", 16, 28, 16, 3, 1, 1), ("stage2-down", 16, 28, 32, 3, 2, 1),
            ("stage2-shortcut", 16, 28, 32, 1, 2, 0), ("stage2", 32, 14, 32, 3, 1, 1), ("stage3", 64, 7, 64, 3, 1, 1)]:
        out += [("Conv2DResNet/" + n, fn) for n, fn in
                conv_cases(name, r(64, c, hw, hw), r(f, c, k, k), r(f), stride, pad, 1, 1)]
    out = [(n.replace("/x/", "/"), f) for n, f in out]

    up_gy = r(64, 32, 28, 28)
    out += [("Upsample2D/forward", lambda: F.interpolate(x, scale_factor=2, mode="nearest")),
            ("Upsample2D/backward", lambda: aten.upsample_nearest2d_backward(
                up_gy, [28, 28], [64, 32, 14, 14], 2.0, 2.0))]
    gap_gy = r(64, 32, 1, 1)
    out += [("GlobalAvgPool2D/forward", lambda: F.adaptive_avg_pool2d(x, 1)),
            ("GlobalAvgPool2D/backward", lambda: aten._adaptive_avg_pool2d_backward(gap_gy, x))]

    def norm(name, xn, make):
        xg = xn.clone().requires_grad_(True)
        gamma = torch.ones(make[0], requires_grad=True)
        beta = torch.zeros(make[0], requires_grad=True)
        fwd = make[1]
        with torch.no_grad():
            gy = torch.randn_like(xn)

        def forward():
            with torch.no_grad():
                fwd(xn, gamma, beta)

        def train():
            y = fwd(xg, gamma, beta)
            torch.autograd.grad(y, [xg, gamma, beta], gy)

        return [(f"{name}/forward", forward), (f"{name}/forward+backward", train)]

    rm, rv = torch.zeros(32), torch.ones(32)
    out += norm("BatchNorm", x, (32, lambda t, ga, be: F.batch_norm(t, rm, rv, ga, be, True, 0.1, 1e-5)))
    xl = r(64, 512)
    out += norm("LayerNorm", xl, ((512,), lambda t, ga, be: F.layer_norm(t, (512,), ga, be, 1e-5)))
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    p.add_argument("--threads", type=int, default=cpus, help="torch intra-op threads (default: the usable CPUs)")
    p.add_argument("--seconds", type=float, default=1.0, help="time per case (default 1)")
    p.add_argument("--only", default="", help="run the cases whose name contains this")
    p.add_argument("--json", action="store_true", help="one JSON line per case")
    a = p.parse_args()
    if a.threads < 1 or a.seconds <= 0:
        p.error("--threads and --seconds must be positive")
    torch.set_num_threads(a.threads)
    if not a.json:
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for name, fn in cases():
        if a.only not in name:
            continue
        s = timed(fn, a.seconds)
        if a.json:
            print(json.dumps({"case": name, "ns_per_op": s * 1e9, "threads": torch.get_num_threads(),
                              "torch": torch.__version__}))
        else:
            print(f"{name:45s} {s * 1e9:14.0f} ns/op")


if __name__ == "__main__":
    main()
