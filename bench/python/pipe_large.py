#!/usr/bin/env python3
"""CPython's side of mproc's pipe_large benchmark (issue 13 item 11): a
64 MiB send_bytes to an echoing child over a duplex multiprocessing.Pipe and
its recv_bytes back; prints the median round trip in microseconds.

Usage: python3 pipe_large.py [ROUNDS]   (default 9, fork)
"""
import json
import multiprocessing as mp
import statistics
import sys
import time

SIZE = 64 << 20


def echo(conn):
    while True:
        b = conn.recv_bytes()
        if not b:
            break
        conn.send_bytes(b)


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 9
    ctx = mp.get_context("fork")
    a, b = ctx.Pipe()
    p = ctx.Process(target=echo, args=(b,))
    p.start()
    b.close()
    payload = b"0" * SIZE
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        a.send_bytes(payload)
        if len(a.recv_bytes()) != SIZE:
            raise SystemExit("wrong size")
        samples.append((time.perf_counter() - t0) * 1e6)
    a.send_bytes(b"")
    p.join()
    us = statistics.median(samples)
    name = "mp.Pipe_roundtrip_64MiB"
    print(f"{name:<34} {us / 1e3:10.1f} ms  ({SIZE / (us / 2) :.0f} MB/s each way)", flush=True)
    print("JSON " + json.dumps(dict(suite="cpython", bench=name, value=us, unit="us",
                                    iterations=rounds)), flush=True)


if __name__ == "__main__":
    main()
