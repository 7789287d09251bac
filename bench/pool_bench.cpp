// Pool benchmarks, per start method (issue 14):
//
//   pool_map/trivial_100k/METHOD      map of a trivial function over 100 000
//                                     ints, default chunksize; items/s
//   pool_map/chunk1_10k/METHOD        the same over 10 000 ints, chunksize 1
//   pool_apply/METHOD                 apply_async(f, x).get() round trip;
//                                     median_us
//   pool_start/METHOD                 Pool(cpu_count()) + close() + join();
//                                     median_us
//   pool_worker_death/METHOD          a worker's SIGKILL to the failing
//                                     task's error in get(); median_us
//   pool_cpu/METHOD                   a CPU-bound map on cpu_count() workers;
//                                     counter speedup = one process's time /
//                                     the pool's
// The pool is made once per benchmark (outside the timing) except in
// pool_start.
#include <signal.h>
#include <unistd.h>

#include <cmath>
#include <numeric>
#include <ranges>
#include <thread>

#include "bench_common.hpp"

namespace mproc_bench {
namespace {

int trivial(int x) {
    return x + 1;
}

int pid_of(int) {
    return int(::getpid());
}

int sleep_long(mp::Connection started) {
    started.send_bytes(std::string_view("s"));
    std::this_thread::sleep_for(std::chrono::seconds(60));
    return 0;
}

// About 10 ms of arithmetic for one call.
double cpu_work(int seed) {
    double acc = seed;
    for (int i = 1; i < 4'000'000; ++i) acc += std::sqrt(double(i) + acc * 1e-9);
    return acc;
}

void pool_map(benchmark::State& state, const std::string& method, int n,
              std::optional<std::size_t> chunksize) {
    guarded(state, [&](benchmark::State& st) {
        auto ctx = mp::get_context(method);
        mp::Pool pool(ctx);
        std::vector<int> in(static_cast<std::size_t>(n));
        std::iota(in.begin(), in.end(), 0);
        pool.map(trivial, in, chunksize);  // warm-up
        for (auto _ : st) {
            auto t0 = Clock::now();
            auto out = pool.map(trivial, in, chunksize);
            st.SetIterationTime(seconds(t0, Clock::now()));
            if (out.back() != n) throw mp::ProcessError("wrong result");
        }
        st.SetItemsProcessed(st.iterations() * n);
    });
}

void pool_apply(benchmark::State& state, const std::string& method) {
    guarded(state, [&](benchmark::State& st) {
        auto ctx = mp::get_context(method);
        mp::Pool pool(ctx);
        for (int i = 0; i < 100; ++i) pool.apply_async(trivial, i).get();
        std::vector<double> samples;
        for (auto _ : st) {
            auto t0 = Clock::now();
            int r = pool.apply_async(trivial, 41).get();
            double dt = seconds(t0, Clock::now());
            st.SetIterationTime(dt);
            samples.push_back(dt * 1e6);
            if (r != 42) throw mp::ProcessError("wrong result");
        }
        st.counters["median_us"] = median(samples);
    });
}

void pool_start(benchmark::State& state, const std::string& method) {
    guarded(state, [&](benchmark::State& st) {
        auto ctx = mp::get_context(method);
        { mp::Pool warm(ctx); }
        std::vector<double> samples;
        for (auto _ : st) {
            auto t0 = Clock::now();
            mp::Pool pool(ctx);
            pool.close();
            pool.join();
            double dt = seconds(t0, Clock::now());
            st.SetIterationTime(dt);
            samples.push_back(dt * 1e6);
        }
        st.counters["median_us"] = median(samples);
    });
}

void pool_worker_death(benchmark::State& state, const std::string& method) {
    guarded(state, [&](benchmark::State& st) {
        auto ctx = mp::get_context(method);
        mp::Pool pool(ctx, 1);
        std::vector<double> samples;
        for (auto _ : st) {
            int pid = pool.apply(pid_of, 0);
            auto [started_r, started_w] = ctx.Pipe(false);
            auto r = pool.apply_async(sleep_long, started_w);
            (void)started_r.recv_bytes();  // the worker runs the task
            auto t0 = Clock::now();
            ::kill(pid, SIGKILL);
            try {
                r.get();
            } catch (const mp::WorkerLostError&) {
            }
            double dt = seconds(t0, Clock::now());
            st.SetIterationTime(dt);
            samples.push_back(dt * 1e6);
        }
        st.counters["median_us"] = median(samples);
    });
}

void pool_cpu(benchmark::State& state, const std::string& method) {
    guarded(state, [&](benchmark::State& st) {
        auto ctx = mp::get_context(method);
        const int n = 8 * mp::cpu_count();
        auto t0 = Clock::now();
        double check = 0;
        for (int i = 0; i < n; ++i) check += cpu_work(i);
        const double one = seconds(t0, Clock::now());
        mp::Pool pool(ctx);
        for (auto _ : st) {
            auto t1 = Clock::now();
            auto out = pool.map(cpu_work, std::views::iota(0, n), 1);
            const double dt = seconds(t1, Clock::now());
            st.SetIterationTime(dt);
            st.counters["speedup"] = one / dt;
            if (std::abs(std::accumulate(out.begin(), out.end(), 0.0) - check) > 1e-6 * check)
                throw mp::ProcessError("wrong result");
        }
        st.counters["one_process_s"] = one;
    });
}

void register_pool_benchmarks() {
    for (const auto& m : start_methods()) {
        benchmark::RegisterBenchmark(("pool_map/trivial_100k/" + m).c_str(), pool_map, m, 100000,
                                     std::nullopt)
            ->MinTime(1.0)
            ->UseManualTime()
            ->Unit(benchmark::kMillisecond);
        benchmark::RegisterBenchmark(("pool_map/chunk1_10k/" + m).c_str(), pool_map, m, 10000,
                                     std::optional<std::size_t>(1))
            ->MinTime(1.0)
            ->UseManualTime()
            ->Unit(benchmark::kMillisecond);
        benchmark::RegisterBenchmark(("pool_apply/" + m).c_str(), pool_apply, m)
            ->MinTime(1.0)
            ->UseManualTime()
            ->Unit(benchmark::kMicrosecond);
        benchmark::RegisterBenchmark(("pool_start/" + m).c_str(), pool_start, m)
            ->MinTime(1.0)
            ->UseManualTime()
            ->Unit(benchmark::kMicrosecond);
        benchmark::RegisterBenchmark(("pool_worker_death/" + m).c_str(), pool_worker_death, m)
            ->Iterations(20)
            ->UseManualTime()
            ->Unit(benchmark::kMicrosecond);
        benchmark::RegisterBenchmark(("pool_cpu/" + m).c_str(), pool_cpu, m)
            ->Iterations(2)
            ->UseManualTime()
            ->Unit(benchmark::kMillisecond);
    }
}

}  // namespace

MPROC_BENCH_REGISTER(register_pool_benchmarks);

}  // namespace mproc_bench
