// Pool: every method under every start method (apply, apply_async, map,
// map_async, starmap, imap, imap_unordered, callbacks, close/terminate/join
// rules), task errors crossing with their types, worker death (the crash
// matrix), a failing initializer, task_timeout, maxtasksperchild,
// max_memory_per_child, worker names, and SIGINT during map.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <list>
#include <numeric>
#include <ranges>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support.hpp"

namespace mp = mproc;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using Clock = std::chrono::steady_clock;
using mproc::test::seconds_since;

namespace {

int sq(int x) {
    return x * x;
}
std::string big_text(int i) {
    return std::string(std::size_t(256 * 1024 + i), char('a' + i % 26));
}
std::string widen(const std::string& s) {
    return std::string(256 * 1024, s.at(0));
}
double twice(double x) {
    return 2 * x;
}
int mul(int a, int b) {
    return a * b;
}
int pid_of(int) {
    return int(::getpid());
}
std::string name_of(int) {
    return mp::current_process().name();
}
void nothing(int) {}
int sleep_ms(int ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return ms;
}
int set_then_sleep(mp::Connection started) {
    started.send_bytes(std::string_view("s"));
    std::this_thread::sleep_for(60s);
    return 0;
}
int throws_invalid(int x) {
    if (x == 3) throw std::invalid_argument("three is bad");
    return x;
}

struct MyError : std::runtime_error {
    using std::runtime_error::runtime_error;
};
int throws_custom(int) {
    throw MyError("custom trouble");
}
int throws_mproc(int) {
    throw mp::BufferTooShort({});  // not a message-constructible type: RemoteError
}
int throws_value_error(int) {
    throw mp::ValueError("mproc value error");
}
int throws_int(int) {
    throw 42;
}

// The crash matrix: each behaves according to its argument.
int crash(int how) {
    switch (how) {
        case 1:
            ::raise(SIGSEGV);
            break;
        case 2:
            std::_Exit(3);
        case 3:
            ::kill(::getpid(), SIGKILL);
            break;
        case 4:
            throw std::runtime_error("thrown");
        case 6:
            std::this_thread::sleep_for(60s);
            break;
        default:
            break;
    }
    return how * 10;
}

struct Unencodable {
    int v = 0;
};

}  // namespace

template <>
struct mproc::codec<Unencodable> {
    static void encode(Encoder&, const Unencodable&) {
        throw SerializationError("Unencodable cannot be encoded");
    }
    static Unencodable decode(Decoder& d) { return Unencodable{int(d.read_int())}; }
};

namespace {

Unencodable make_unencodable(int x) {
    return Unencodable{x};
}

int init_counter = 0;
void set_counter(int v) {
    init_counter = v;
}
int read_counter(int) {
    return init_counter;
}
void failing_init(int) {
    throw std::runtime_error("initializer broke");
}
void crashing_init() {
    std::_Exit(7);
}

std::vector<char> hog;
int grow(int mb) {
    hog.resize(std::size_t(mb) << 20, 1);
    return int(::getpid());
}

// A worker's resident memory in MiB (the second field of /proc/self/statm,
// in pages).
std::int64_t resident_mib(int) {
    std::ifstream statm("/proc/self/statm");
    std::int64_t size = 0, resident = 0;
    statm >> size >> resident;
    return resident * ::sysconf(_SC_PAGESIZE) >> 20;
}

}  // namespace

