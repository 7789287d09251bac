#!/usr/bin/env python3
"""CPython's multiprocessing.shared_memory cycle, for bench/compare.

Usage: python3 shared_memory_cycle.py [SIZE_BYTES]   (default 1 MiB)

One cycle: create a SharedMemory of SIZE bytes, attach to it by name, close
both, unlink (pages not touched), as bench/shared_memory_bench.cpp. Each
cycle is timed; prints a human line and a JSON line (bench
"shared_memory_cycle_<1MiB|SIZE>", value: the median cycle in us).
Python's resource tracker is in the cycle (register at create and attach,
unregister at unlink), as mproc's tracker is in its.
"""
import json
import statistics
import sys
import time
from multiprocessing import shared_memory


def main():
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 1 << 20
    samples = []
    deadline = time.perf_counter() + 1.0
    while time.perf_counter() < deadline or len(samples) < 1000:
        t0 = time.perf_counter()
        a = shared_memory.SharedMemory(create=True, size=size)
        b = shared_memory.SharedMemory(name=a.name)
        b.close()
        a.close()
        a.unlink()
        samples.append((time.perf_counter() - t0) * 1e6)
    med = statistics.median(samples)
    name = "shared_memory_cycle_" + ("1MiB" if size == 1 << 20 else str(size))
    print(f"{name:<34} {med:10.1f} us median  ({len(samples)} cycles)", flush=True)
    print("JSON " + json.dumps(dict(suite="cpython", bench=name, value=med, unit="us",
                                    iterations=len(samples))), flush=True)


if __name__ == "__main__":
    main()
