#!/usr/bin/env bash
# Installs the Debian packages descent needs to build, test and run its demo.
# Idempotent: does nothing when everything is present. Works as root on a bare machine.
#   scripts/setup.sh          build + test + demo dependencies
#   scripts/setup.sh --peer   also PyTorch (only to regenerate fixtures / run side-by-side benches)
set -euo pipefail

pkgs=(build-essential cmake pkg-config libopenblas-openmp-dev zlib1g-dev libcjson-dev
      libcmocka-dev libinih-dev libplplot-dev plplot-driver-cairo dataset-fashion-mnist
      python3 python3-sklearn libopenmpi-dev openmpi-bin fortunes
      clang clang-14 clang-format libclang-rt-14-dev libomp-14-dev llvm-14) # `make fuzz`: libFuzzer, sanitizers, OpenMP, symbolizer
if [ "${1:-}" = "--peer" ]; then pkgs+=(python3-torch python3-numpy); fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