TEST_CASE("Pool: apply, apply_async, map, starmap, imap, imap_unordered", "[pool]") {
    FOR_EACH_START_METHOD(ctx);
    auto pool = ctx.Pool(2);
    CHECK(pool.processes() == 2);
    CHECK(pool.apply(sq, 7) == 49);
    CHECK(pool.apply(mul, 6, 7) == 42);
    auto r = pool.apply_async(sq, 20);
    CHECK(r.get(10s) == 400);
    CHECK(r.ready());
    CHECK(r.successful());

    CHECK(pool.map(sq, std::vector<int>{1, 2, 3}) == std::vector<int>{1, 4, 9});
    CHECK(pool.map(sq, std::views::iota(0, 10)) ==
          std::vector<int>{0, 1, 4, 9, 16, 25, 36, 49, 64, 81});
    std::list<int> l{5, 6};
    CHECK(pool.map(sq, l, 1) == std::vector<int>{25, 36});
    CHECK(pool.map(sq, std::vector<int>{}).empty());
    std::vector<std::tuple<int, int>> pairs{{1, 2}, {3, 4}};
    CHECK(pool.starmap(mul, pairs) == std::vector<int>{2, 12});
    auto ma = pool.map_async(sq, std::views::iota(0, 100));
    CHECK(ma.total() == 100);  // known at once, as Python's MapResult
    auto v = ma.get(30s);
    REQUIRE(v.size() == 100);
    CHECK(v[99] == 99 * 99);
    CHECK(ma.done() == 100);
    CHECK(ma.total() == 100);
    CHECK(pool.starmap_async(mul, pairs).get() == std::vector<int>{2, 12});
    {
        // map_async takes a copy of its input (as Python's list of it): the
        // caller's vector may change or go at once.
        auto input = std::make_unique<std::vector<int>>(std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8});
        auto copied = pool.map_async(sq, *input, 1);
        std::fill(input->begin(), input->end(), -1);
        input.reset();
        CHECK(copied.get(30s) == std::vector<int>{1, 4, 9, 16, 25, 36, 49, 64});
    }
    std::vector<double> many(100000);
    std::iota(many.begin(), many.end(), 0.0);  // map reads a contiguous input in place
    auto doubled = pool.map(twice, many);
    REQUIRE(doubled.size() == many.size());
    CHECK(doubled[0] == 0.0);
    CHECK(doubled[54321] == 108642.0);
    CHECK(doubled.back() == 199998.0);

    std::vector<int> got;
    for (int x : pool.imap(sq, std::views::iota(0, 10))) got.push_back(x);
    CHECK(got == std::vector<int>{0, 1, 4, 9, 16, 25, 36, 49, 64, 81});
    std::multiset<int> unordered;
    for (int x : pool.imap_unordered(sq, std::views::iota(0, 10), 3)) unordered.insert(x);
    CHECK(unordered == std::multiset<int>{0, 1, 4, 9, 16, 25, 36, 49, 64, 81});
    auto void_result = pool.map(nothing, std::vector<int>{1, 2});
    CHECK(void_result.size() == 2);
    pool.apply_async(nothing, 1).get();
    pool.close();
    pool.join();
}

TEST_CASE("Pool: results and arguments larger than a pipe's buffer, amid small ones", "[pool]") {
    FOR_EACH_START_METHOD(ctx);
    mp::Pool pool(ctx, 2);
    // Small tasks pipeline several chunks per worker while workers write
    // results of 256 KiB: neither side may block the other.
    auto big = pool.map(big_text, std::views::iota(0, 60), 1);
    REQUIRE(big.size() == 60);
    for (int i = 0; i < 60; ++i) {
        CHECK(big[std::size_t(i)].size() == std::size_t(256 * 1024 + i));
        CHECK(big[std::size_t(i)].front() == char('a' + i % 26));
    }
    // Arguments of 20 KiB (several in flight to a busy worker) whose results
    // are 256 KiB, and arguments of 256 KiB (sent to idle workers only).
    std::vector<std::string> inputs;
    for (int i = 0; i < 40; ++i)
        inputs.push_back(i % 4 ? std::string(20 * 1024, char('a' + i % 26)) : big_text(i));
    auto widened = pool.map(widen, inputs, 1);
    REQUIRE(widened.size() == 40);
    for (int i = 0; i < 40; ++i)
        CHECK(widened[std::size_t(i)] == std::string(256 * 1024, char('a' + i % 26)));
}

TEST_CASE("Pool: Python's default chunksize and imap's laziness", "[pool]") {
    FOR_EACH_START_METHOD(ctx);
    mp::Pool pool(ctx, 2);
    // 100 items, 2 processes: chunks of ceil(100 / 8) = 13, so a worker
    // runs 13 items in a row and the pids come in runs.
    auto pids = pool.map(pid_of, std::views::iota(0, 100));
    int runs = 1;
    for (std::size_t i = 1; i < pids.size(); ++i) runs += pids[i] != pids[i - 1];
    CHECK(runs <= 8);

    // imap reads its input lazily: an endless input works, a bounded
    // number of items ahead of what was consumed.
    std::atomic<int> read{0};
    auto endless = std::views::iota(0) | std::views::transform([&](int x) {
                       ++read;
                       return x;
                   });
    auto it = pool.imap(sq, endless);
    for (int k = 0; k < 5; ++k) CHECK(it.next(10s) == k * k);
    CHECK(read.load() < 100);
    pool.terminate();
}

