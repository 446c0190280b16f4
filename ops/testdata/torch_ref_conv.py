"""Reference vectors for ops.ConvGrouped (and ops.Conv2D), ops.ConvTranspose2D,
ops.Upsample2D and ops.GlobalAvgPool2D, computed by PyTorch.

Writes torch_ref_conv.json beside this script: for each case the op's
parameters, the input shapes and values (x, the weight and the bias, if
any), an upstream gradient R, the forward output y and the gradient of
L = sum(y * R) with respect to each input, all in float64, flattened
row-major. conv_more_test.go (TestConvMoreMatchesPyTorch) compares the ops
against it; CI reads the committed file and does not need PyTorch.

    /usr/bin/python3 -B ops/testdata/torch_ref_conv.py
"""

import json
import os

import torch
import torch.nn.functional as F

torch.manual_seed(20240611)

CONV = [  # x, weight (F, C/groups, KH, KW), bias, stride, padding, dilation, groups, activation
    ((2, 4, 5, 6), (6, 2, 3, 3), True, (1, 1), (1, 1), (1, 1), 2, "linear"),  # two groups
    ((2, 3, 7, 5), (3, 1, 3, 3), True, (2, 2), (1, 1), (1, 1), 3, "linear"),  # depthwise
    ((1, 2, 6, 6), (4, 1, 2, 3), False, (1, 2), (0, 1), (2, 1), 2, "linear"),  # depthwise, multiplier 2
    ((2, 3, 9, 8), (4, 3, 3, 3), True, (1, 1), (2, 2), (2, 2), 1, "linear"),  # dilated
    ((1, 2, 11, 10), (3, 2, 2, 3), False, (2, 3), (1, 0), (3, 2), 1, "linear"),  # dilated, strided
    ((3, 6, 10, 9), (3, 2, 3, 2), True, (3, 3), (2, 2), (2, 3), 3, "linear"),  # everything
    ((2, 4, 6, 7), (4, 1, 3, 3), True, (1, 1), (1, 1), (1, 1), 4, "relu"),  # depthwise + ReLU
    ((2, 3, 6, 6), (4, 3, 3, 3), True, (2, 2), (1, 1), (1, 1), 1, "linear"),  # plain: Conv2D's path
    ((3, 8, 12, 8), (5, 8, 5, 5), True, (1, 1), (0, 0), (1, 1), 1, "relu"),  # Conv2D's Winograd path (float32)
]

TRANSPOSE = [  # x, weight (C_in, C_out/groups, KH, KW), bias, stride, padding, output_padding, groups, dilation
    ((2, 3, 4, 5), (3, 2, 3, 3), True, (2, 2), (1, 1), (1, 1), 1, (1, 1)),
    ((1, 2, 3, 3), (2, 3, 4, 4), False, (2, 2), (1, 1), (0, 0), 1, (1, 1)),
    ((2, 4, 3, 4), (4, 1, 3, 2), True, (3, 2), (1, 0), (2, 1), 2, (1, 1)),  # groups, output padding
    ((1, 2, 4, 3), (2, 2, 3, 3), True, (1, 1), (0, 0), (0, 0), 1, (2, 2)),  # dilated
    ((2, 2, 3, 3), (2, 1, 2, 2), True, (1, 1), (0, 1), (1, 0), 1, (2, 1)),  # output padding < dilation
    ((1, 3, 5, 5), (3, 4, 1, 1), False, (1, 1), (0, 0), (0, 0), 1, (1, 1)),  # 1×1
    ((2, 6, 3, 4), (6, 1, 3, 3), True, (2, 2), (1, 1), (1, 1), 6, (1, 1)),  # depthwise
    ((3, 5, 2, 3), (5, 3, 3, 2), True, (3, 1), (2, 0), (1, 0), 1, (1, 2)),
]

UPSAMPLE = [  # x, scale (rows, columns)
    ((2, 3, 4, 5), (2, 2)),
    ((1, 2, 3, 3), (3, 1)),
    ((2, 1, 2, 3), (1, 4)),
    ((1, 2, 3, 2), (3, 2)),
    ((1, 1, 2, 2), (5, 3)),
]

GAP = [(2, 3, 4, 5), (1, 2, 1, 1), (3, 4, 7, 3)]


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def rand(shape):
    return torch.randn(shape, dtype=torch.float64)


def case(xs, op):
    xs = [x.requires_grad_() for x in xs]
    y = op(*xs)
    r = torch.randn(y.shape, dtype=torch.float64)
    (y * r).sum().backward()
    return {
        "shapes": [list(x.shape) for x in xs],
        "inputs": [flat(x) for x in xs],
        "upstream": flat(r),
        "outshape": list(y.shape),
        "output": flat(y),
        "grads": [flat(x.grad) for x in xs],
    }


out = {"torch": torch.__version__, "conv": [], "transpose": [], "upsample": [], "gap": []}

for xs, ws, bias, stride, pad, dil, groups, act in CONV:
    ins = [rand(xs), rand(ws)] + ([rand(ws[0])] if bias else [])

    def conv(x, w, b=None):
        y = F.conv2d(x, w, b, stride=stride, padding=pad, dilation=dil, groups=groups)
        return torch.relu(y) if act == "relu" else y

    c = case(ins, conv)
    c.update(stride=stride, padding=pad, dilation=dil, groups=groups, act=act)
    out["conv"].append(c)

for xs, ws, bias, stride, pad, opad, groups, dil in TRANSPOSE:
    ins = [rand(xs), rand(ws)] + ([rand(ws[1] * groups)] if bias else [])

    def tconv(x, w, b=None):
        return F.conv_transpose2d(x, w, b, stride=stride, padding=pad, output_padding=opad, groups=groups, dilation=dil)

    c = case(ins, tconv)
    c.update(stride=stride, padding=pad, output_padding=opad, groups=groups, dilation=dil)
    out["transpose"].append(c)

for xs, scale in UPSAMPLE:
    c = case([rand(xs)], lambda x: F.interpolate(x, scale_factor=scale, mode="nearest"))
    c["scale"] = scale
    out["upsample"].append(c)

for xs in GAP:
    out["gap"].append(case([rand(xs)], lambda x: F.adaptive_avg_pool2d(x, 1).flatten(1)))

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_ref_conv.json")
with open(path, "w") as f:
    json.dump(out, f, indent=None, separators=(",", ":"))
    f.write("\n")
print("wrote", path)
