#!/usr/bin/env python3
"""Checks that a descent checkpoint of a vit or gpt loads into the PyTorch models of
tests/fixtures/gen_transformer.py by name.

  load_transformer_checkpoint.py FIXTURE.json CHECKPOINT

Always (json + struct only, via read_checkpoint.py): the checkpoint holds every parameter name of
the PyTorch model recorded in FIXTURE.json (its state_dict) with the rank it has there. If torch
is importable: the model is built with the checkpoint's own settings (its "config" metadata) and
load_state_dict(strict=True) takes the checkpoint's tensors, then one forward pass runs.
"""
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import read_checkpoint  # noqa: E402


def config(meta):
    """The checkpoint's settings: {"model.width": "16", ...} from its INI text."""
    out, section = {}, ""
    for line in meta.get("config", "").splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif "=" in line and not line.startswith((";", "#")):
            k, v = (s.strip() for s in line.split("=", 1))
            out[section + "." + k] = v
    return out


def main():
    fixture, ckpt = sys.argv[1], sys.argv[2]
    ref = json.load(open(fixture))
    meta, tensors, _, _ = read_checkpoint.read(ckpt)
    for name, p in ref["params"].items():
        if name not in tensors:
            sys.exit(f"checkpoint lacks PyTorch's parameter '{name}'")
        if len(tensors[name][0]) != len(p["shape"]):
            sys.exit(f"'{name}': rank {len(tensors[name][0])}, PyTorch's {len(p['shape'])}")
    try:
        import torch
    except ImportError:
        print("names and ranks match (torch not installed: strict load skipped)")
        return
    sys.path.insert(0, os.path.join(HERE, "fixtures"))
    import gen_transformer as gt
    c = config(meta)
    C, depth = int(c["model.width"]), int(c["model.depth"] or 4)
    heads, ratio = int(c["model.heads"]), int(c["model.mlp_ratio"])
    state = {}
    for name, (shape, raw) in tensors.items():
        if not name.startswith("optim."):  # the optimizer's state rides along
            vals = struct.unpack("<%df" % (len(raw) // 4), raw)
            state[name] = torch.tensor(vals, dtype=torch.float32).reshape(shape)
    if ref["model"] == "gpt":
        V, T = state["wte.weight"].shape[0], state["wpe.weight"].shape[0]
        model = gt.GPT(C, depth, heads, ratio, T, V)
        x = torch.zeros(1, T + 1)
    else:
        n_classes, patch = state["head.weight"].shape[0], int(c["model.patch"])
        cls = "cls_token" in state
        n = state["pos_embed"].shape[0] - (1 if cls else 0)
        img = int(round(n ** 0.5)) * patch
        model = gt.ViT(C, depth, heads, ratio, patch, img, n_classes, cls)
        x = torch.zeros(1, 1, img, img)
    model.load_state_dict(state, strict=True)
    with torch.no_grad():
        out = model(x)
    print("strict load_state_dict ok; forward", tuple(out.shape))


if __name__ == "__main__":
    main()
