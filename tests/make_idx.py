#!/usr/bin/env python3
"""Writes a tiny MNIST-layout dataset (gzipped IDX files) for the CLI's bad-input tests.

  make_idx.py DIR [n_train n_test]   -> DIR/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz
"""
import gzip
import os
import struct
import sys


def idx(path, dims, payload):
    head = struct.pack(">I", 0x0800 | len(dims)) + b"".join(struct.pack(">I", d) for d in dims)
    with gzip.open(path, "wb") as f:
        f.write(head + payload)


def main():
    out = sys.argv[1]
    n_train = int(sys.argv[2]) if len(sys.argv) > 2 else 60
    n_test = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    os.makedirs(out, exist_ok=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        labels = bytes(i % 10 for i in range(n))
        images = bytes((7 * i + 3 * p + 40 * (i % 10)) % 256 for i in range(n) for p in range(784))
        idx(os.path.join(out, f"{split}-images-idx3-ubyte.gz"), [n, 28, 28], images)
        idx(os.path.join(out, f"{split}-labels-idx1-ubyte.gz"), [n], labels)


if __name__ == "__main__":
    main()
