// Process start+join latency of a trivial target, per start method.
// Timed like CPython's mp_extra.py proc_*: Process construction + start() +
// join(). Reported as manual time (microseconds per start+join, mean) and
// the counter median_us (median of the individually timed iterations).
//
// Steady state: three untimed start+joins come first, so under forkserver
// the server (one per program, started on first use) is running before any
// call is timed. The counter first_us is the program's very first
// start+join with that method (for forkserver: including starting the
// server), for comparison with CPython's first_call_ms.
#include <sys/wait.h>
#include <unistd.h>

#include <map>

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
        static std::map<std::string, double> first_us;  // per method, once per program
        if (!first_us.count(method)) {
            auto t0 = Clock::now();
            start_join(ctx);
            first_us[method] = seconds(t0, Clock::now()) * 1e6;
        }
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
        st.counters["first_us"] = first_us[method];
    });
}

// The raw floor inside this very program: fork + _exit + waitpid with the
// same address space (libraries, heap) as mproc's start+join pays for.
void raw_fork_same_process(benchmark::State& state) {
    std::vector<double> samples;
    for (auto _ : state) {
        auto t0 = Clock::now();
        pid_t pid = ::fork();
        if (pid == 0) ::_exit(0);
        ::waitpid(pid, nullptr, 0);
        double dt = seconds(t0, Clock::now());
        state.SetIterationTime(dt);
        samples.push_back(dt * 1e6);
    }
    state.counters["median_us"] = median(samples);
}

void register_process_benchmarks() {
    benchmark::RegisterBenchmark("raw_fork_same_process", raw_fork_same_process)
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
    for (const auto& m : start_methods())
        benchmark::RegisterBenchmark(("process_start_join/" + m).c_str(), process_start_join, m)
            ->UseManualTime()
            ->Unit(benchmark::kMicrosecond);
}

}  // namespace

MPROC_BENCH_REGISTER(register_process_benchmarks);

}  // namespace mproc_bench
