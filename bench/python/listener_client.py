#!/usr/bin/env python3
"""CPython's side of mproc's listener_stream benchmark: a forked child
connects to a multiprocessing.connection.Listener with Client (authkey
checked) and sends 256-character strings with conn.send; the parent
receives them. Prints one result line and one "JSON {...}" line per family,
as the shared mp_benchmarks_py3.py does.

    listener_client.py [unix] [tcp]
"""
import json
import multiprocessing
import sys
import time
from multiprocessing.connection import Client, Listener

DELTA = 1.0  # seconds a measurement must last at least
AUTHKEY = b"bench"


def emit(bench, value, unit, iterations, elapsed):
    rec = dict(suite="cpython_listener_client", bench=bench, value=value, unit=unit,
               iterations=iterations, elapsed_s=elapsed)
    print("%-34s %14.1f %-18s (%d iterations in %.3f s)"
          % (bench, value, unit, iterations, elapsed), flush=True)
    print("JSON " + json.dumps(rec), flush=True)


def producer(address, iterations):
    with Client(address, authkey=AUTHKEY) as conn:
        conn.recv_bytes()  # the parent's "go"
        payload = "0" * 256
        for _ in range(iterations):
            conn.send(payload)
        conn.send("STOP")


def bench(family):
    address = ("127.0.0.1", 0) if family == "tcp" else None
    with Listener(address, family="AF_INET" if family == "tcp" else "AF_UNIX",
                  authkey=AUTHKEY) as listener:
        elapsed, iterations = 0.0, 1
        while elapsed < DELTA:
            iterations *= 2
            p = multiprocessing.get_context("fork").Process(
                target=producer, args=(listener.address, iterations))
            p.start()
            with listener.accept() as conn:
                t0 = time.perf_counter()
                conn.send_bytes(b"g")
                while conn.recv() != "STOP":
                    pass
                elapsed = time.perf_counter() - t0
            p.join()
    emit("listener_stream_" + family, iterations / elapsed, "objects/s", iterations, elapsed)


if __name__ == "__main__":
    for f in sys.argv[1:] or ["unix", "tcp"]:
        bench(f)
