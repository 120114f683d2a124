#!/usr/bin/env bash
# The examples in the public headers compile: every comment block introduced by
# " * Example (given a, b):" up to the next blank comment line becomes the body of a function whose
# parameters are the named givens, and is compiled with -Wall -Werror against include/.
# $1: the CLI (unused: the compiler is cc).
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 - include/descent/*.h > "$tmp/examples.c" <<'PY'
import re, sys
given_types = {"g": "ds_graph *", "x": "ds_node", "y": "ds_node", "logits": "ds_node",
               "opt": "ds_optim *", "sched": "ds_sched *", "loader": "ds_loader *",
               "test": "const ds_dataset *", "ps": "ds_paramset *", "seed": "uint64_t",
               "ratios": "const double *", "xb": "float *", "yb": "float *"}
print('#include <stdio.h>\n#include "descent/descent.h"')
count = 0
for path in sys.argv[1:]:
    lines = open(path).read().split("\n")
    for i, line in enumerate(lines):
        m = re.match(r"^ \* Example(?: \(given ([a-z_, ]+)\))?:$", line)
        if not m:
            continue
        givens = [v.strip() for v in (m.group(1) or "").split(",") if v.strip()]
        params = ", ".join(f"{given_types[v]} {v}" for v in givens) or "void"
        body = []
        for l in lines[i + 1:]:
            if l in (" *", " */") or not l.startswith(" *   "):
                break
            body.append(l[5:])
        count += 1
        print(f"/* {path}:{i + 1} */\nvoid example_{count}({params});\nvoid example_{count}({params}) {{")
        print("\n".join("  " + b for b in body))
        print("}")
print(f"/* {count} examples */")
if count < 5:
    sys.exit(f"only {count} header examples found")
PY
cc -std=gnu11 -Wall -Wextra -Werror -Wno-unused-variable -Wno-unused-parameter -Wno-unused-result \
  -Iinclude -fsyntax-only "$tmp/examples.c" || { cat -n "$tmp/examples.c"; exit 1; }
echo "ok: $(tail -n 1 "$tmp/examples.c")"
