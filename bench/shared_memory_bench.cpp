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
//
//   shared_memory/cycle_1MiB/raw_syscalls
//       the floor of the same cycle made of the system calls CPython's
//       SharedMemory makes, without its interpreter or tracker: shm_open
//       (O_CREAT|O_EXCL), ftruncate, mmap; shm_open, fstat, mmap; munmap and
//       close twice; shm_unlink. Counter median_us.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
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

void shm_cycle_raw(benchmark::State& state) {
    guarded(state, [&](benchmark::State& st) {
        constexpr std::size_t size = 1 << 20;
        const std::string name = "/mproc_bench_raw_" + std::to_string(::getpid());
        auto check = [](bool ok, const char* what) {
            if (!ok) throw mp::ProcessError(std::string("raw shm cycle: ") + what + " failed");
        };
        std::vector<double> samples;
        for (auto _ : st) {
            auto t0 = Clock::now();
            int a = ::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
            check(a >= 0 && ::ftruncate(a, off_t(size)) == 0, "create");
            void* pa = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, a, 0);
            int b = ::shm_open(name.c_str(), O_RDWR, 0);
            struct stat sb;
            check(pa != MAP_FAILED && b >= 0 && ::fstat(b, &sb) == 0, "attach");
            void* pb =
                ::mmap(nullptr, std::size_t(sb.st_size), PROT_READ | PROT_WRITE, MAP_SHARED, b, 0);
            check(pb != MAP_FAILED, "mmap");
            ::munmap(pb, size);
            ::close(b);
            ::munmap(pa, size);
            ::close(a);
            check(::shm_unlink(name.c_str()) == 0, "shm_unlink");
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
    benchmark::RegisterBenchmark("shared_memory/cycle_1MiB/raw_syscalls", shm_cycle_raw)
        ->UseManualTime();
}

MPROC_BENCH_REGISTER(register_shared_memory_benchmarks);

}  // namespace
}  // namespace mproc_bench