TEST_CASE("Pool: get and next time out; successful() before ready; callbacks", "[pool]") {
    FOR_EACH_START_METHOD(ctx);
    auto pool = ctx.Pool(1);
    auto slow = pool.apply_async(sleep_ms, 300);
    CHECK_THROWS_AS(slow.get(10ms), mp::TimeoutError);
    CHECK_FALSE(slow.ready());
    CHECK_THROWS_AS(slow.successful(), mp::ValueError);
    slow.wait(10ms);
    auto it = pool.imap(sleep_ms, std::vector<int>{300});
    CHECK_THROWS_AS(it.next(10ms), mp::TimeoutError);
    CHECK(slow.get() == 300);
    CHECK(it.next() == 300);
    CHECK(it.next() == std::nullopt);

    std::mutex m;
    std::vector<int> values;
    std::thread::id cb_thread;
    std::string error;
    auto r = pool.apply_async(sq, std::tuple{9}, [&](const int& v) {
        std::lock_guard lock(m);
        values.push_back(v);
        cb_thread = std::this_thread::get_id();
    });
    CHECK(r.get() == 81);
    auto e = pool.apply_async(
        throws_invalid, std::tuple{3}, [&](const int&) {},
        [&](std::exception_ptr x) {
            try {
                std::rethrow_exception(x);
            } catch (const std::exception& ex) {
                std::lock_guard lock(m);
                error = ex.what();
            }
        });
    e.wait();
    CHECK_FALSE(e.successful());
    auto ma =
        pool.map_async(sq, std::vector<int>{1, 2}, std::nullopt, [&](const std::vector<int>& v) {
            std::lock_guard lock(m);
            values.insert(values.end(), v.begin(), v.end());
        });
    ma.wait();
    std::lock_guard lock(m);
    CHECK(values == std::vector<int>{81, 1, 4});
    CHECK(cb_thread != std::this_thread::get_id());  // the pool's result thread
    CHECK(error == "three is bad");
}

TEST_CASE("Pool: close, terminate and join rules; the destructor terminates", "[pool]") {
    FOR_EACH_START_METHOD(ctx);
    {
        auto pool = ctx.Pool(2);
        CHECK_THROWS_AS(pool.join(), mp::ValueError);
        auto r = pool.map_async(sleep_ms, std::vector<int>{50, 50, 50});
        pool.close();
        CHECK_THROWS_AS(pool.apply(sq, 1), mp::ValueError);
        pool.join();  // queued work finishes first
        CHECK(r.ready());
        CHECK(r.get() == std::vector<int>{50, 50, 50});
    }
    {
        auto pool = ctx.Pool(1);
        auto r = pool.apply_async(sleep_ms, 60000);
        auto start = Clock::now();
        pool.terminate();
        pool.join();
        CHECK(seconds_since(start) < 5);
        CHECK_THROWS_WITH(r.get(5s), Contains("terminated"));
    }
    {
        auto start = Clock::now();
        auto pool = ctx.Pool(2);
        pool.apply_async(sleep_ms, 60000);
        // leaving the scope terminates
        (void)start;
    }
    CHECK(mproc::test::child_pids().empty());
}

TEST_CASE("Pool: workers are named by the start method", "[pool]") {
    FOR_EACH_START_METHOD(ctx);
    auto pool = ctx.Pool(1);
    std::string expected = mproc_method_ == "fork"         ? "ForkPoolWorker-"
                           : mproc_method_ == "spawn"      ? "SpawnPoolWorker-"
                           : mproc_method_ == "forkserver" ? "ForkServerPoolWorker-"
                                                           : "PoolWorker-";
    CHECK_THAT(pool.apply(name_of, 0), Contains(expected));
}

