// Queue benchmarks, per start method:
//
//   queue_stream/str/METHOD
//       the classic queuespeed: a child puts N 256-byte std::strings, the
//       parent gets them. Timer from the parent's "go" to the N-th item got;
//       items_per_second = objects/s.
//   queue_stream/mib/METHOD
//       the same with 1 MiB std::strings (they cross by pipe, not the ring);
//       bytes_per_second.
#include <cstdint>
#include <string_view>

#include "bench_common.hpp"

namespace mproc_bench {
namespace {

constexpr std::int64_t kSmall = 256, kLarge = 1 << 20;

void producer(mp::Queue<std::string> q, mp::Connection go, std::int64_t n, std::int64_t size) {
    (void)go.recv_bytes();  // wait for the parent's "go"
    const std::string payload(std::size_t(size), '0');
    for (std::int64_t i = 0; i < n; ++i) q.put(payload);
}

void queue_stream(benchmark::State& state, const std::string& method, std::int64_t size) {
    guarded(state, [&](benchmark::State& st) {
        const std::int64_t n = st.range(0);
        mp::Context ctx = mp::get_context(method);
        for (auto _ : st) {
            auto q = ctx.Queue<std::string>();
            auto [go_r, go_w] = ctx.Pipe(false);
            mp::Process p = ctx.Process(producer, q, go_r, n, size);
            p.start();
            go_r.close();

            bool ok = true;
            auto t0 = Clock::now();
            go_w.send_bytes(std::string_view("g"));
            for (std::int64_t i = 0; i < n; ++i) ok &= std::int64_t(q.get().size()) == size;
            st.SetIterationTime(seconds(t0, Clock::now()));
            p.join();
            if (!ok) throw mp::ProcessError("an item had the wrong size");
            if (p.exitcode() != 0) throw mp::ProcessError("producer failed");
        }
        st.SetItemsProcessed(st.iterations() * n);
        st.SetBytesProcessed(st.iterations() * n * size);
    });
}

void register_queue_benchmarks() {
    for (const auto& m : start_methods()) {
        benchmark::RegisterBenchmark(("queue_stream/str/" + m).c_str(), queue_stream, m, kSmall)
            ->Arg(200000)
            ->ArgName("n")
            ->MinTime(2.0)  // at least a few children: one is too noisy here
            ->UseManualTime()
            ->Unit(benchmark::kMillisecond);
        benchmark::RegisterBenchmark(("queue_stream/mib/" + m).c_str(), queue_stream, m, kLarge)
            ->Arg(500)
            ->ArgName("n")
            ->MinTime(2.0)
            ->UseManualTime()
            ->Unit(benchmark::kMillisecond);
    }
}

}  // namespace

MPROC_BENCH_REGISTER(register_queue_benchmarks);

}  // namespace mproc_bench
