#!/usr/bin/env python3
"""Writes the reference .npy and .npz files that datasets/npy_test.go reads.

Run from anywhere with a Python that has NumPy (Debian: python3-numpy):

    python3 datasets/testdata/make_npy.py

The files go next to this script. The arrays are small and exactly
representable, so the Go test recomputes the expected values from the
formulas below; keep the two in step. With NumPy 1.24 the output is the
same byte for byte from run to run (numpy.savez dates members 1980-01-01).
"""

import os

import numpy as np

OUT = os.path.dirname(os.path.abspath(__file__))


def save(name, arr, version=None):
    with open(os.path.join(OUT, name), "wb") as f:
        np.lib.format.write_array(f, arr, version=version, allow_pickle=False)


# Format 1.0 (numpy.save's default), little-endian float32: (i - 2.5) / 4.
save("npy_f4.npy", (np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5) / 4)
# Format 2.0, float64: i / 2 - 1.
save("npy_f8_v2.npy", np.arange(12, dtype=np.float64).reshape(2, 2, 3) / 2 - 1, (2, 0))
# Format 3.0, big-endian int64: (i - 2) * 1000000007.
save("npy_i8_be_v3.npy", ((np.arange(5, dtype=np.int64) - 2) * 1000000007).astype(">i8"), (3, 0))
# uint8: 0, 51, ..., 255.
save("npy_u1.npy", np.arange(0, 256, 51, dtype=np.uint8))
# A 0-d int32 scalar: -7.
save("npy_i4_scalar.npy", np.array(-7, dtype=np.int32))
# bool.
save("npy_b1.npy", np.array([True, False, True]))
# An empty int16 array of shape (0, 3).
save("npy_i2_empty.npy", np.zeros((0, 3), dtype=np.int16))
# Fortran order, which the reader rejects.
save("npy_fortran.npy", np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)))

# Stored members (numpy.savez): grey images (N, H, W) = (4, 2, 3) with
# pixel i * 10 and int64 labels.
np.savez(
    os.path.join(OUT, "npz_stored.npz"),
    x=(np.arange(24) * 10).astype(np.uint8).reshape(4, 2, 3),
    y=np.array([0, 2, 1, 2], dtype=np.int64),
)
# Deflated members (numpy.savez_compressed): channels-last uint8 images
# (N, H, W, C) = (2, 2, 3, 3) with value i * 7 % 256, labels of shape
# (N, 1) int32, and float32 features (3, 2) with value i / 8.
np.savez_compressed(
    os.path.join(OUT, "npz_deflated.npz"),
    images=(np.arange(36) * 7 % 256).astype(np.uint8).reshape(2, 2, 3, 3),
    labels=np.array([[1], [0]], dtype=np.int32),
    feats=(np.arange(6, dtype=np.float32) / 8).reshape(3, 2),
)
