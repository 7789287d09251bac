#!/usr/bin/env bash
# Single-binary check (issue 17): a static build (default_library=static,
# so every plugin is built into libmproc.a) of tests/static/single_binary
# only, copied out of the build tree and run with nothing on the plugin
# path and nothing installed: every start method must run a child, and a
# plugin file named like a built-in must be refused. Prints PASS/FAIL; exit
# status 0 on success. The build directory is kept (incremental reruns).
set -uo pipefail
cd "$(dirname "$0")/../.."
builddir=${1:-build-static}
tmp=$(mktemp -d /tmp/mproc-static.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "static check: FAIL: $*"; exit 1; }

if [ ! -f "$builddir/build.ninja" ]; then
  meson setup "$builddir" -Ddefault_library=static -Dtests=false -Dbench=false >/dev/null ||
    fail "meson setup"
fi
ninja -C "$builddir" -j"$(nproc)" tests/static/single_binary >/dev/null || fail "building single_binary"
cp "$builddir/tests/static/single_binary" "$tmp/" || fail "no single_binary"
if ldd "$tmp/single_binary" | grep -q libmproc; then fail "single_binary needs libmproc.so"; fi

run() {
  env -u MPROC_START_METHOD -u MPROC_SERIALIZER MPROC_PLUGIN_PATH= MPROC_PLUGIN_SYSTEM_PATH= \
    timeout 120 "$tmp/single_binary" "$@" 2>&1
}
out=$(run all fork,spawn,forkserver) || fail "every start method, built in: $out"
echo "$out"
mkdir "$tmp/shadow"
: >"$tmp/shadow/mproc-backend-fork.so"
out=$(run shadow "$tmp/shadow") || fail "a file named like a built-in: $out"
echo "$out"
echo "static check: PASS"
