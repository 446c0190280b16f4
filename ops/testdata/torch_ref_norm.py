"""Reference vectors for ops.BatchNorm and ops.LayerNorm, computed by PyTorch.

Writes torch_ref_norm.json beside this script, all in float64, tensors
flattened row-major. norm_test.go (TestNormMatchesPyTorch) compares the ops
against it; CI reads the committed file and does not need PyTorch.

batch_norm: nn.BatchNorm1d / nn.BatchNorm2d in train or eval mode, starting
from non-trivial running statistics (running_mean, running_var,
num_batches_tracked). For an upstream gradient R it records the output y of
a forward pass on x, the gradients of L = sum(y * R) with respect to x,
weight and bias, and the buffers after that pass (mean1, var1, batches1);
then the buffers after a second forward pass on x2 (mean2, var2, batches2).

layer_norm: F.layer_norm(x, x.shape[1:], weight, bias, eps), the output
and the gradients of L = sum(y * R).

    /usr/bin/python3 -B ops/testdata/torch_ref_norm.py
"""

import json
import os

import torch
import torch.nn.functional as F

torch.manual_seed(20240611)
D = torch.float64

BATCH_NORM = [  # (shape, train, momentum, eps)
    ((8, 5), True, 0.1, 1e-5),
    ((2, 4), True, 0.3, 1e-3),  # two values per channel: the smallest batch
    ((6, 3, 7), True, 0.1, 1e-5),  # (N, C, L)
    ((4, 3, 5, 5), True, 0.1, 1e-5),
    ((2, 6, 3, 4), True, 0.3, 1e-3),
    ((8, 5), False, 0.1, 1e-5),
    ((4, 3, 5, 5), False, 0.1, 1e-5),
    ((2, 6, 3, 4), False, 0.3, 1e-3),
]

LAYER_NORM = [  # (shape, eps)
    ((6, 10), 1e-5),
    ((3, 4, 5), 1e-5),
    ((2, 3, 4, 5), 1e-3),
    ((5, 1), 1e-5),  # one element per sample: y = bias
]


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def channel_data(shape):
    """Values with a per-channel offset and scale, so that the statistics matter."""
    c = shape[1]
    view = [1, c] + [1] * (len(shape) - 2)
    offset = (3 * torch.randn(c, dtype=D)).reshape(view)
    scale = (0.5 + 2 * torch.rand(c, dtype=D)).reshape(view)
    return torch.randn(shape, dtype=D) * scale + offset


def batch_norm_case(shape, train, momentum, eps):
    c = shape[1]
    cls = torch.nn.BatchNorm2d if len(shape) == 4 else torch.nn.BatchNorm1d
    bn = cls(c, eps=eps, momentum=momentum, dtype=D)
    with torch.no_grad():
        bn.weight.copy_(1 + 0.5 * torch.randn(c, dtype=D))
        bn.bias.copy_(torch.randn(c, dtype=D))
        bn.running_mean.copy_(torch.randn(c, dtype=D))
        bn.running_var.copy_(0.5 + torch.rand(c, dtype=D))
        bn.num_batches_tracked.fill_(3)
    case = {
        "shape": list(shape),
        "train": train,
        "momentum": momentum,
        "eps": eps,
        "weight": flat(bn.weight),
        "bias": flat(bn.bias),
        "mean0": flat(bn.running_mean),
        "var0": flat(bn.running_var),
        "batches0": int(bn.num_batches_tracked),
    }
    bn.train(train)
    x = channel_data(shape).requires_grad_()
    y = bn(x)
    r = torch.randn(y.shape, dtype=D)
    (y * r).sum().backward()
    case.update({
        "x": flat(x),
        "upstream": flat(r),
        "output": flat(y),
        "grad_x": flat(x.grad),
        "grad_weight": flat(bn.weight.grad),
        "grad_bias": flat(bn.bias.grad),
        "mean1": flat(bn.running_mean),
        "var1": flat(bn.running_var),
        "batches1": int(bn.num_batches_tracked),
    })
    x2 = channel_data(shape)
    with torch.no_grad():
        y2 = bn(x2)
    case.update({
        "x2": flat(x2),
        "output2": flat(y2),
        "mean2": flat(bn.running_mean),
        "var2": flat(bn.running_var),
        "batches2": int(bn.num_batches_tracked),
    })
    return case


def layer_norm_case(shape, eps):
    ps = shape[1:]
    x = (2 * torch.randn(shape, dtype=D) + 1).requires_grad_()
    w = (1 + 0.5 * torch.randn(ps, dtype=D)).requires_grad_()
    b = torch.randn(ps, dtype=D).requires_grad_()
    y = F.layer_norm(x, ps, w, b, eps)
    r = torch.randn(y.shape, dtype=D)
    (y * r).sum().backward()
    return {
        "shape": list(shape),
        "eps": eps,
        "x": flat(x),
        "weight": flat(w),
        "bias": flat(b),
        "upstream": flat(r),
        "output": flat(y),
        "grad_x": flat(x.grad),
        "grad_weight": flat(w.grad),
        "grad_bias": flat(b.grad),
    }


out = {
    "torch": torch.__version__,
    "batch_norm": [batch_norm_case(*c) for c in BATCH_NORM],
    "layer_norm": [layer_norm_case(*c) for c in LAYER_NORM],
}

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_ref_norm.json")
with open(path, "w") as f:
    json.dump(out, f, indent=None, separators=(",", ":"))
    f.write("\n")
print("wrote", path)
