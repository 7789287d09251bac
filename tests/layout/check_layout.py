#!/usr/bin/env python3
"""Checks the layout rules of core/src (docs/architecture.md):

1. Each subsystem includes only itself and the subsystems below it in LAYERS.
2. POSIX/Linux headers are included only in platform files (*_linux.*) and
   under plugin/posix/; public headers include none.

Prints each violation; exits 1 if there is any."""
import pathlib
import re
import sys

# The layers, lowest first (the order of docs/architecture.md).
LAYERS = ["base", "plugin", "serialization", "process", "connection", "shared",
          "sync", "queue", "listener", "pool", "managers", "shared_memory"]

PLATFORM_HEADER = re.compile(
    r'#include <(unistd|fcntl|poll|dlfcn|signal|pthread|link|netdb|dirent|termios|'
    r'stdio_ext|cxxabi|sys/[a-z_]+|linux/[a-z_]+|arpa/[a-z_]+|netinet/[a-z_]+)\.h>')
INTERNAL_INCLUDE = re.compile(r'#include "([a-z_]+)/[a-z_]+\.hpp"')


def is_platform_file(path: pathlib.Path) -> bool:
    return "_linux." in path.name or "_win32." in path.name or "posix" in path.parts


def main(root: pathlib.Path) -> int:
    problems = []
    src = root / "core" / "src"
    for path in sorted(src.rglob("*")):
        if path.suffix not in (".cpp", ".hpp"):
            continue
        rel = path.relative_to(src)
        layer = rel.parts[0]
        if layer not in LAYERS:
            problems.append(f"{rel}: subsystem '{layer}' is not in the layer list")
            continue
        text = path.read_text()
        for m in INTERNAL_INCLUDE.finditer(text):
            used = m.group(1)
            if used not in LAYERS:
                problems.append(f"{rel}: includes unknown subsystem '{used}'")
            elif LAYERS.index(used) > LAYERS.index(layer):
                problems.append(f"{rel}: includes {m.group(0)[10:-1]}, a layer above '{layer}'")
        if not is_platform_file(rel) and PLATFORM_HEADER.search(text):
            problems.append(f"{rel}: a portable file includes a platform header "
                            f"({PLATFORM_HEADER.search(text).group(0)[9:]})")
    for path in sorted((root / "core" / "include" / "mproc").rglob("*.hpp")):
        rel = path.relative_to(root)
        if "posix" in rel.parts:
            continue
        m = PLATFORM_HEADER.search(path.read_text())
        if m:
            problems.append(f"{rel}: a public header includes {m.group(0)[9:]}")
    for p in problems:
        print(p)
    print(f"layout: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")))
