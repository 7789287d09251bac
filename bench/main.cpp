// mproc_bench: Google Benchmark main that calls mproc::freeze_support first
// (under spawn/forkserver a child starts as a new copy of this program).
//
//   mproc_bench --noop   returns 0 right after freeze_support: the raw
//                        reference for spawn (bench/compare launches this
//                        binary so with posix_spawn; it pays the same process
//                        start and dynamic loading as a spawn child does)
#include <cstring>

#include "bench_common.hpp"

int main(int argc, char** argv) {
    mproc::freeze_support(argc, argv);
    if (argc >= 2 && std::strcmp(argv[1], "--noop") == 0) return 0;
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    for (auto reg : mproc_bench::registrations()) reg();
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
