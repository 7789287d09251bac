// mproc_bench: Google Benchmark main that calls mproc::freeze_support first
// (under spawn/forkserver a child starts as a new copy of this program).
#include "bench_common.hpp"

int main(int argc, char** argv) {
    mproc::freeze_support(argc, argv);
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    for (auto reg : mproc_bench::registrations()) reg();
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
