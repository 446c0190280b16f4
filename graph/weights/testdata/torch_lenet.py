"""PyTorch side of Retina's safetensors round trip (graph/weights torch_test.go).

Usage: python3 torch_lenet.py DIR

DIR holds retina.safetensors (Retina's LeNet weights, as weights.Save writes
them) and images.safetensors ("x": (N, 1, 28, 28) F32). The script writes:

  from_retina.safetensors  "logits" (N, 10): PyTorch's LeNet with Retina's weights
  torch.safetensors        PyTorch's own randomly initialised LeNet (state_dict)
  torch_logits.safetensors "logits" (N, 10): PyTorch's LeNet with its own weights

It reads and writes safetensors with the tiny codec below (no safetensors
package needed).
"""
import json
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64}
NAMES = {np.dtype(v): k for k, v in DTYPES.items()}


def read_safetensors(path):
    with open(path, "rb") as f:
        b = f.read()
    (n,) = struct.unpack("<Q", b[:8])
    header = json.loads(b[8:8 + n])
    data = b[8 + n:]
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        begin, end = e["data_offsets"]
        a = np.frombuffer(data[begin:end], dtype=np.dtype(DTYPES[e["dtype"]]).newbyteorder("<"))
        out[name] = torch.from_numpy(a.reshape(e["shape"]).copy())
    return out


def write_safetensors(path, tensors, metadata=None):
    header, chunks, off = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, t in tensors.items():
        a = np.ascontiguousarray(t.detach().cpu().numpy())
        raw = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": NAMES[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        chunks.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for c in chunks:
            f.write(c)


class LeNet(nn.Module):
    """conv 5x5x20 - ReLU - maxpool 2 - conv 5x5x50 - ReLU - maxpool 2 -
    flatten (C, H, W) - linear 800->500 - ReLU - linear 500->10, with the
    attribute names of Retina's layers."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, 5)
        self.conv2 = nn.Conv2d(20, 50, 5)
        self.dense1 = nn.Linear(800, 500)
        self.dense2 = nn.Linear(500, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.dense2(F.relu(self.dense1(x)))


def main(d):
    torch.set_num_threads(2)
    x = read_safetensors(d + "/images.safetensors")["x"]
    with torch.no_grad():
        m = LeNet()
        m.load_state_dict(read_safetensors(d + "/retina.safetensors"), strict=True)
        m.eval()
        write_safetensors(d + "/from_retina.safetensors", {"logits": m(x)})

        torch.manual_seed(0)
        own = LeNet().eval()
        write_safetensors(d + "/torch.safetensors", own.state_dict(), {"format": "pytorch"})
        write_safetensors(d + "/torch_logits.safetensors", {"logits": own(x)})


if __name__ == "__main__":
    main(sys.argv[1])
