#!/usr/bin/env bash
# Installs the Debian 12 packages mproc needs to build and test, if missing.
# Sourced by scripts/demo and scripts/test.
set -euo pipefail

MPROC_DEBIAN_PACKAGES=(
  g++ meson ninja-build pkg-config python3
  libboost-dev libfmt-dev libmsgpack-cxx-dev libssl-dev
  catch2 libbenchmark-dev
  cmake  # the CMake consumer check (tests/install/check.sh)
)
# Only for the Python-interoperability tests and the side-by-side benchmarks.
MPROC_OPTIONAL_PACKAGES=(python3-msgpack)

mproc_install_deps() {
  local missing=()
  for p in "${MPROC_DEBIAN_PACKAGES[@]}" "${MPROC_OPTIONAL_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then return 0; fi
  echo "Installing missing packages: ${missing[*]}"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Configures (once) and builds the tree in $1 (default: build).
mproc_build() {
  local dir=${1:-build}
  shift || true
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@" >/dev/null
  fi
  ninja -C "$dir" -j"$(nproc)"
}
