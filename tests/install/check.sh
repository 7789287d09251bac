#!/usr/bin/env bash
# Install check: configure a separate build with its own prefix, install it,
# build tests/install/consumer.cpp with pkg-config and with CMake
# (tests/install/cmake) and run it with no mproc env var set; build a
# third-party plugin as a file and linked into a program. Prints PASS/FAIL; exit status 0 on success.
set -uo pipefail
cd "$(dirname "$0")/../.."
builddir=${1:-build-install}
prefix=$(mktemp -d /tmp/mproc-prefix.XXXXXX)
trap 'rm -rf "$prefix"' EXIT
fail() { echo "install check: FAIL: $*"; exit 1; }

rm -rf "$builddir"
# msgpack is built into libmproc (-Dbuiltin_plugins, issue 17) and fork,
# spawn and forkserver are files: both kinds in one installed mproc.
meson setup "$builddir" --prefix="$prefix" -Dtests=false -Dbench=false -Dbuiltin_plugins=msgpack \
  >/dev/null || fail "meson setup"
ninja -C "$builddir" -j"$(nproc)" install >/dev/null || fail "ninja install"
pc=$(dirname "$(find "$prefix" -name mproc.pc | head -1)")
[ -n "$pc" ] || fail "no mproc.pc installed"
export PKG_CONFIG_PATH=$pc
plugindir=$(pkg-config --variable=plugindir mproc)
[ -f "$plugindir/mproc-backend-fork.so" ] || fail "fork plugin not in $plugindir"
[ ! -e "$plugindir/mproc-serializer-msgpack.so" ] || fail "msgpack is built in, yet its file is in $plugindir"
libdir=$(pkg-config --variable=libdir mproc)
# shellcheck disable=SC2046
g++ -std=c++20 -o "$prefix/consumer" tests/install/consumer.cpp $(pkg-config --cflags --libs mproc) \
  -Wl,-rpath,"$libdir" || fail "building a program with pkg-config"
out=$(env -u MPROC_PLUGIN_PATH -u MPROC_PLUGIN_SYSTEM_PATH -u MPROC_START_METHOD \
      timeout 60 "$prefix/consumer" 2>&1) || fail "consumer failed: $out"
[ "$out" = $'hello installed world\nexitcode 0' ] || fail "unexpected output: $out"

# No build-tree path in what was installed (debug info aside).
for lib in "$libdir"/libmproc.so* "$plugindir"/*.so; do
  if readelf -p .rodata -p .dynstr "$lib" 2>/dev/null | grep -q "$PWD/$builddir"; then
    fail "$lib holds a build-tree path"
  fi
done

# A third-party start method built against the installed headers only (no
# source tree on the include path), found through MPROC_PLUGIN_PATH.
extra=$prefix/extra-plugins
mkdir -p "$extra"
# shellcheck disable=SC2046
g++ -std=c++20 -shared -fPIC -fvisibility=hidden -o "$extra/mproc-backend-thirdparty.so" \
  tests/plugins/third_party_backend.cpp $(pkg-config --cflags --libs mproc) \
  -Wl,-rpath,"$libdir" || fail "building a third-party backend against the installed headers"
# shellcheck disable=SC2046
g++ -std=c++20 -o "$prefix/thirdparty_consumer" tests/install/thirdparty_consumer.cpp \
  $(pkg-config --cflags --libs mproc) -Wl,-rpath,"$libdir" || fail "building the third-party consumer"
out=$(env -u MPROC_PLUGIN_SYSTEM_PATH -u MPROC_START_METHOD MPROC_PLUGIN_PATH="$extra" \
      timeout 60 "$prefix/thirdparty_consumer" 2>&1) || fail "third-party consumer failed: $out"
[ "$out" = $'third-party child: true\nexitcode 0' ] || fail "unexpected third-party output: $out"

# The same third-party start method linked into the program with one line
# (MPROC_LINK_PLUGIN, under -DMPROC_TEST_LINK_PLUGIN), without rebuilding
# mproc: found with nothing on the plugin path.
# shellcheck disable=SC2046
g++ -std=c++20 -DMPROC_TEST_LINK_PLUGIN -o "$prefix/thirdparty_linked" \
  tests/install/thirdparty_consumer.cpp tests/plugins/third_party_backend.cpp \
  $(pkg-config --cflags --libs mproc) -Wl,-rpath,"$libdir" || fail "building with the plugin linked in"
out=$(env -u MPROC_PLUGIN_PATH -u MPROC_START_METHOD MPROC_PLUGIN_SYSTEM_PATH= \
      timeout 60 "$prefix/thirdparty_linked" 2>&1) || fail "linked-in third-party consumer failed: $out"
[ "$out" = $'third-party child: true\nexitcode 0' ] || fail "unexpected linked-in output: $out"

# A CMake project using the installed CMake package (mproc::mproc).
if command -v cmake >/dev/null; then
  cmake -S tests/install/cmake -B "$prefix/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_BUILD_RPATH="$libdir" >/dev/null || fail "cmake configure (find_package(mproc CONFIG))"
  cmake --build "$prefix/cmake-build" -j"$(nproc)" >/dev/null || fail "cmake build"
  out=$(env -u MPROC_PLUGIN_PATH -u MPROC_PLUGIN_SYSTEM_PATH -u MPROC_START_METHOD \
        timeout 60 "$prefix/cmake-build/consumer" 2>&1) || fail "CMake consumer failed: $out"
  [ "$out" = $'hello installed world\nexitcode 0' ] || fail "unexpected CMake consumer output: $out"
else
  fail "cmake is not installed (scripts/deps.sh installs it)"
fi
rm -rf "$builddir"
echo "install check: PASS"
