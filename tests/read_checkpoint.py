#!/usr/bin/env python3
"""Reads descent checkpoints with the standard library only (json, struct; numpy if present),
proving the safetensors files are readable outside descent.

  read_checkpoint.py check FILE          validate the layout, print a summary, exit 1 on error
  read_checkpoint.py compare FILE FILE   exit 0 iff both hold the same tensors, byte for byte
  read_checkpoint.py close FILE FILE [ATOL RTOL]
                                          exit 0 iff both hold the same tensors with every element
                                          within ATOL + RTOL |b| (default 1e-5, 1e-4); prints the
                                          largest deviation
  read_checkpoint.py rewrite IN OUT NAME VALUE
                                          write OUT = IN with every element of tensor NAME set
                                          to VALUE (metadata kept): a file produced outside descent
"""
import json
import os
import struct
import sys


def read(path):
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError(f"{path}: shorter than 8 bytes")
    (n,) = struct.unpack("<Q", blob[:8])
    if 8 + n > len(blob):
        raise ValueError(f"{path}: header length {n} beyond the file")
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = blob[8 + n:]
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, e in header.items():
        if e["dtype"] != "F32":
            raise ValueError(f"{name}: dtype {e['dtype']}")
        begin, end = e["data_offsets"]
        count = 1
        for d in e["shape"]:
            count *= d
        if end - begin != 4 * count or end > len(data):
            raise ValueError(f"{name}: offsets {begin}..{end} do not match shape {e['shape']}")
        tensors[name] = (e["shape"], data[begin:end])
    return meta, tensors, n, data


def check(path):
    meta, tensors, n, data = read(path)
    total = sum(len(b) for _, b in tensors.values())
    if total != len(data):
        raise ValueError(f"data section {len(data)} bytes, tensors cover {total}")
    for key in ("format", "step", "epoch", "config", "optim.name", "rng.dropout"):
        if key not in meta:
            raise ValueError(f"metadata '{key}' missing")
    if meta["format"] != "descent-checkpoint-1":
        raise ValueError(f"format {meta['format']}")
    int(meta["step"]), int(meta["epoch"])
    params = 0
    for name, (shape, raw) in tensors.items():
        values = struct.unpack(f"<{len(raw) // 4}f", raw)
        if any(v != v or abs(v) == float("inf") for v in values):
            raise ValueError(f"{name}: non-finite values")
        if not name.startswith("optim."):
            params += len(values)
    try:
        import numpy as np
        w = np.frombuffer(tensors["head.weight"][1], dtype="<f4").reshape(tensors["head.weight"][0])
        extra = f", head.weight norm {float(np.linalg.norm(w)):.6g} (numpy)"
    except ImportError:
        extra = ""
    print(f"{path}: {len(tensors)} tensors, {params} model values, step {meta['step']}, "
          f"epoch {meta['epoch']}, optimizer {meta['optim.name']}{extra}")


def compare(a, b):
    _, ta, _, _ = read(a)
    _, tb, _, _ = read(b)
    if sorted(ta) != sorted(tb):
        print(f"tensor names differ: {sorted(set(ta) ^ set(tb))}")
        return 1
    bad = [k for k in ta if ta[k] != tb[k]]
    for k in bad:
        print(f"tensor {k} differs")
    return 1 if bad else 0


def close(a, b, atol=1e-5, rtol=1e-4):
    _, ta, _, _ = read(a)
    _, tb, _, _ = read(b)
    if sorted(ta) != sorted(tb):
        print(f"tensor names differ: {sorted(set(ta) ^ set(tb))}")
        return 1
    worst, where, bad = 0.0, "", 0
    skip = os.environ.get("DS_CLOSE_SKIP")  # tensors whose name contains this are not compared
    for k in ta:
        if skip and skip in k:
            continue
        va = struct.unpack(f"<{len(ta[k][1]) // 4}f", ta[k][1])
        vb = struct.unpack(f"<{len(tb[k][1]) // 4}f", tb[k][1])
        for x, y in zip(va, vb):
            d = abs(x - y)
            if d > worst:
                worst, where = d, k
            if not d <= atol + rtol * abs(y):
                bad += 1
    print(f"largest deviation {worst:.3g} (in {where or '-'}); {bad} elements outside {atol} + {rtol}|b|")
    return 1 if bad else 0


def rewrite(src, dst, name, value):
    meta, tensors, _, _ = read(src)
    header, chunks, off = {}, [], 0
    for k, (shape, raw) in tensors.items():
        if k == name:
            raw = struct.pack(f"<{len(raw) // 4}f", *([float(value)] * (len(raw) // 4)))
        header[k] = {"dtype": "F32", "shape": shape, "data_offsets": [off, off + len(raw)]}
        chunks.append(raw)
        off += len(raw)
    header["__metadata__"] = meta
    text = json.dumps(header).encode("utf-8")
    with open(dst, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(chunks))


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    try:
        if cmd == "close" and len(sys.argv) in (4, 6):
            sys.exit(close(sys.argv[2], sys.argv[3], *map(float, sys.argv[4:6])))
        if cmd == "check" and len(sys.argv) == 3:
            check(sys.argv[2])
        elif cmd == "compare" and len(sys.argv) == 4:
            sys.exit(compare(sys.argv[2], sys.argv[3]))
        elif cmd == "rewrite" and len(sys.argv) == 6:
            rewrite(*sys.argv[2:6])
        else:
            print(__doc__)
            sys.exit(2)
    except (ValueError, KeyError, OSError, json.JSONDecodeError, struct.error) as e:
        print(f"read_checkpoint: {e}")
        sys.exit(1)
