#!/usr/bin/env python3
"""CPython's multiprocessing.Queue with large items, for bench/compare.

Usage: python3 queue_bytes.py [SIZE_BYTES]   (default 1 MiB)

A child puts N bytes objects of SIZE bytes, the parent gets them; N doubles
until one pass takes >= 1 s. Prints a human line and a JSON line
(bench "mp.Queue_bytes_<SIZE>", value in bytes/s).
"""
import json
import multiprocessing as mp
import sys
import time


def producer(q, ready, n, size):
    payload = b"0" * size
    ready.set()
    for _ in range(n):
        q.put(payload)


def one_pass(n, size):
    q = mp.Queue()
    ready = mp.Event()
    p = mp.Process(target=producer, args=(q, ready, n, size))
    p.start()
    ready.wait()
    t0 = time.perf_counter()
    for _ in range(n):
        if len(q.get()) != size:
            raise SystemExit("wrong size")
    elapsed = time.perf_counter() - t0
    p.join()
    return elapsed


def main():
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 1 << 20
    n, elapsed = 4, 0.0
    while elapsed < 1.0:
        n *= 2
        elapsed = one_pass(n, size)
    rate = n * size / elapsed
    name = f"mp.Queue_bytes_{size}"
    print(f"{name:<34} {rate / 1e6:10.1f} MB/s  ({n} items in {elapsed:.3f} s)", flush=True)
    print("JSON " + json.dumps(dict(suite="cpython", bench=name, value=rate, unit="B/s",
                                    iterations=n, elapsed_s=elapsed)), flush=True)


if __name__ == "__main__":
    main()
