// Pipe benchmarks, per start method:
//
//   pipe_stream/{str_simplex,str_duplex,bytes_simplex}/METHOD
//       the classic pipespeed: a child sends N 256-byte messages, the parent
//       receives them (std::string with send/recv<std::string>, or
//       send_bytes/recv_bytes). Timer from the parent's "go" to the N-th
//       message received; items_per_second = messages/s.
//   pipe_pingpong/{str,bytes}/METHOD
//       round trip of a 256-byte message to an echoing child over a duplex
//       Pipe; manual time per round trip, counter median_us.
//   pipe_large/METHOD
//       issue 13 item 11: a 64 MiB send_bytes to an echoing child and its
//       recv_bytes back, over a duplex Pipe; counter median_us per round
//       trip (bytes_per_second counts both directions).
#include <cstdint>
#include <string_view>
#include <vector>

#include "bench_common.hpp"

namespace mproc_bench {
namespace {

constexpr std::size_t kPayload = 256;
constexpr std::int64_t kStreamMessages = 100000;
constexpr int kPingPongWarmup = 1000;

enum class Kind : int { str, bytes };

// ---------------------------------------------------------------- streaming

void producer(mp::Connection out, mp::Connection go, std::int64_t n, int kind) {
    (void)go.recv_bytes();  // wait for the parent's "go"
    const std::string payload(kPayload, '0');
    if (Kind(kind) == Kind::str) {
        for (std::int64_t i = 0; i < n; ++i) out.send(payload);
    } else {
        for (std::int64_t i = 0; i < n; ++i) out.send_bytes(payload);
    }
    out.close();
}

void pipe_stream(benchmark::State& state, const std::string& method, Kind kind, bool duplex) {
    guarded(state, [&](benchmark::State& st) {
        const std::int64_t n = st.range(0);
        mp::Context ctx = mp::get_context(method);
        for (auto _ : st) {
            auto [r, w] = ctx.Pipe(duplex);
            auto [go_r, go_w] = ctx.Pipe(false);
            mp::Process p = ctx.Process(producer, w, go_r, n, int(kind));
            p.start();
            w.close();  // the parent's copies of the child's ends
            go_r.close();

            bool ok = true;
            auto t0 = Clock::now();
            go_w.send_bytes(std::string_view("g"));
            if (kind == Kind::str) {
                for (std::int64_t i = 0; i < n; ++i) ok &= r.recv<std::string>().size() == kPayload;
            } else {
                for (std::int64_t i = 0; i < n; ++i) ok &= r.recv_bytes().size() == kPayload;
            }
            st.SetIterationTime(seconds(t0, Clock::now()));
            p.join();
            if (!ok) throw mp::ProcessError("a message had the wrong size");
            if (p.exitcode() != 0) throw mp::ProcessError("producer failed");
        }
        st.SetItemsProcessed(st.iterations() * n);
        st.SetBytesProcessed(st.iterations() * n * std::int64_t(kPayload));
    });
}

// ---------------------------------------------------------------- ping-pong

void echo(mp::Connection c, int kind) {
    if (Kind(kind) == Kind::str) {
        for (;;) {
            auto s = c.recv<std::string>();
            if (s.empty()) break;
            c.send(s);
        }
    } else {
        for (;;) {
            auto b = c.recv_bytes();
            if (b.empty()) break;
            c.send_bytes(b);
        }
    }
}

void pipe_pingpong(benchmark::State& state, const std::string& method, Kind kind) {
    guarded(state, [&](benchmark::State& st) {
        mp::Context ctx = mp::get_context(method);
        auto [a, b] = ctx.Pipe(true);
        mp::Process p = ctx.Process(echo, b, int(kind));
        p.start();
        b.close();

        const std::string msg(kPayload, '0');
        auto round_trip = [&] {
            if (kind == Kind::str) {
                a.send(msg);
                return a.recv<std::string>().size() == kPayload;
            }
            a.send_bytes(msg);
            return a.recv_bytes().size() == kPayload;
        };
        bool ok = true;
        for (int i = 0; i < kPingPongWarmup; ++i) ok &= round_trip();
        std::vector<double> samples;
        for (auto _ : st) {
            auto t0 = Clock::now();
            ok &= round_trip();
            double dt = seconds(t0, Clock::now());
            st.SetIterationTime(dt);
            samples.push_back(dt * 1e6);
        }
        if (kind == Kind::str)
            a.send(std::string());
        else
            a.send_bytes(std::string_view());
        p.join();
        if (!ok) throw mp::ProcessError("an echoed message had the wrong size");
        if (p.exitcode() != 0) throw mp::ProcessError("echo child failed");
        st.counters["median_us"] = median(samples);
    });
}

// ---------------------------------------------------------- large messages

constexpr std::size_t kLargePayload = std::size_t(64) << 20;

void pipe_large(benchmark::State& state, const std::string& method) {
    guarded(state, [&](benchmark::State& st) {
        mp::Context ctx = mp::get_context(method);
        auto [a, b] = ctx.Pipe(true);
        mp::Process p = ctx.Process(echo, b, int(Kind::bytes));
        p.start();
        b.close();

        const std::vector<std::byte> msg(kLargePayload, std::byte{'0'});
        bool ok = true;
        std::vector<double> samples;
        for (auto _ : st) {
            auto t0 = Clock::now();
            a.send_bytes(msg);
            ok &= a.recv_bytes().size() == kLargePayload;
            double dt = seconds(t0, Clock::now());
            st.SetIterationTime(dt);
            samples.push_back(dt * 1e6);
        }
        a.send_bytes(std::string_view());
        p.join();
        if (!ok) throw mp::ProcessError("an echoed message had the wrong size");
        if (p.exitcode() != 0) throw mp::ProcessError("echo child failed");
        st.counters["median_us"] = median(samples);
        st.SetBytesProcessed(st.iterations() * 2 * std::int64_t(kLargePayload));
    });
}

void register_pipe_benchmarks() {
    struct Stream {
        const char* name;
        Kind kind;
        bool duplex;
    };
    const Stream streams[] = {{"str_simplex", Kind::str, false},
                              {"str_duplex", Kind::str, true},
                              {"bytes_simplex", Kind::bytes, false}};
    for (const auto& m : start_methods()) {
        for (const auto& s : streams)
            benchmark::RegisterBenchmark(("pipe_stream/" + std::string(s.name) + "/" + m).c_str(),
                                         pipe_stream, m, s.kind, s.duplex)
                ->Arg(kStreamMessages)
                ->ArgName("n")
                ->MinTime(2.0)  // at least two children: one is too noisy here
                ->UseManualTime()
                ->Unit(benchmark::kMillisecond);
        for (auto [name, kind] : {std::pair{"str", Kind::str}, std::pair{"bytes", Kind::bytes}})
            benchmark::RegisterBenchmark(("pipe_pingpong/" + std::string(name) + "/" + m).c_str(),
                                         pipe_pingpong, m, kind)
                ->UseManualTime()
                ->Unit(benchmark::kMicrosecond);
        benchmark::RegisterBenchmark(("pipe_large/" + m).c_str(), pipe_large, m)
            ->MinTime(1.0)
            ->UseManualTime()
            ->Unit(benchmark::kMillisecond);
    }
}

}  // namespace

MPROC_BENCH_REGISTER(register_pipe_benchmarks);

}  // namespace mproc_bench
