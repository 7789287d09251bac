// Manager benchmarks (the figures bench/compare sets beside CPython's
// bench/python/manager_ops.py), each with the counter median_us:
//
//   manager/dict_setget/METHOD     a child process does d["k"] = i then reads
//                                  d["k"]: one set+get pair (two round trips
//                                  to the server); median of 2000 pairs
//   manager/new_dict/fork          m.dict() and dropping it (create + decref)
//   manager/start_shutdown/METHOD  Manager() (server started, address known)
//                                  and shutdown() (server joined)
//   manager/queue_putget/fork      q.put(i); q.get() through a Queue proxy
#include <mproc/managers.hpp>

#include "bench_common.hpp"

namespace mproc_bench {
namespace {

constexpr int kPairs = 2000;

void setget_child(mp::DictProxy d, mp::Connection out) {
    std::vector<double> samples;
    samples.reserve(kPairs);
    for (int i = 0; i < kPairs; ++i) {
        auto t0 = Clock::now();
        d["k"] = i;
        if (d["k"].get() != mp::object(i)) mp::exit(2);
        samples.push_back(seconds(t0, Clock::now()) * 1e6);
    }
    out.send(median(samples));
}

void dict_setget(benchmark::State& state, const std::string& method) {
    guarded(state, [&](benchmark::State& st) {
        auto ctx = mp::get_context(method);
        auto m = ctx.Manager();
        auto d = m.dict();
        std::vector<double> medians;
        for (auto _ : st) {
            auto [a, b] = ctx.Pipe(false);
            auto p = ctx.Process(setget_child, d, b);
            p.start();
            b.close();
            const double us = a.recv<double>();
            p.join();
            if (p.exitcode() != 0) throw mp::ProcessError("setget child failed");
            st.SetIterationTime(us * 1e-6);
            medians.push_back(us);
        }
        st.counters["median_us"] = median(medians);
    });
}

template <class Op>
void timed(benchmark::State& st, Op op) {
    std::vector<double> samples;
    for (auto _ : st) {
        auto t0 = Clock::now();
        op();
        const double dt = seconds(t0, Clock::now());
        st.SetIterationTime(dt);
        samples.push_back(dt * 1e6);
    }
    st.counters["median_us"] = median(samples);
}

void new_dict(benchmark::State& state) {
    guarded(state, [&](benchmark::State& st) {
        auto m = mp::get_context("fork").Manager();
        timed(st, [&] { benchmark::DoNotOptimize(m.dict()); });
    });
}

void start_shutdown(benchmark::State& state, const std::string& method) {
    guarded(state, [&](benchmark::State& st) {
        auto ctx = mp::get_context(method);
        timed(st, [&] {
            auto m = ctx.Manager();
            m.shutdown();
        });
    });
}

void queue_putget(benchmark::State& state) {
    guarded(state, [&](benchmark::State& st) {
        auto m = mp::get_context("fork").Manager();
        auto q = m.Queue();
        std::int64_t i = 0;
        timed(st, [&] {
            q.put(i);
            if (q.get() != mp::object(i++)) throw mp::ProcessError("wrong item");
        });
    });
}

void register_manager_benchmarks() {
    for (const auto& m : start_methods()) {
        benchmark::RegisterBenchmark(("manager/dict_setget/" + m).c_str(), dict_setget, m)
            ->Iterations(5)
            ->UseManualTime()
            ->Unit(benchmark::kMicrosecond);
        benchmark::RegisterBenchmark(("manager/start_shutdown/" + m).c_str(), start_shutdown, m)
            ->MinTime(1.0)
            ->UseManualTime()
            ->Unit(benchmark::kMicrosecond);
    }
    benchmark::RegisterBenchmark("manager/new_dict/fork", new_dict)
        ->MinTime(0.5)
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark("manager/queue_putget/fork", queue_putget)
        ->MinTime(0.5)
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
}

MPROC_BENCH_REGISTER(register_manager_benchmarks);

}  // namespace
}  // namespace mproc_bench
