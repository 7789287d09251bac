// shared_memory benchmarks (CPython's twin: bench/python/shared_memory_cycle.py):
//
//   shared_memory/cycle_1MiB[/untracked]
//       one iteration: create a 1 MiB SharedMemory, attach to it by name,
//       close both, unlink (the cycle of issue 16). Pages are not touched,
//       as in the twin. Counter median_us: the median iteration. The
//       tracked one includes the tracker's work (user locks, a record in
//       the watcher's ring per created block; the watcher itself runs in
//       another process). The attach is by a name this process has open:
//       it shares the process's mapping (one stat; docs/shared_memory.md).
#include <vector>

#include "bench_common.hpp"

namespace mproc_bench {
namespace {

namespace smem = mproc::shared_memory;

void shm_cycle(benchmark::State& state, bool track) {
    guarded(state, [&](benchmark::State& st) {
        std::vector<double> samples;
        for (auto _ : st) {
            auto t0 = Clock::now();
            auto a = smem::SharedMemory::create(1 << 20, {}, track);
            smem::SharedMemory b(a.name(), false, 0, track);
            b.close();
            a.close();
            a.unlink();
            double s = seconds(t0, Clock::now());
            st.SetIterationTime(s);
            samples.push_back(s * 1e6);
        }
        st.counters["median_us"] = median(samples);
        st.SetItemsProcessed(st.iterations());
    });
}

void register_shared_memory_benchmarks() {
    benchmark::RegisterBenchmark("shared_memory/cycle_1MiB", shm_cycle, true)->UseManualTime();
    benchmark::RegisterBenchmark("shared_memory/cycle_1MiB/untracked", shm_cycle, false)
        ->UseManualTime();
}

MPROC_BENCH_REGISTER(register_shared_memory_benchmarks);

}  // namespace
}  // namespace mproc_bench