TEST_CASE("Pool: task errors are rethrown with their type, else as RemoteError", "[pool]") {
    FOR_EACH_START_METHOD(ctx);
    auto pool = ctx.Pool(2);
    CHECK_THROWS_MATCHES(pool.apply(throws_invalid, 3), std::invalid_argument,
                         Catch::Matchers::Message("three is bad"));
    CHECK_THROWS_MATCHES(pool.apply(throws_value_error, 0), mp::ValueError,
                         Catch::Matchers::Message("mproc value error"));
    try {
        pool.apply(throws_custom, 0);
        FAIL("no exception");
    } catch (const mp::RemoteError& e) {
        CHECK_THAT(e.type_name(), Contains("MyError"));
        CHECK(e.message() == "custom trouble");
        CHECK_THAT(e.worker(), Contains("PoolWorker-"));
    }
    CHECK_THROWS_AS(pool.apply(throws_mproc, 0), mp::RemoteError);
    try {
        pool.apply(throws_int, 0);
        FAIL("no exception");
    } catch (const mp::RemoteError& e) {
        CHECK(e.type_name() == "int");
    }
    // map throws the first failing item's error; imap throws at the item
    // and goes on after it.
    CHECK_THROWS_AS(pool.map(throws_invalid, std::views::iota(0, 10)), std::invalid_argument);
    auto it = pool.imap(throws_invalid, std::views::iota(0, 6));
    std::vector<int> got;
    int errors = 0;
    for (;;) {
        try {
            auto v = it.next(10s);
            if (!v) break;
            got.push_back(*v);
        } catch (const std::invalid_argument&) {
            ++errors;
        }
    }
    CHECK(got == std::vector<int>{0, 1, 2, 4, 5});
    CHECK(errors == 1);
    // A result that cannot be encoded fails its task, not the pool.
    CHECK_THROWS_WITH(pool.apply(make_unencodable, 1), Contains("cannot be encoded"));
    CHECK(pool.apply(sq, 3) == 9);
}

TEST_CASE("Pool: a capturing lambda is a task under fork only", "[pool]") {
    FOR_EACH_START_METHOD(ctx);
    auto pool = ctx.Pool(1);
    int k = 5;
    auto add_k = [k](int x) { return x + k; };
    if (mproc_method_ == "fork") {
        CHECK(pool.map(add_k, std::vector<int>{1, 2}) == std::vector<int>{6, 7});
    } else {
        CHECK_THROWS_WITH(pool.map(add_k, std::vector<int>{1, 2}), Contains("plain function"));
    }
    std::string s = "x";
    auto holds_string = [s](int x) { return x + int(s.size()); };
    CHECK_THROWS_WITH(pool.apply(holds_string, 1), Contains("trivially copyable"));
    CHECK(pool.apply(
              +[](int x) { return x * 3; }, 2) == 6);
}

TEST_CASE("Pool: the crash matrix, each failing only its own task", "[pool]") {
    FOR_EACH_START_METHOD(ctx);
    mp::PoolOptions opts;
    opts.processes = 2;
    opts.task_timeout = 1s;
    auto pool = ctx.Pool(opts);
    auto start = Clock::now();
    auto segv = pool.apply_async(crash, 1);
    auto exit3 = pool.apply_async(crash, 2);
    auto killed = pool.apply_async(crash, 3);
    auto thrown = pool.apply_async(crash, 4);
    auto unencodable = pool.apply_async(make_unencodable, 5);
    auto hangs = pool.apply_async(crash, 6);
    std::vector<mp::AsyncResult<int>> fine;
    for (int k = 0; k < 10; ++k) fine.push_back(pool.apply_async(crash, 0));

    try {
        segv.get(10s);
        FAIL("no error");
    } catch (const mp::WorkerLostError& e) {
        CHECK(e.how() == "signal 11 (SIGSEGV)");
        CHECK(e.pid() > 0);
        CHECK_THAT(e.what(), Contains("SIGSEGV"));
    }
    try {
        exit3.get(10s);
        FAIL("no error");
    } catch (const mp::WorkerLostError& e) {
        CHECK(e.how() == "exit code 3");
    }
    try {
        killed.get(10s);
        FAIL("no error");
    } catch (const mp::WorkerLostError& e) {
        CHECK(e.how() == "signal 9 (SIGKILL)");
    }
    CHECK_THROWS_MATCHES(thrown.get(10s), std::runtime_error, Catch::Matchers::Message("thrown"));
    CHECK_THROWS_AS(unencodable.get(10s), mp::SerializationError);
    CHECK_THROWS_AS(hangs.get(10s), mp::TimeoutError);
    for (auto& r : fine) CHECK(r.get(10s) == 0);
    CHECK(seconds_since(start) < 2 + 1);  // 1 s of task_timeout, then within 2 s
    CHECK(pool.map(sq, std::views::iota(0, 20)).size() == 20);
}

