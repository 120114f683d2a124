"""Tables of docs/beyond-erm.md from runs/beyond-erm/*/summary.json (experiments/beyond_erm.sh):
mean +- standard deviation over the seeds found, in markdown."""
import glob
import json
import os
import statistics
import sys

ROOT = sys.argv[1] if len(sys.argv) > 1 else "runs/beyond-erm"


def arm(name, key, scale=1.0):
    vals = []
    for path in sorted(glob.glob(os.path.join(ROOT, name + "-s*", "summary.json"))):
        v = json.load(open(path)).get(key)
        if v is not None:
            vals.append(scale * v)
    if not vals:
        return "n/a"
    sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
    fmt = "%.2f ± %.2f" if scale != 1 or key == "seconds" else "%.4f ± %.4f"
    return (fmt % (statistics.mean(vals), sd)) + ("" if len(vals) == 3 else " (n=%d)" % len(vals))


def table(title, header, rows):
    print("### " + title + "\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print()


table("Fashion-MNIST, 40% symmetric label noise",
      ["arm", "clean test accuracy %", "worst-class test accuracy %", "noisy labels memorised %",
       "noisy samples predicted as their clean label %", "seconds per run"],
      [[label, arm(n, "test_acc", 100), arm(n, "test_worst_class_acc", 100), arm(n, "noisy_memorized", 100),
        arm(n, "noisy_clean_acc", 100), arm(n, "seconds")]
       for label, n in [("ERM", "noise-erm"), ("TERM t = −2", "noise-term"), ("TERM t = −0.5", "noise-term05"),
                        ("TERM annealed t = 0 → −2", "noise-anneal"), ("SAM ρ = 0.05", "noise-sam")]])
table("Fashion-MNIST, class imbalance 10 (exponential profile)",
      ["arm", "test accuracy %", "mean per-class accuracy %", "worst-class test accuracy %"],
      [[label, arm(n, "test_acc", 100), arm(n, "test_mean_class_acc", 100), arm(n, "test_worst_class_acc", 100)]
       for label, n in [("ERM", "imb-erm"), ("hierarchical TERM (t 0 within, 1 across classes)", "imb-hterm")]])
table("Robust regression, 20% outlier targets (test loss on clean targets)",
      ["arm", "test loss", "its unit"],
      [["MSE", arm("reg-mse", "test_loss"), "MSE"], ["TERM t = −1 (on MSE)", arm("reg-term", "test_loss"), "MSE"],
       ["Huber δ = 1", arm("reg-huber", "test_loss"), "Huber (= MSE/2 where all errors < 1)"],
       ["L1", arm("reg-l1", "test_loss"), "mean absolute error"]])
