// primes_demo: the flagship demo (./scripts/demo). A CPU-bound job, counting
// the primes below N by trial division, cut into ranges and mapped over a
// Pool with one worker per CPU, under each start method that can be loaded,
// with a live progress bar read from map_async's done() / total(). It prints
// the speed-up over one process doing the same work, and over CPython's
// multiprocessing.Pool doing the same work on this machine (same algorithm,
// same ranges, fork start method), when python3 is there.
//
//   primes_demo            N = 2 000 000 in 200 ranges
//   primes_demo --quick    N = 300 000 in 100 ranges (the test)
//   primes_demo --no-python
//
// The task is a plain function taking a pair and returning a number, so the
// same code runs under fork, spawn and forkserver.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/core.h>

#include <mproc/mproc.hpp>

namespace mp = mproc;
using Clock = std::chrono::steady_clock;
using Range = std::pair<std::int64_t, std::int64_t>;

// The primes in [lo, hi), by trial division by odd numbers.
std::int64_t count_primes(Range r) {
    std::int64_t n = 0;
    for (std::int64_t x = std::max<std::int64_t>(r.first, 2); x < r.second; ++x) {
        if (x < 4) {
            ++n;
            continue;
        }
        if (x % 2 == 0) continue;
        bool prime = true;
        for (std::int64_t d = 3; d * d <= x; d += 2)
            if (x % d == 0) {
                prime = false;
                break;
            }
        n += prime;
    }
    return n;
}

// The same function in Python, run by CPython's own Pool.
constexpr const char* python_twin = R"(
import multiprocessing as mp, os, sys, time
def count_primes(r):
    lo, hi = r
    n = 0
    for x in range(max(lo, 2), hi):
        if x < 4:
            n += 1
            continue
        if x % 2 == 0:
            continue
        d = 3
        prime = True
        while d * d <= x:
            if x % d == 0:
                prime = False
                break
            d += 2
        n += prime
    return n
if __name__ == "__main__":
    N, K, P = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    ranges = [(N * i // K, N * (i + 1) // K) for i in range(K)]
    with mp.get_context("fork").Pool(P) as pool:
        t0 = time.perf_counter()
        total = sum(pool.map(count_primes, ranges, 1))
        dt = time.perf_counter() - t0
    print(total, dt, sys.version.split()[0])
)";

double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

// "[#####.....] 42/200" (the total is "?" until the pool has read the input).
std::string progress(std::size_t done, std::optional<std::size_t> total, int width = 30) {
    const int filled = total && *total ? int(double(done) / double(*total) * width) : 0;
    return "[" + std::string(std::size_t(filled), '#') +
           std::string(std::size_t(width - filled), '.') + "] " + std::to_string(done) + "/" +
           (total ? std::to_string(*total) : std::string("?"));
}

struct PythonRun {
    std::int64_t primes = 0;
    double seconds = 0;
    std::string version;
};

// Runs the Python twin with python3 -c; nullopt if python3 is not there.
std::optional<PythonRun> run_python(std::int64_t n, int ranges, int processes) {
    if (std::system("command -v python3 >/dev/null 2>&1") != 0) return std::nullopt;
    std::string script = python_twin;
    std::string quoted = "'";
    for (char c : script) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    quoted += "'";
    const std::string cmd = fmt::format("python3 -c {} {} {} {}", quoted, n, ranges, processes);
    std::FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) return std::nullopt;
    char line[256] = {};
    const bool got = std::fgets(line, sizeof line, p) != nullptr;
    const int status = ::pclose(p);
    if (!got || status != 0) return std::nullopt;
    PythonRun r;
    char version[64] = {};
    long long primes = 0;
    if (std::sscanf(line, "%lld %lf %63s", &primes, &r.seconds, version) != 3) return std::nullopt;
    r.primes = primes;
    r.version = version;
    return r;
}

int main(int argc, char** argv) {
    mp::freeze_support(argc, argv);
    bool quick = false, python = true;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--quick") == 0) quick = true;
        if (std::strcmp(argv[i], "--no-python") == 0) python = false;
    }
    const std::int64_t n = quick ? 300'000 : 2'000'000;
    const int k = quick ? 100 : 200;
    std::vector<Range> ranges;
    for (int i = 0; i < k; ++i) ranges.emplace_back(n * i / k, n * (i + 1) / k);
    const int cpus = mp::cpu_count();
    const bool tty = ::isatty(STDOUT_FILENO);

    fmt::print("Counting the primes below {} in {} ranges (trial division), {} CPUs\n", n, k, cpus);
    auto t0 = Clock::now();
    std::int64_t expected = 0;
    for (auto r : ranges) expected += count_primes(r);
    const double one = seconds_since(t0);
    fmt::print("one process: {} primes in {:.2f} s\n", expected, one);
    double load = 0;
    if (::getloadavg(&load, 1) == 1 && load > cpus)
        fmt::print(stderr,
                   "note: this machine is busy (load average {:.1f} on {} CPUs): the speed-ups "
                   "are lower than on an idle machine\n",
                   load, cpus);
    std::fflush(stdout);

    double fork_time = 0;
    for (const auto& method : mp::get_all_start_methods()) {
        auto ctx = mp::get_context(method);
        mp::Pool pool(ctx, cpus);
        auto t1 = Clock::now();
        auto result = pool.map_async(count_primes, ranges, 1);
        // The live progress bar: done() of total() ranges, redrawn in place.
        while (!result.ready()) {
            if (tty) {
                fmt::print("\r{:<11} {}", method, progress(result.done(), result.total()));
                std::fflush(stdout);
            }
            result.wait(std::chrono::milliseconds(50));
        }
        std::int64_t primes = 0;
        for (auto c : result.get()) primes += c;
        const double dt = seconds_since(t1);
        if (method == "fork") fork_time = dt;
        fmt::print("{}{:<11} {} ranges, {} primes in {:.2f} s: {:.2f}x one process\n",
                   tty ? "\r" : "", method, progress(result.done(), result.total()), primes, dt,
                   one / dt);
        if (primes != expected) {
            fmt::print("WRONG: {} primes, one process found {}\n", primes, expected);
            return 1;
        }
        pool.close();
        pool.join();
    }

    if (!python) return 0;
    auto py = run_python(n, k, cpus);
    if (!py) {
        fmt::print("CPython: python3 not found (or it failed)\n");
    } else {
        fmt::print("CPython {} multiprocessing.Pool (fork, {} processes): {} primes in {:.2f} s\n",
                   py->version, cpus, py->primes, py->seconds);
        if (py->primes != expected) {
            fmt::print("WRONG: CPython found {} primes, mproc {}\n", py->primes, expected);
            return 1;
        }
    }
    if (py && fork_time > 0)
        fmt::print("mproc's Pool (fork) is {:.1f}x faster than CPython's Pool on this work\n",
                   py->seconds / fork_time);
    else
        fmt::print("mproc's Pool: no comparison with CPython's Pool\n");
    return 0;
}
