"""Writes a CSV dataset with a group column for hierarchical TERM's fairness use
(docs/beyond-erm.md, "Groups from a CSV column").

scikit-learn's 8x8 digits (shipped with python3-sklearn), each image in one of two styles: "plain",
or "mirrored" (flipped left to right). The style is the group (a property of the sample that is not
its class, as a protected attribute is) and a minority in training: a share `--minority` of the
training images is mirrored, half of the test images are. Columns: p0..p63 (pixels 0..16),
style (plain | mirrored), digit (the class, last).

Usage: python3 experiments/digits_groups_csv.py OUT_DIR [--minority 0.05] [--seed 0]
writes OUT_DIR/train.csv and OUT_DIR/test.csv (70% / 30% of the 1797 images).
"""
import argparse
import os

import numpy as np
from sklearn.datasets import load_digits


def write(path, images, digits, mirrored):
    with open(path, "w") as f:
        f.write(",".join([f"p{i}" for i in range(64)] + ["style", "digit"]) + "\n")
        for img, d, m in zip(images, digits, mirrored):
            px = img[:, ::-1] if m else img
            f.write(",".join(str(int(v)) for v in px.reshape(-1)))
            f.write(",%s,%d\n" % ("mirrored" if m else "plain", d))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--minority", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    data = load_digits()
    rng = np.random.default_rng(a.seed)
    order = rng.permutation(len(data.target))
    n_train = int(round(0.7 * len(order)))
    tr, te = order[:n_train], order[n_train:]
    os.makedirs(a.out, exist_ok=True)
    write(os.path.join(a.out, "train.csv"), data.images[tr], data.target[tr],
          rng.random(len(tr)) < a.minority)
    write(os.path.join(a.out, "test.csv"), data.images[te], data.target[te],
          np.arange(len(te)) % 2 == 1)
    print("wrote %s/train.csv (%d) and test.csv (%d)" % (a.out, len(tr), len(te)))


if __name__ == "__main__":
    main()
