#!/usr/bin/env python3
"""CPython's process pools on the Pool benchmarks of bench/pool_bench.cpp,
for bench/compare: multiprocessing.Pool, concurrent.futures'
ProcessPoolExecutor and loky (joblib.externals.loky, when importable), all
with the fork start method (loky: its own, loky).

Usage: python3 pool_bench.py [--quick]

Prints a human line and a JSON line per figure:
  <impl>_map_trivial_100k       items/s, default chunksize (Pool's rule,
                                also given to the executors' map)
  <impl>_map_chunk1_10k         items/s, chunksize 1
  <impl>_apply_us               median apply_async(f, (x,)).get() /
                                submit(f, x).result() round trip, us
  <impl>_start_us               median Pool()+close()+join() (executor:
                                constructor + first submit + shutdown), us
  <impl>_worker_death_us        Pool: never (it hangs, so not measured);
                                executors: SIGKILL to BrokenProcessPool, us
  <impl>_cpu_speedup            one process's time / the pool's, CPU-bound map
"""
import concurrent.futures as cf
import json
import math
import multiprocessing as mp
import os
import signal
import statistics
import sys
import time

QUICK = "--quick" in sys.argv


def trivial(x):
    return x + 1


def getpid(_):
    return os.getpid()


def sleep_long(_):
    time.sleep(60)


def cpu_work(seed):
    acc = float(seed)
    for i in range(1, 400_000):   # a tenth of the C++ loop: Python is ~10x slower per step
        acc += math.sqrt(i + acc * 1e-9)
    return acc


def emit(name, value, unit, **extra):
    print(f"{name:<36} {value:14.1f} {unit}", flush=True)
    print("JSON " + json.dumps(dict(suite="cpython", bench=name, value=value, unit=unit, **extra)),
          flush=True)


def default_chunksize(n, procs):
    c, extra = divmod(n, procs * 4)
    return c + 1 if extra else c


def timed(f, repeat):
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        samples.append(time.perf_counter() - t0)
    return samples


def bench_pool(ctx):
    procs = os.cpu_count()
    with ctx.Pool(procs) as pool:
        pool.map(trivial, range(1000))
        for n, cs, label in ((100_000, None, "map_trivial_100k"), (10_000, 1, "map_chunk1_10k")):
            data = list(range(n))
            s = timed(lambda: pool.map(trivial, data, cs), 2 if QUICK else 5)
            emit(f"mp.Pool_{label}", n / statistics.median(s), "obj/s")
        for _ in range(100):
            pool.apply_async(trivial, (1,)).get()
        s = timed(lambda: pool.apply_async(trivial, (41,)).get(), 300 if QUICK else 2000)
        emit("mp.Pool_apply_us", statistics.median(s) * 1e6, "us")

    def start():
        p = ctx.Pool(procs)
        p.close()
        p.join()
    start()
    s = timed(start, 3 if QUICK else 10)
    emit("mp.Pool_start_us", statistics.median(s) * 1e6, "us")

    n = 8 * procs
    t0 = time.perf_counter()
    for i in range(n):
        cpu_work(i)
    one = time.perf_counter() - t0
    with ctx.Pool(procs) as pool:
        t0 = time.perf_counter()
        pool.map(cpu_work, range(n), 1)
        dt = time.perf_counter() - t0
        emit("mp.Pool_cpu_speedup", one / dt, "x")
        emit("mp.Pool_cpu_one_us", one * 1e6, "us")
        emit("mp.Pool_cpu_pool_us", dt * 1e6, "us")


def bench_executor(name, make):
    procs = os.cpu_count()
    with make(procs) as ex:
        list(ex.map(trivial, range(1000), chunksize=100))
        for n, cs, label in ((100_000, default_chunksize(100_000, procs), "map_trivial_100k"),
                             (10_000, 1, "map_chunk1_10k")):
            data = list(range(n))
            s = timed(lambda: list(ex.map(trivial, data, chunksize=cs)), 2 if QUICK else 3)
            emit(f"{name}_{label}", n / statistics.median(s), "obj/s")
        for _ in range(100):
            ex.submit(trivial, 1).result()
        s = timed(lambda: ex.submit(trivial, 41).result(), 300 if QUICK else 2000)
        emit(f"{name}_apply_us", statistics.median(s) * 1e6, "us")

    def start():
        ex = make(procs)
        ex.submit(trivial, 1).result()
        ex.shutdown()
    start()
    s = timed(start, 3 if QUICK else 10)
    emit(f"{name}_start_us", statistics.median(s) * 1e6, "us")

    # A worker SIGKILLed mid-task: the executor breaks (every pending future
    # fails with BrokenProcessPool), and the time to that error is measured.
    samples = []
    for _ in range(3 if QUICK else 5):
        ex = make(1)
        pid = ex.submit(getpid, 0).result()
        fut = ex.submit(sleep_long, 0)
        while not fut.running():
            time.sleep(0.001)
        time.sleep(0.05)   # the worker has picked the task up
        t0 = time.perf_counter()
        os.kill(pid, signal.SIGKILL)
        try:
            fut.result(timeout=30)
        except Exception:
            pass
        samples.append(time.perf_counter() - t0)
        try:
            ex.shutdown(wait=True, cancel_futures=True)
        except TypeError:   # loky's shutdown has no cancel_futures
            ex.shutdown(wait=True)
    emit(f"{name}_worker_death_us", statistics.median(samples) * 1e6, "us")

    n = 8 * procs
    t0 = time.perf_counter()
    for i in range(n):
        cpu_work(i)
    one = time.perf_counter() - t0
    with make(procs) as ex:
        t0 = time.perf_counter()
        list(ex.map(cpu_work, range(n)))
        dt = time.perf_counter() - t0
        emit(f"{name}_cpu_speedup", one / dt, "x")
        emit(f"{name}_cpu_one_us", one * 1e6, "us")
        emit(f"{name}_cpu_pool_us", dt * 1e6, "us")


def main():
    ctx = mp.get_context("fork")
    bench_pool(ctx)
    bench_executor("ProcessPoolExecutor",
                   lambda n: cf.ProcessPoolExecutor(n, mp_context=ctx))
    try:
        from joblib.externals import loky
    except ImportError:
        print("loky: not importable (Debian: python3-joblib); skipped", file=sys.stderr)
        return
    # A fresh executor each time (get_reusable_executor would reuse one).
    bench_executor("loky", lambda n: loky.ProcessPoolExecutor(n))


if __name__ == "__main__":
    main()
