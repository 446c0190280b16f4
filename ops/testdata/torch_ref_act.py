"""Reference vectors for ops.LeakyReLU, ELU, GELU, SiLU and Softplus,
computed by PyTorch.

Writes torch_ref_act.json beside this script: for each op, parameter and
shape the input x, an upstream gradient R, the forward output y and the
gradient of L = sum(y * R) with respect to x, all in float64 (computed by
PyTorch in float64), flattened row-major. act_more_test.go
(TestActivationsMatchPyTorch) compares the ops against it; CI reads the
committed file and does not need PyTorch.

The inputs are normal with standard deviation 3, and begin with values at
the kinks and thresholds: ±0 (where LeakyReLU's and ELU's gradients take
PyTorch's one-sided choice), ±20 and 20.5 (Softplus's threshold) and large
magnitudes (±30, ±40, −100, −800), where a naive formula would overflow.

    /usr/bin/python3 -B ops/testdata/torch_ref_act.py
"""

import json
import os

import torch
import torch.nn.functional as F

torch.manual_seed(20240611)

SHAPES = [(7,), (3, 5), (2, 3, 4, 5)]  # 1-D, (N, F), (N, C, H, W)

SPECIAL = [0.0, -0.0, 1e-8, -1e-8, 19.5, 20.0, 20.5, -20.0, 30.0, -30.0,
           40.0, -40.0, -100.0, -800.0, 3.0, -3.0]

OPS = [  # (name, parameter name, parameter, function)
    ("leakyrelu", "slope", 0.01, lambda x: F.leaky_relu(x, negative_slope=0.01)),
    ("leakyrelu", "slope", 0.2, lambda x: F.leaky_relu(x, negative_slope=0.2)),
    ("leakyrelu", "slope", -0.5, lambda x: F.leaky_relu(x, negative_slope=-0.5)),
    ("elu", "alpha", 1.0, lambda x: F.elu(x, alpha=1.0)),
    ("elu", "alpha", 0.5, lambda x: F.elu(x, alpha=0.5)),
    ("gelu", None, None, lambda x: F.gelu(x, approximate="none")),
    ("silu", None, None, F.silu),
    ("softplus", None, None, lambda x: F.softplus(x, beta=1, threshold=20)),
]


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def inputs(shape):
    x = 3 * torch.randn(shape, dtype=torch.float64)
    v = x.view(-1)
    k = min(len(SPECIAL), v.numel() // 2)  # leave random values in small shapes
    v[:k] = torch.tensor(SPECIAL[:k], dtype=torch.float64)
    return x


def case(shape, fn):
    x = inputs(shape).requires_grad_()
    y = fn(x)
    r = torch.randn(y.shape, dtype=torch.float64)
    (y * r).sum().backward()
    return {
        "shape": list(shape),
        "input": flat(x),
        "upstream": flat(r),
        "output": flat(y),
        "grad": flat(x.grad),
    }


out = {"torch": torch.__version__, "cases": []}
for name, pname, p, fn in OPS:
    for shape in SHAPES:
        c = case(shape, fn)
        c["op"] = name
        if pname is not None:
            c[pname] = p
        out["cases"].append(c)

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_ref_act.json")
with open(path, "w") as f:
    json.dump(out, f, indent=None, separators=(",", ":"), allow_nan=False)
    f.write("\n")
print("wrote", path)
