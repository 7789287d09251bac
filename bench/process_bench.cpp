// Process start+join latency of a trivial target, per start method.
// Timed like CPython's mp_extra.py proc_*: Process construction + start() +
// join(). Reported as manual time (microseconds per start+join, mean) and
// the counter median_us (median of the individually timed iterations).
#include "bench_common.hpp"

namespace mproc_bench {
namespace {

void noop() {}

void start_join(const mp::Context& ctx) {
    mp::Process p = ctx.Process(noop);
    p.start();
    p.join();
    if (p.exitcode() != 0) throw mp::ProcessError("child exited with a non-zero code");
}

void process_start_join(benchmark::State& state, const std::string& method) {
    guarded(state, [&](benchmark::State& st) {
        mp::Context ctx = mp::get_context(method);
        for (int i = 0; i < 3; ++i) start_join(ctx);  // warm-up, as CPython's
        std::vector<double> samples;
        for (auto _ : st) {
            auto t0 = Clock::now();
            start_join(ctx);
            double dt = seconds(t0, Clock::now());
            st.SetIterationTime(dt);
            samples.push_back(dt * 1e6);
        }
        st.counters["median_us"] = median(samples);
    });
}

void register_process_benchmarks() {
    for (const auto& m : start_methods())
        benchmark::RegisterBenchmark(("process_start_join/" + m).c_str(), process_start_join, m)
            ->UseManualTime()
            ->Unit(benchmark::kMicrosecond);
}

}  // namespace

MPROC_BENCH_REGISTER(register_process_benchmarks);

}  // namespace mproc_bench
