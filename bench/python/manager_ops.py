#!/usr/bin/env python3
"""CPython's multiprocessing managers, for bench/compare (fork context).

Prints a human line and a JSON line per figure (value: median in us):
  mp.Manager_dict_setget      a child does d['k'] = i; d['k'] (one pair)
  mp.Manager_new_dict         manager.dict() and dropping it
  mp.Manager_start_shutdown   Manager() then shutdown()
  mp.Manager_queue_putget     q.put(i); q.get() through a Queue proxy
"""
import json
import multiprocessing as mp
import statistics
import time

PAIRS = 2000


def setget_child(d, conn):
    samples = []
    for i in range(PAIRS):
        t0 = time.perf_counter()
        d['k'] = i
        if d['k'] != i:
            raise SystemExit(2)
        samples.append(time.perf_counter() - t0)
    conn.send(statistics.median(samples) * 1e6)


def report(name, us, n):
    print(f"{name:<34} {us:10.1f} us  (median of {n})", flush=True)
    print("JSON " + json.dumps(dict(suite="cpython", bench=name, value=us, unit="us",
                                    iterations=n)), flush=True)


def timed(op, n):
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        op()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples) * 1e6


def main():
    ctx = mp.get_context("fork")
    with ctx.Manager() as m:
        d = m.dict()
        medians = []
        for _ in range(5):
            a, b = ctx.Pipe(False)
            p = ctx.Process(target=setget_child, args=(d, b))
            p.start()
            b.close()
            medians.append(a.recv())
            p.join()
        report("mp.Manager_dict_setget", statistics.median(medians), 5)
        report("mp.Manager_new_dict", timed(lambda: m.dict(), 2000), 2000)
        q = m.Queue()
        counter = iter(range(10**9))

        def putget():
            i = next(counter)
            q.put(i)
            if q.get() != i:
                raise SystemExit("wrong item")
        report("mp.Manager_queue_putget", timed(putget, 2000), 2000)

    def start_shutdown():
        mgr = ctx.Manager()
        mgr.shutdown()
    report("mp.Manager_start_shutdown", timed(start_shutdown, 30), 30)


if __name__ == "__main__":
    main()
