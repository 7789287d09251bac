#!/usr/bin/env bash
# Meson subproject check (issue 17): a project outside the tree
# (tests/install/subproject/) gets mproc with dependency('mproc') falling
# back to the subproject, built static with only fork and msgpack; its
# program (tests/static/single_binary.cpp) runs a fork child with nothing on
# the plugin path and says that spawn is not built. Prints PASS/FAIL; exit
# status 0 on success. The directory is kept (incremental reruns).
set -uo pipefail
cd "$(dirname "$0")/../.."
dir=${1:-build-subproject}
fail() { echo "subproject check: FAIL: $*"; exit 1; }

mkdir -p "$dir/subprojects/mproc" || fail "mkdir $dir"
cp tests/install/subproject/meson.build tests/static/single_binary.cpp "$dir/" || fail "copy"
# The source tree as git sees it (tracked and new files, not build trees).
git ls-files -co --exclude-standard -z | tar --null -T - --ignore-failed-read -cf - 2>/dev/null |
  tar -xf - -C "$dir/subprojects/mproc" || fail "copying the source tree"
if [ ! -f "$dir/build/build.ninja" ]; then
  meson setup "$dir/build" "$dir" --wrap-mode=forcefallback >/dev/null || fail "meson setup"
fi
ninja -C "$dir/build" -j"$(nproc)" single_binary >/dev/null || fail "building single_binary"
out=$(env -u MPROC_START_METHOD -u MPROC_SERIALIZER MPROC_PLUGIN_PATH= MPROC_PLUGIN_SYSTEM_PATH= \
      timeout 120 "$dir/build/single_binary" only fork 2>&1) || fail "$out"
echo "$out"
echo "subproject check: PASS"
