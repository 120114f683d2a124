#!/usr/bin/env python3
"""Times torch.optim (PyTorch 1.13) steps at the sizes of `descent bench optim`, for comparison.

Same layout as the C bench: four (rows x 1024) weights and four biases, about N parameters.
Cases: adam, adamw, sgd-momentum (momentum 0.9), each with the default single-tensor loop and with
foreach=True, at 1 and 2 threads; the 10th percentile of the steps within a time budget counts
(the machine is shared). Each case runs under glibc's default allocator and under one that keeps
its buffers (MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=17179869184; glibc reads them
at start-up, so the script runs itself once per setting), and the best of all counts: PyTorch at
its best. Prints a table and, with --json FILE, writes the results.

Run: /usr/bin/python3 bench/torch_optim.py [--sizes 1M,16M] [--time 0.5] [--threads 1,2]
                                            [--only adam,adamw,sgd-momentum] [--json FILE]
                                            [--allocator both|default|keep]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import torch


def parse_size(s):
    mult = {"k": 1 << 10, "K": 1 << 10, "M": 1 << 20, "m": 1 << 20, "G": 1 << 30}
    return int(float(s[:-1]) * mult[s[-1]]) if s[-1] in mult else int(s)


def make_params(n):
    rows = max(1, n // 4 // 1024)
    g = torch.Generator().manual_seed(1)
    params = []
    for _ in range(4):
        for shape in ((rows, 1024), (rows,)):
            p = torch.nn.Parameter((torch.rand(shape, generator=g) - 0.5) * 0.02)
            p.grad = (torch.rand(shape, generator=g) - 0.5) * 0.01
            params.append(p)
    return params


CASES = {
    "adam": lambda ps, fe: torch.optim.Adam(ps, lr=1e-4, foreach=fe),
    "adamw": lambda ps, fe: torch.optim.AdamW(ps, lr=1e-4, foreach=fe),
    "sgd-momentum": lambda ps, fe: torch.optim.SGD(ps, lr=1e-4, momentum=0.9, foreach=fe),
}


def time_step(opt, budget):
    """10th percentile of the step times within budget seconds (as descent bench optim)."""
    opt.step()  # warm-up, creates the state
    times, start = [], time.perf_counter()
    while len(times) < 1000 and (len(times) < 3 or time.perf_counter() - start < budget):
        t0 = time.perf_counter()
        opt.step()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 10]


KEEP = {"MALLOC_MMAP_THRESHOLD_": "4294967296", "MALLOC_TRIM_THRESHOLD_": "17179869184"}


def run_both(args):
    """Runs this script once per allocator setting and merges the results."""
    results = []
    for alloc in ("default", "keep"):
        env = {k: v for k, v in os.environ.items() if k not in KEEP}
        if alloc == "keep":
            env.update(KEEP)
        with tempfile.NamedTemporaryFile(suffix=".json") as f:
            cmd = [sys.executable, __file__, "--allocator", alloc, "--json", f.name, "--sizes", args.sizes,
                   "--time", str(args.time), "--threads", args.threads] + (["--only", args.only] if args.only else [])
            print("\n== allocator: %s" % alloc, flush=True)
            subprocess.run(cmd, env=env, check=True)
            results += json.load(f)["results"]
    print("\nbest over both allocators (ns/param):")
    for n in sorted({r["numel"] for r in results}):
        for case in dict.fromkeys(r["case"] for r in results):
            b = min((r for r in results if r["case"] == case and r["numel"] == n), key=lambda r: r["ns_per_param"])
            print("  %10d %-14s %9.3f  (%s allocator, foreach %s, %d threads)" % (
                n, case, b["ns_per_param"], b["allocator"], b["foreach"], b["threads"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"bench": "torch_optim", "torch": torch.__version__, "results": results}, f, indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1M,16M")
    ap.add_argument("--time", type=float, default=0.5)
    ap.add_argument("--threads", default="1,2", help="thread counts to try (default 1,2)")
    ap.add_argument("--only", help="cases, comma-separated (default all)")
    ap.add_argument("--json")
    ap.add_argument("--allocator", choices=("both", "default", "keep"), default="both",
                    help="both: run once per setting (default); default/keep: as this process was started")
    args = ap.parse_args()
    if args.allocator == "both":
        return run_both(args)
    thread_counts = [int(t) for t in args.threads.split(",")]
    cases = {k: v for k, v in CASES.items() if not args.only or k in args.only.split(",")}
    results = []
    print("torch %s" % torch.__version__)
    for size in args.sizes.split(","):
        params = make_params(parse_size(size))
        n = sum(p.numel() for p in params)
        print("\n%d parameters" % n)
        print("  %-14s %-8s %7s %9s" % ("case", "foreach", "threads", "ns/param"))
        for name, make in cases.items():
            for foreach in (False, True):
                for threads in thread_counts:
                    torch.set_num_threads(threads)
                    opt = make(params, foreach)
                    sec = time_step(opt, args.time)
                    ns = sec / n * 1e9
                    print("  %-14s %-8s %7d %9.3f" % (name, foreach, threads, ns))
                    results.append({"case": name, "foreach": foreach, "threads": threads,
                                    "numel": n, "ns_per_param": round(ns, 4), "allocator": args.allocator})
                    del opt
        for case in cases:
            best = min(r["ns_per_param"] for r in results if r["case"] == case and r["numel"] == n)
            print("  best %-14s %9.3f ns/param" % (case, best))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"bench": "torch_optim", "torch": torch.__version__, "results": results}, f,
                      indent=1)


if __name__ == "__main__":
    main()
