// Listener/Client benchmarks (fork start method, as CPython's twin in
// bench/python/listener_client.py):
//
//   listener_stream/{unix,tcp}
//       a child connects with Client (authenticated with the inherited
//       authkey) and sends N 256-byte std::strings; the parent, which
//       accepted the connection, receives them. Timer from the parent's
//       "go" to the N-th message; items_per_second = objects/s.
#include <cstdint>
#include <string_view>

#include "bench_common.hpp"

namespace mproc_bench {
namespace {

namespace mpc = mproc::connection;

constexpr std::size_t kPayload = 256;
constexpr std::int64_t kStreamMessages = 100000;

void client_producer(std::string path, std::int64_t port, std::int64_t n) {
    mpc::Address where = port >= 0 ? mpc::Address("127.0.0.1", long(port)) : mpc::Address(path);
    mp::Connection c = mpc::Client(where, mpc::process_authkey);
    (void)c.recv_bytes();  // the parent's "go"
    const std::string payload(kPayload, '0');
    for (std::int64_t i = 0; i < n; ++i) c.send(payload);
    c.close();
}

void listener_stream(benchmark::State& state, bool tcp) {
    guarded(state, [&](benchmark::State& st) {
        const std::int64_t n = st.range(0);
        mp::Context ctx = mp::get_context("fork");
        mpc::Listener listener(tcp ? mpc::Address("127.0.0.1", 0) : mpc::Address(),
                               mpc::process_authkey);
        const auto& a = listener.address();
        const std::string path = a.path() ? *a.path() : std::string();
        const std::int64_t port = a.inet() ? a.inet()->port : -1;
        for (auto _ : st) {
            mp::Process p = ctx.Process(client_producer, path, port, n);
            p.start();
            mp::Connection r = listener.accept();
            bool ok = true;
            auto t0 = Clock::now();
            r.send_bytes(std::string_view("g"));
            for (std::int64_t i = 0; i < n; ++i) ok &= r.recv<std::string>().size() == kPayload;
            st.SetIterationTime(seconds(t0, Clock::now()));
            p.join();
            if (!ok) throw mp::ProcessError("a message had the wrong size");
            if (p.exitcode() != 0) throw mp::ProcessError("client failed");
        }
        st.SetItemsProcessed(st.iterations() * n);
        st.SetBytesProcessed(st.iterations() * n * std::int64_t(kPayload));
    });
}

void register_listener_benchmarks() {
    for (auto [name, tcp] : {std::pair{"unix", false}, std::pair{"tcp", true}})
        benchmark::RegisterBenchmark(("listener_stream/" + std::string(name)).c_str(),
                                     listener_stream, tcp)
            ->Arg(kStreamMessages)
            ->ArgName("n")
            ->MinTime(2.0)
            ->UseManualTime()
            ->Unit(benchmark::kMillisecond);
}

}  // namespace

MPROC_BENCH_REGISTER(register_listener_benchmarks);

}  // namespace mproc_bench
