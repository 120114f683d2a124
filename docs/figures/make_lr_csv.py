#!/usr/bin/env python3
"""Writes docs/figures/lr_*.csv: the lr curves shown in docs/schedules.md, computed by
`descent replay` (standard library only; no PyTorch needed).

    python3 docs/figures/make_lr_csv.py [path/to/descent]      (default: build/descent)

Each CSV has a `step` column and one column per curve.
"""
import csv
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def case(schedule, steps, warmup=None, steps_per_epoch=None, **hyper):
    c = {"kind": "schedule", "schedule": schedule, "hyper": hyper, "steps": steps}
    if warmup:
        c["warmup"] = warmup
    if steps_per_epoch:
        c["steps_per_epoch"] = steps_per_epoch
    return c


# figure name -> {column: case}
FIGURES = {
    "constant": {"factor=1/3,total_iters=5": case("constant", 20, lr=0.1),
                 "factor=0.5,total_iters=10": case("constant", 20, lr=0.1, factor=0.5, total_iters=10)},
    "step": {"step_size=30,gamma=0.1": case("step", 100, lr=0.1, step_size=30),
             "step_size=10,gamma=0.5": case("step", 100, lr=0.1, step_size=10, gamma=0.5)},
    "multistep": {"milestones=30,60,80": case("multistep", 100, lr=0.1, milestones=[30, 60, 80])},
    "exponential": {"gamma=0.95": case("exponential", 100, lr=0.1, gamma=0.95),
                    "gamma=0.99": case("exponential", 100, lr=0.1, gamma=0.99)},
    "cosine": {"T_max=100": case("cosine", 200, lr=0.1, T_max=100),
               "T_max=100,eta_min=0.02": case("cosine", 200, lr=0.1, T_max=100, eta_min=0.02)},
    "cosine_restarts": {"T_0=20,T_mult=1": case("cosine_restarts", 150, lr=0.1, T_0=20),
                        "T_0=10,T_mult=2": case("cosine_restarts", 150, lr=0.1, T_0=10, T_mult=2)},
    "cyclic": {m: case("cyclic", 200, base_lr=0.01, max_lr=0.1, step_size_up=20, mode=m,
                       gamma=0.99) for m in ("triangular", "triangular2", "exp_range")},
    "onecycle": {"cos": case("onecycle", 200, max_lr=0.1, total_steps=200),
                 "linear": case("onecycle", 200, max_lr=0.1, total_steps=200, anneal_strategy="linear"),
                 "cos,three_phase": case("onecycle", 200, max_lr=0.1, total_steps=200, three_phase=True)},
    "linear": {"start_factor=1/3,total_iters=5": case("linear", 20, lr=0.1),
               "1->0.1 over 15": case("linear", 20, lr=0.1, start_factor=1.0, end_factor=0.1,
                                       total_iters=15)},
    "polynomial": {"power=1": case("polynomial", 120, lr=0.1, total_iters=100),
                   "power=2": case("polynomial", 120, lr=0.1, total_iters=100, power=2.0),
                   "power=0.5": case("polynomial", 120, lr=0.1, total_iters=100, power=0.5)},
    "warmup": {"linear warm-up 20 + cosine": case("cosine", 200, lr=0.1, T_max=180,
                                                   warmup={"steps": 20, "kind": "linear", "start_factor": 0.01}),
               "exponential warm-up 20 + cosine": case("cosine", 200, lr=0.1, T_max=180,
                                                        warmup={"steps": 20, "kind": "exponential", "start_factor": 0.01}),
               "step per epoch of 20 steps": case("step", 200, lr=0.1, step_size=3, gamma=0.5,
                                                  steps_per_epoch=20)},
}


def replay(cli, c):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(c, f)
        path = f.name
    try:
        out = subprocess.run([cli, "replay", path], check=True, capture_output=True, text=True)
    finally:
        os.remove(path)
    return json.loads(out.stdout)["lr"]


def main():
    cli = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "build", "descent")
    for fig, cols in FIGURES.items():
        curves = {name: replay(cli, c) for name, c in cols.items()}
        n = max(len(v) for v in curves.values())
        with open(os.path.join(HERE, "lr_%s.csv" % fig), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["step"] + list(curves))
            for k in range(n):
                w.writerow([k] + ["%.9g" % v[k] if k < len(v) else "" for v in curves.values()])


if __name__ == "__main__":
    main()