TEST_CASE("Pool: map over inputs with a crasher throws instead of hanging", "[pool]") {
    FOR_EACH_START_METHOD(ctx);
    auto pool = ctx.Pool(2);
    std::vector<int> in{0, 0, 3, 0, 0};
    CHECK_THROWS_AS(pool.map(crash, in, 1), mp::WorkerLostError);
    auto it = pool.imap(crash, in);
    std::vector<int> ok;
    int lost = 0;
    for (;;) {
        try {
            auto v = it.next(10s);
            if (!v) break;
            ok.push_back(*v);
        } catch (const mp::WorkerLostError&) {
            ++lost;
        }
    }
    CHECK(ok.size() == 4);
    CHECK(lost == 1);
}

TEST_CASE("Pool: a worker's death is noticed quickly", "[pool]") {
    FOR_EACH_START_METHOD(ctx);
    auto pool = ctx.Pool(1);
    int pid = pool.apply(pid_of, 0);
    auto [started_r, started_w] = ctx.Pipe(false);
    auto r = pool.apply_async(set_then_sleep, started_w);
    REQUIRE(started_r.poll(10s));
    auto start = Clock::now();
    ::kill(pid, SIGKILL);
    CHECK_THROWS_AS(r.get(10s), mp::WorkerLostError);
    CHECK(seconds_since(start) < 0.5);
    CHECK(pool.apply(pid_of, 0) != pid);
}

TEST_CASE("Pool: initializer runs once per worker; a failing one errors, no loop", "[pool]") {
    FOR_EACH_START_METHOD(ctx);
    {
        auto pool = ctx.Pool(mp::PoolOptions{.processes = 2}, set_counter, 17);
        CHECK(pool.map(read_counter, std::views::iota(0, 10)) == std::vector<int>(10, 17));
    }
    {
        auto pool = ctx.Pool(mp::PoolOptions{.processes = 2}, failing_init, 0);
        CHECK_THROWS_WITH(pool.map(sq, std::views::iota(0, 10)),
                          Contains("initializer failed") && Contains("initializer broke"));
        CHECK_THROWS_WITH(pool.apply(sq, 1), Contains("initializer"));
    }
    {
        auto pool = ctx.Pool(mp::PoolOptions{.processes = 1}, crashing_init);
        CHECK_THROWS_WITH(pool.apply(sq, 1), Contains("initializer") && Contains("exit code 7"));
    }
}

TEST_CASE("Pool: maxtasksperchild and max_memory_per_child replace workers", "[pool]") {
    FOR_EACH_START_METHOD(ctx);
    {
        auto pool = ctx.Pool(mp::PoolOptions{.processes = 1, .maxtasksperchild = 2});
        auto pids = pool.map(pid_of, std::views::iota(0, 6), 1);
        CHECK(pids[0] == pids[1]);
        CHECK(pids[1] != pids[2]);
        CHECK(pids[2] == pids[3]);
        CHECK(pids[3] != pids[4]);
    }
    {
        // The limit is 200 MiB above what a fresh worker holds (far more
        // than usual under ASan, whose shadow memory counts as resident).
        const auto baseline = ctx.Pool(1).apply(resident_mib, 0);
        mp::PoolOptions o;
        o.processes = 1;
        o.max_memory_per_child = std::size_t(baseline + 200) << 20;
        auto pool = ctx.Pool(o);
        int a = pool.apply(grow, 1);
        int b = pool.apply(grow, 1);
        CHECK(a == b);
        int c = pool.apply(grow, 300);  // past the limit: replaced after this task
        CHECK(c == a);
        CHECK(pool.apply(grow, 1) != c);
    }
}

TEST_CASE("Pool: SIGINT during map throws and terminates the workers", "[pool]") {
    FOR_EACH_START_METHOD(ctx);
    auto pool = ctx.Pool(2);
    std::thread t([] {
        std::this_thread::sleep_for(200ms);
        ::kill(::getpid(), SIGINT);
    });
    auto start = Clock::now();
    CHECK_THROWS_AS(pool.map(sleep_ms, std::vector<int>(8, 5000), 1), mp::KeyboardInterrupt);
    t.join();
    CHECK(seconds_since(start) < 4);
    CHECK_THROWS_AS(pool.apply(sq, 1), mp::ValueError);
}
