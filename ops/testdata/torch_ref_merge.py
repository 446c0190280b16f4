"""Reference vectors for ops.Add and ops.Concat, computed by PyTorch.

Writes torch_ref_merge.json beside this script: for each case the input
shapes and values, an upstream gradient R, the forward output y and the
gradient of L = sum(y * R) with respect to each input, all in float64,
flattened row-major. merge_test.go (TestMergeMatchesPyTorch) compares the
ops against it; CI reads the committed file and does not need PyTorch.

    /usr/bin/python3 -B ops/testdata/torch_ref_merge.py
"""

import json
import os

import torch

torch.manual_seed(20240607)

ADD = [  # input shapes (all alike)
    [(2, 3, 4, 5)] * 2,
    [(4, 7)] * 3,
    [(1, 2, 3, 1)] * 4,
]

CONCAT = [  # (axis, input shapes)
    (1, [(2, 3, 4, 5), (2, 2, 4, 5)]),  # channels of (N, C, H, W)
    (1, [(3, 4), (3, 1), (3, 6)]),  # features of (N, F)
    (2, [(2, 3, 1, 4), (2, 3, 5, 4)]),  # rows
    (3, [(2, 2, 3, 2), (2, 2, 3, 3), (2, 2, 3, 1)]),  # columns
    (1, [(1, 5, 2), (1, 5, 2)]),  # batch of one, equal parts
]


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def case(xs, op):
    xs = [x.requires_grad_() for x in xs]
    y = op(xs)
    r = torch.randn(y.shape, dtype=torch.float64)
    (y * r).sum().backward()
    return {
        "shapes": [list(x.shape) for x in xs],
        "inputs": [flat(x) for x in xs],
        "upstream": flat(r),
        "output": flat(y),
        "grads": [flat(x.grad) for x in xs],
    }


def rand(shape):
    return torch.randn(shape, dtype=torch.float64)


def add(xs):
    y = xs[0]
    for x in xs[1:]:
        y = y + x  # left to right, as ops.Add
    return y


out = {"torch": torch.__version__, "add": [], "concat": []}
for shapes in ADD:
    out["add"].append(case([rand(s) for s in shapes], add))
for axis, shapes in CONCAT:
    c = case([rand(s) for s in shapes], lambda xs: torch.cat(xs, dim=axis))
    c["axis"] = axis
    out["concat"].append(c)

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_ref_merge.json")
with open(path, "w") as f:
    json.dump(out, f, indent=None, separators=(",", ":"))
    f.write("\n")
print("wrote", path)
