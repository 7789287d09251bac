// Synchronisation and shared-value benchmarks (the classic lockspeed,
// conditionspeed and seqspeed of CPython's mp_benchmarks.py):
//
//   lock/{Lock,RLock}
//       uncontended acquire() + release() of a Lock / RLock of the default
//       context, in a loop; items_per_second = acquire+release pairs/s. The
//       start method does not matter for an uncontended lock.
//   condition/METHOD
//       a child and the parent ping-pong through one Condition (over its
//       RLock), as mp_benchmarks' conditionspeed: the child does
//       "with c: c.notify(); loop: c.wait(); c.notify()", the parent
//       "loop: c.notify(); c.wait()". Manual time per round trip,
//       items_per_second = round trips/s, counter median_us.
//   seq/Array/{lock,nolock}
//       seqspeed: reads of element 5 of an Array<int> holding 0..9 (Python:
//       Array('i', range(10), lock=True/False); a = seq[5]); each read of
//       the locked array takes and releases its RLock. items_per_second =
//       element reads/s.
#include <chrono>
#include <ranges>

#include "bench_common.hpp"

namespace mproc_bench {
namespace {

constexpr int kConditionWarmup = 1000;

// ---------------------------------------------------------------- lockspeed

template <class L>
void lock_speed(benchmark::State& state) {
    guarded(state, [&](benchmark::State& st) {
        L lock;
        for (auto _ : st) {
            lock.acquire();
            lock.release();
        }
        st.SetItemsProcessed(st.iterations());
    });
}

// ----------------------------------------------------------- conditionspeed

// The child's side: notify once holding the lock, then answer every notify
// until the parent sets stop.
void condition_partner(mp::Condition c, mp::RawValue<int> stop) {
    c.acquire();
    c.notify();
    for (;;) {
        c.wait();
        if (stop.value()) break;
        c.notify();
    }
    c.release();
}

void condition_speed(benchmark::State& state, const std::string& method) {
    guarded(state, [&](benchmark::State& st) {
        mp::Context ctx = mp::get_context(method);
        mp::Condition c = ctx.Condition();
        auto stop = ctx.RawValue<int>(0);
        c.acquire();
        mp::Process p = ctx.Process(condition_partner, c, stop);
        p.start();
        if (!c.wait(std::chrono::seconds(60))) {  // the child holds the lock and has notified
            p.terminate();
            p.join();
            throw mp::ProcessError("the condition partner did not start");
        }
        auto round_trip = [&] {
            c.notify();
            c.wait();
        };
        for (int i = 0; i < kConditionWarmup; ++i) round_trip();
        std::vector<double> samples;
        for (auto _ : st) {
            auto t0 = Clock::now();
            round_trip();
            double dt = seconds(t0, Clock::now());
            st.SetIterationTime(dt);
            samples.push_back(dt * 1e6);
        }
        stop.value() = 1;
        c.notify();
        c.release();
        p.join();
        if (p.exitcode() != 0) throw mp::ProcessError("condition partner failed");
        st.SetItemsProcessed(st.iterations());
        st.counters["median_us"] = median(samples);
    });
}

// ----------------------------------------------------------------- seqspeed

void seq_speed(benchmark::State& state, bool lock) {
    guarded(state, [&](benchmark::State& st) {
        mp::Array<int> seq(std::views::iota(0, 10), lock);
        for (auto _ : st) {
            int a = seq[5];
            benchmark::DoNotOptimize(a);
        }
        st.SetItemsProcessed(st.iterations());
    });
}

void register_sync_benchmarks() {
    benchmark::RegisterBenchmark("lock/Lock", lock_speed<mp::Lock>)->UseRealTime();
    benchmark::RegisterBenchmark("lock/RLock", lock_speed<mp::RLock>)->UseRealTime();
    for (const auto& m : start_methods())
        benchmark::RegisterBenchmark(("condition/" + m).c_str(), condition_speed, m)
            ->UseManualTime()
            ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark("seq/Array/lock", seq_speed, true)->UseRealTime();
    benchmark::RegisterBenchmark("seq/Array/nolock", seq_speed, false)->UseRealTime();
}

}  // namespace

MPROC_BENCH_REGISTER(register_sync_benchmarks);

}  // namespace mproc_bench
