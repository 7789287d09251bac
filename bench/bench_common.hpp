// Helpers shared by the mproc benchmarks (internal to bench/).
//
// Benchmarks are registered at run time, from main() after
// mproc::freeze_support(), because they are instantiated once per start
// method and the start methods are plugins found at run time. A benchmark
// file adds its registration function with MPROC_BENCH_REGISTER(fn).
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <string>
#include <vector>

#include <mproc/mproc.hpp>

namespace mproc_bench {

namespace mp = mproc;

using Clock = std::chrono::steady_clock;

/// Seconds between two time points.
inline double seconds(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
}

/// The median of samples (0 when empty).
inline double median(std::vector<double> v) {
    if (v.empty()) return 0;
    auto mid = v.begin() + std::ptrdiff_t(v.size() / 2);
    std::nth_element(v.begin(), mid, v.end());
    if (v.size() % 2) return *mid;
    return (*mid + *std::max_element(v.begin(), mid)) / 2;
}

/// A registration function: calls benchmark::RegisterBenchmark.
using Registration = void (*)();

/// All registration functions added with MPROC_BENCH_REGISTER.
inline std::vector<Registration>& registrations() {
    static std::vector<Registration> all;
    return all;
}

struct Registrar {
    explicit Registrar(Registration f) { registrations().push_back(f); }
};

/// The start methods to benchmark: every one that can be loaded here.
inline std::vector<std::string> start_methods() {
    return mp::get_all_start_methods();
}

/// Runs body(state); an exception ends the benchmark with an error (a
/// start method that cannot run the workload shows as an error, not a crash).
template <class F>
void guarded(benchmark::State& state, F&& body) {
    try {
        body(state);
    } catch (const std::exception& e) {
        state.SkipWithError(e.what());
    } catch (...) {
        state.SkipWithError("unknown exception");
    }
}

}  // namespace mproc_bench

#define MPROC_BENCH_CONCAT2(a, b) a##b
#define MPROC_BENCH_CONCAT(a, b) MPROC_BENCH_CONCAT2(a, b)
#define MPROC_BENCH_REGISTER(fn) \
    static const ::mproc_bench::Registrar MPROC_BENCH_CONCAT(mproc_bench_reg_, __LINE__)(fn)
