// Queue, JoinableQueue and SimpleQueue: Python's rules in one process
// (FIFO, Empty, Full, timeouts, close), items large and small crossing to and
// from children, many producers and consumers (processes and threads),
// flushing at exit, consumers killed with SIGKILL (blocked, looping, and in
// the middle of a large item), a fork while the feeder thread is busy, and
// feeder threads and descriptors left behind. Process tests run under each
// start method.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include "support.hpp"

namespace mp = mproc;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using Clock = std::chrono::steady_clock;
using mproc::test::child_check;
using mproc::test::process_state;
using mproc::test::seconds_since;
using mproc::test::thread_count;
using mproc::test::wait_until;

namespace {

// Best effort: gives pid up to 5 s to go to sleep (blocked in a get). Not a
// synchronisation the test relies on: it only makes the interesting case
// (killed while blocked) the likely one.
void wait_sleeping(int pid) {
    auto start = Clock::now();
    while (process_state(pid) != 'S' && seconds_since(start) < 5) std::this_thread::sleep_for(1ms);
}

// This process's virtual memory size in KiB (/proc/self/status VmSize).
long vm_size_kib() {
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("VmSize:", 0) == 0) return std::atol(line.c_str() + 7);
    return -1;
}

// A recognisable payload of n bytes that depends on tag.
std::string payload(int tag, std::size_t n) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = char('a' + (i * 7 + std::size_t(tag)) % 26);
    return s;
}

std::vector<double> doubles(int tag, std::size_t n) {
    std::vector<double> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = tag + double(i) * 0.5;
    return v;
}

int load(const mp::RawValue<int>& v) {
    return std::atomic_ref<int>(v.value()).load();
}
void add(const mp::RawValue<int>& v, int n) {
    std::atomic_ref<int>(v.value()).fetch_add(n);
}

// ---- child targets (plain functions: they cross spawn and forkserver) ----

void produce_counted(mp::Queue<int> q, mp::RawValue<int> progress, int n) {
    for (int i = 0; i < n; ++i) {
        q.put(i);
        add(progress, 1);  // after put returned
    }
}

void get_expecting(mp::Queue<std::string> q, std::vector<std::string> expected) {
    for (std::size_t i = 0; i < expected.size(); ++i)
        child_check(q.get(true, 60s) == expected[i], 2 + int(i));
}

using Big = std::variant<int, std::string, std::vector<double>>;

void echo_items(mp::Queue<Big> in, mp::Queue<Big> out) {
    for (;;) {
        auto item = in.get();
        out.put(item);
        if (std::holds_alternative<int>(item) && std::get<int>(item) < 0) return;
    }
}

using Tagged = std::pair<int, int>;  // (producer, seq)
using PerProducer = std::vector<std::vector<int>>;

void produce_tagged(mp::Queue<Tagged> q, int producer, int n) {
    for (int i = 0; i < n; ++i) q.put({producer, i});
}

// Gets until a sentinel (producer < 0); checks that each producer's items
// come in order and sends back what it got, per producer.
void consume_tagged(mp::Queue<Tagged> q, mp::Queue<PerProducer> results, int producers) {
    auto got = PerProducer(std::size_t(producers));
    for (;;) {
        auto [p, seq] = q.get();
        if (p < 0) break;
        child_check(p < producers, 2);
        auto& mine = got[std::size_t(p)];
        child_check(mine.empty() || mine.back() < seq, 3);
        mine.push_back(seq);
    }
    results.put(got);
}

using Numbered = std::pair<int, std::string>;

std::string numbered_text(int i) {
    return i % 100 == 7 ? payload(i, std::size_t(1) << 20) : std::to_string(i);
}

void put_numbered_and_exit(mp::Queue<Numbered> q, int n) {
    for (int i = 0; i < n; ++i) q.put({i, numbered_text(i)});
    // returns at once: the exit flushes what is still buffered
}

void put_big_and_cancel(mp::Queue<std::string> q) {
    q.put(payload(1, std::size_t(5) << 20));
    q.cancel_join_thread();
}

void get_one_forever(mp::Queue<int> q, mp::Event ready) {
    ready.set();
    (void)q.get();  // killed while blocked here
    mp::exit(5);
}

void get_in_order(mp::Queue<int> q, mp::Event ready, int n) {
    ready.set();
    for (int i = 0; i < n; ++i) child_check(q.get(true, 60s) == i, 2);
}

// Items the killed consumer may be receiving: small ones, every 50th of
// 1 MiB and every 50th (offset) of 300 KiB: both cross the ring in chunks.
std::string kill_item_text(int i) {
    if (i % 50 == 3) return payload(i, std::size_t(1) << 20);
    if (i % 50 == 28) return payload(i, std::size_t(300) << 10);
    return {};
}

// Gets until a sentinel, marking each item got in marks (after the get).
void consume_marking(mp::Queue<Numbered> q, mp::Event ready, mp::RawArray<int> marks,
                     mp::RawValue<int> count) {
    ready.set();
    for (;;) {
        auto [i, s] = q.get();
        if (i < 0) return;
        child_check(i < int(marks.size()), 2);
        child_check(s == kill_item_text(i), 3);
        marks[std::size_t(i)] += 1;
        add(count, 1);
    }
}

std::string big_item(int i) {
    return std::to_string(i) + ":" + payload(i, std::size_t(1) << 20);
}

// Parses big_item(i); -1 if it is not one.
int big_item_index(const std::string& s) {
    auto colon = s.find(':');
    if (colon == std::string::npos || colon == 0 || colon > 6) return -1;
    int i = std::atoi(s.substr(0, colon).c_str());
    return s == big_item(i) ? i : -1;
}

void take_one_and_answer(mp::Queue<std::string> q) {
    auto s = q.get(true, 60s);
    int i = big_item_index(s);
    child_check(i >= 0, 2);
    q.put("child:" + std::to_string(i));
    q.put(payload(99, std::size_t(2) << 20));
}

void work_tasks(mp::JoinableQueue<int> jq, mp::RawValue<int> done, int n) {
    for (int i = 0; i < n; ++i) {
        child_check(jq.get(true, 60s) == i, 2);
        add(done, 1);
        jq.task_done();
    }
}

void simple_echo(mp::SimpleQueue<std::string> in, mp::SimpleQueue<std::string> out) {
    for (;;) {
        auto s = in.get();
        out.put(s + "!");
        if (s == "stop") return;
    }
}

}  // namespace

TEST_CASE("Queue: FIFO order, Empty, get timeouts, qsize and empty in one process", "[queue]") {
    FOR_EACH_START_METHOD(ctx);
    auto q = ctx.Queue<int>();
    CHECK(q.empty());
    CHECK(q.qsize() == 0);
    CHECK_FALSE(q.full());  // unbounded
    CHECK_THROWS_AS(q.get(false), mp::Empty);
    CHECK_THROWS_AS(q.get_nowait(), mp::Empty);
    auto t0 = Clock::now();
    CHECK_THROWS_AS(q.get(true, 100ms), mp::Empty);
    CHECK(seconds_since(t0) >= 0.05);
    CHECK(seconds_since(t0) < 20);
    t0 = Clock::now();
    CHECK_THROWS_AS(q.get(100ms), mp::Empty);
    CHECK(seconds_since(t0) >= 0.05);

    for (int i = 0; i < 10; ++i) q.put(i);
    CHECK(q.qsize() == 10);
    CHECK_FALSE(q.full());
    wait_until([&] { return !q.empty(); });
    for (int i = 0; i < 10; ++i) CHECK(q.get(true, 30s) == i);
    CHECK(q.qsize() == 0);
    CHECK(q.empty());
    CHECK_THROWS_AS(q.get_nowait(), mp::Empty);

    // Once an item is ready, get_nowait takes it.
    q.put(42, 1s);
    wait_until([&] { return !q.empty(); });
    CHECK(q.get_nowait() == 42);

    // Strings, and items put by another thread of this process.
    auto s = ctx.Queue<std::string>();
    std::thread([&] {
        s.put("one");
        s.put(std::string(100000, 'z'));
        s.put_nowait("three");
    }).join();
    CHECK(s.get(30s) == "one");
    CHECK(s.get(30s) == std::string(100000, 'z'));
    CHECK(s.get(30s) == "three");
    // The large item went through the feeder: wait for it to end, so that
    // the queue's descriptors are closed when the test case ends (see "a
    // queue's descriptors are released once its last handle is gone").
    s.close();
    s.join_thread();
}

TEST_CASE("Queue(maxsize): Full, put timeouts, full() and a put woken by a get", "[queue]") {
    FOR_EACH_START_METHOD(ctx);
    auto q = ctx.Queue<int>(2);
    q.put(1);
    q.put(2);
    CHECK(q.full());
    CHECK(q.qsize() == 2);
    CHECK_THROWS_AS(q.put_nowait(3), mp::Full);
    CHECK_THROWS_AS(q.put(3, false), mp::Full);
    auto t0 = Clock::now();
    CHECK_THROWS_AS(q.put(3, true, 100ms), mp::Full);
    CHECK(seconds_since(t0) >= 0.05);
    CHECK(seconds_since(t0) < 20);
    t0 = Clock::now();
    CHECK_THROWS_AS(q.put(3, 100ms), mp::Full);
    CHECK(seconds_since(t0) >= 0.05);
    CHECK(q.qsize() == 2);  // the refused puts left nothing behind

    CHECK(q.get(true, 30s) == 1);
    CHECK_FALSE(q.full());
    q.put_nowait(3);
    CHECK(q.full());

    // A blocked put completes when another thread gets.
    std::atomic<bool> put_done{false};
    bool put_failed = false;
    std::thread t([&] {
        try {
            q.put(4, true, 30s);
        } catch (const mp::Full&) {
            put_failed = true;
        }
        put_done = true;
    });
    CHECK(q.get(true, 30s) == 2);
    t.join();
    CHECK(put_done);
    CHECK_FALSE(put_failed);
    CHECK(q.get(true, 30s) == 3);
    CHECK(q.get(true, 30s) == 4);
    CHECK(q.qsize() == 0);
    CHECK_FALSE(q.full());
}

TEST_CASE("a producer child blocks while a bounded queue is full", "[queue]") {
    FOR_EACH_START_METHOD(ctx);
    constexpr int n = 10;
    auto q = ctx.Queue<int>(2);
    auto progress = ctx.RawValue<int>(0);
    auto p = ctx.Process(produce_counted, q, progress, n);
    p.start();
    wait_until([&] { return load(progress) >= 2; });
    // The third put must wait for room: nothing happens while we hold off.
    p.join(200ms);
    CHECK(p.is_alive());
    CHECK(load(progress) == 2);
    CHECK(q.full());
    CHECK(q.qsize() == 2);
    for (int i = 0; i < n; ++i) {
        CHECK(q.get(true, 30s) == i);
        // Puts that returned <= gets done + maxsize, at every moment.
        CHECK(load(progress) <= i + 1 + 2);
    }
    p.join(30s);
    CHECK(p.exitcode() == 0);
    CHECK(load(progress) == n);
}

TEST_CASE("close(): put and get throw ValueError; join_thread; cancel_join_thread", "[queue]") {
    auto q = mp::Queue<std::string>();
    q.put("a");
    q.put(payload(1, std::size_t(1) << 20));
    CHECK(q.get(30s) == "a");
    CHECK(q.get(30s) == payload(1, std::size_t(1) << 20));
    q.close();
    CHECK_THROWS_AS(q.put("b"), mp::ValueError);
    CHECK_THROWS_AS(q.put_nowait("b"), mp::ValueError);
    CHECK_THROWS_AS(q.get(false), mp::ValueError);
    CHECK_THROWS_AS(q.get(), mp::ValueError);
    CHECK_THROWS_AS(q.get(100ms), mp::ValueError);
    q.join_thread();  // returns: nothing left to flush

    // Close with nothing ever put: join_thread returns too.
    auto empty = mp::Queue<int>();
    empty.close();
    empty.join_thread();

    // cancel_join_thread exists and leaves the queue usable in this process.
    auto q2 = mp::Queue<int>();
    q2.cancel_join_thread();
    q2.put(1);
    CHECK(q2.get(30s) == 1);
}

TEST_CASE("close() and join_thread flush what was put to a child still getting", "[queue]") {
    FOR_EACH_START_METHOD(ctx);
    auto q = ctx.Queue<std::string>();
    std::vector<std::string> items{"first", payload(2, std::size_t(3) << 20), "last"};
    auto p = ctx.Process(get_expecting, q, items);
    p.start();
    for (const auto& s : items) q.put(s);
    q.close();
    q.join_thread();  // the child reads the large item meanwhile
    p.join(60s);
    CHECK(p.exitcode() == 0);
}

TEST_CASE("large items round-trip through a child, interleaved with small ones, in order",
          "[queue]") {
    FOR_EACH_START_METHOD(ctx);
    auto in = ctx.Queue<Big>();
    auto out = ctx.Queue<Big>();
    std::vector<Big> items{
        1,
        payload(1, std::size_t(1) << 20),
        2,
        payload(2, std::size_t(5) << 20),
        3,
        doubles(3, 300000),
        std::string("small"),
        4,
        payload(4, std::size_t(1) << 20),
        doubles(5, 10),
        std::vector<double>{},
        std::string(),
        -1,  // the child stops after echoing it
    };
    auto p = ctx.Process(echo_items, in, out);
    p.start();
    for (const auto& item : items) in.put(item);
    for (std::size_t i = 0; i < items.size(); ++i) {
        INFO("item " << i);
        auto got = out.get(true, 60s);
        CHECK(got.index() == items[i].index());
        CHECK(got == items[i]);
    }
    p.join(60s);
    CHECK(p.exitcode() == 0);
    CHECK_THROWS_AS(out.get_nowait(), mp::Empty);
    // This process's feeder wrote the large items: let it end here, so that
    // the descriptors are closed by the end of the test case.
    in.close();
    in.join_thread();
}

TEST_CASE("4 producers x 4 consumers: every item once, each producer's order kept", "[queue]") {
    FOR_EACH_START_METHOD(ctx);
    // 100000 items in all; a bounded queue makes the producers wait too.
    const int maxsize = GENERATE(0, 64);
    INFO("maxsize " << maxsize);
    constexpr int per_producer = 25000;
    constexpr int producers = 4, consumers = 4;
    auto q = ctx.Queue<Tagged>(maxsize);
    auto results = ctx.Queue<PerProducer>();
    std::vector<mp::Process> cs, ps;
    for (int i = 0; i < consumers; ++i)
        cs.push_back(ctx.Process(consume_tagged, q, results, producers));
    for (int i = 0; i < producers; ++i)
        ps.push_back(ctx.Process(produce_tagged, q, i, per_producer));
    for (auto& c : cs) c.start();
    for (auto& p : ps) p.start();
    for (auto& p : ps) {
        p.join(120s);
        CHECK(p.exitcode() == 0);
    }
    for (int i = 0; i < consumers; ++i) q.put({-1, -1});
    std::vector<std::vector<int>> all(producers);
    for (int i = 0; i < consumers; ++i) {
        auto got = results.get(true, 120s);
        REQUIRE(got.size() == std::size_t(producers));
        for (int p = 0; p < producers; ++p) {
            // The consumer checked the order; check it again here.
            CHECK(std::is_sorted(got[std::size_t(p)].begin(), got[std::size_t(p)].end()));
            all[std::size_t(p)].insert(all[std::size_t(p)].end(), got[std::size_t(p)].begin(),
                                       got[std::size_t(p)].end());
        }
    }
    for (auto& c : cs) {
        c.join(60s);
        CHECK(c.exitcode() == 0);
    }
    for (int p = 0; p < producers; ++p) {
        INFO("producer " << p);
        auto& v = all[std::size_t(p)];
        CHECK(v.size() == std::size_t(per_producer));
        std::sort(v.begin(), v.end());
        bool exact = v.size() == std::size_t(per_producer);
        for (std::size_t i = 0; exact && i < v.size(); ++i) exact = v[i] == int(i);
        CHECK(exact);  // 0 .. per_producer-1, each once
    }
}

TEST_CASE("2 threads put and 2 threads get in one process: exact counts", "[queue]") {
    const int maxsize = GENERATE(0, 16);
    INFO("maxsize " << maxsize);
    constexpr int n = 20000;  // per putter
    auto q = mp::Queue<Tagged>(maxsize);
    PerProducer got[2] = {PerProducer(2), PerProducer(2)};
    std::atomic<int> errors{0};
    auto getter = [&](int g) {
        try {
            for (;;) {
                auto [p, seq] = q.get(true, 60s);
                if (p < 0) return;
                if (p > 1) {
                    ++errors;
                    continue;
                }
                got[g][std::size_t(p)].push_back(seq);
            }
        } catch (const std::exception&) {
            ++errors;
        }
    };
    auto putter = [&](int p) {
        try {
            for (int i = 0; i < n; ++i) q.put({p, i}, true, 60s);
        } catch (const std::exception&) {
            ++errors;
        }
    };
    std::thread g0(getter, 0), g1(getter, 1), p0(putter, 0), p1(putter, 1);
    p0.join();
    p1.join();
    q.put({-1, -1});
    q.put({-1, -1});
    g0.join();
    g1.join();
    CHECK(errors == 0);
    for (int p = 0; p < 2; ++p) {
        INFO("putter " << p);
        std::vector<int> all;
        for (int g = 0; g < 2; ++g) {
            auto& v = got[g][std::size_t(p)];
            CHECK(std::is_sorted(v.begin(), v.end()));  // each getter sees a putter's order
            all.insert(all.end(), v.begin(), v.end());
        }
        CHECK(all.size() == std::size_t(n));
        std::sort(all.begin(), all.end());
        bool exact = all.size() == std::size_t(n);
        for (std::size_t i = 0; exact && i < all.size(); ++i) exact = all[i] == int(i);
        CHECK(exact);
    }
    CHECK(q.qsize() == 0);
    q.close();  // the feeder may have run (the ring full): let it end here
    q.join_thread();
}

TEST_CASE("a producer that exits at once still delivers all it put", "[queue]") {
    FOR_EACH_START_METHOD(ctx);
    constexpr int n = 1000;  // items 7, 107, ... are 1 MiB
    auto q = ctx.Queue<Numbered>();
    auto p = ctx.Process(put_numbered_and_exit, q, n);
    p.start();
    int wrong = 0;
    for (int i = 0; i < n; ++i) {
        auto [k, text] = q.get(true, 60s);
        if (k != i || text != numbered_text(i)) ++wrong;
    }
    CHECK(wrong == 0);
    p.join(60s);
    CHECK(p.exitcode() == 0);
    CHECK_THROWS_AS(q.get_nowait(), mp::Empty);
}

TEST_CASE("after cancel_join_thread a producer exits without its items being got", "[queue]") {
    FOR_EACH_START_METHOD(ctx);
    auto q = ctx.Queue<std::string>();
    auto p = ctx.Process(put_big_and_cancel, q);
    p.start();
    p.join(30s);  // nobody gets the 5 MiB item: without cancel_join_thread this would wait
    CHECK_FALSE(p.is_alive());
    CHECK(p.exitcode() == 0);
}

// What a consumer killed with SIGKILL may lose: at most the one item it was
// receiving (taken from the queue but not yet returned by get, or returned
// but not yet recorded). Items still in the queue, items other consumers
// receive, and the queue's use by every other process are unaffected: no
// lock or slot stays taken by the dead process.
TEST_CASE("a consumer killed while blocked in get leaves the queue working", "[queue]") {
    FOR_EACH_START_METHOD(ctx);
    constexpr int n = 100;
    auto q = ctx.Queue<int>();
    auto ready_victim = ctx.Event();
    auto ready_survivor = ctx.Event();
    auto victim = ctx.Process(get_one_forever, q, ready_victim);
    auto survivor = ctx.Process(get_in_order, q, ready_survivor, n);
    victim.start();
    survivor.start();
    REQUIRE(ready_victim.wait(30s));
    REQUIRE(ready_survivor.wait(30s));
    wait_sleeping(*victim.pid());
    wait_sleeping(*survivor.pid());
    victim.kill();
    victim.join(30s);
    CHECK(victim.exitcode() == -SIGKILL);
    // Nothing was in the queue when it died: nothing is lost.
    for (int i = 0; i < n; ++i) q.put(i, true, 30s);
    survivor.join(60s);
    CHECK(survivor.exitcode() == 0);
    q.put(7);
    CHECK(q.get(true, 30s) == 7);
    CHECK_THROWS_AS(q.get_nowait(), mp::Empty);
}

TEST_CASE("a consumer killed while looping on gets loses at most one item", "[queue]") {
    FOR_EACH_START_METHOD(ctx);
    constexpr int n = 4000;  // items 3, 53, 103, ... are 1 MiB; 28, 78, ... 300 KiB
    auto q = ctx.Queue<Numbered>(64);
    // Should the queue jam, this process must still fail fast and exit.
    q.cancel_join_thread();
    auto marks_victim = ctx.RawArray<int>(std::size_t(n));
    auto marks_survivor = ctx.RawArray<int>(std::size_t(n));
    auto count_victim = ctx.RawValue<int>(0);
    auto count_survivor = ctx.RawValue<int>(0);
    auto ready_victim = ctx.Event();
    auto ready_survivor = ctx.Event();
    auto victim = ctx.Process(consume_marking, q, ready_victim, marks_victim, count_victim);
    auto survivor = ctx.Process(consume_marking, q, ready_survivor, marks_survivor, count_survivor);
    victim.start();
    survivor.start();
    REQUIRE(ready_victim.wait(30s));
    REQUIRE(ready_survivor.wait(30s));
    // This process produces; the queue is bounded, so the consumers are busy
    // and the producer waits for room. Short timeouts: a jammed queue fails
    // the test instead of hanging it.
    bool killed = false, jammed = false;
    int killed_at_count = 0, put_count = 0;
    for (int i = 0; i < n && !jammed; ++i) {
        try {
            q.put({i, kill_item_text(i)}, true, 5s);
            ++put_count;
        } catch (const mp::Full&) {
            jammed = true;
        }
        if (!killed && i >= n / 4 && load(count_victim) > 0) {
            killed_at_count = load(count_victim);
            victim.kill();
            killed = true;
        }
    }
    INFO("the victim had got " << killed_at_count << " items when killed");
    INFO("the survivor got " << load(count_survivor) << " items");
    CHECK(killed);
    victim.kill();  // a no-op if it is dead already
    victim.join(30s);
    CHECK(victim.exitcode() == -SIGKILL);
    CHECK_FALSE(jammed);  // no room for 5 s: the consumers stopped getting
    CHECK(put_count == n);
    if (!jammed) CHECK_NOTHROW(q.put({-1, ""}, true, 5s));
    survivor.join(10s);
    CHECK_FALSE(survivor.is_alive());
    if (survivor.is_alive()) {
        survivor.kill();
        survivor.join(30s);
    }
    CHECK(survivor.exitcode() == 0);
    REQUIRE_FALSE(jammed);
    int duplicated = 0, missing = 0;
    for (int i = 0; i < n; ++i) {
        int m = marks_victim[std::size_t(i)] + marks_survivor[std::size_t(i)];
        if (m > 1) ++duplicated;
        if (m == 0) ++missing;
    }
    CHECK(duplicated == 0);
    CHECK(missing <= 1);
    // The queue still works for the others, both ways and with large items.
    q.put({7, "x"});
    q.put({8, payload(8, std::size_t(1) << 20)});
    CHECK(q.get(true, 10s) == Numbered{7, "x"});
    CHECK(q.get(true, 10s) == Numbered{8, payload(8, std::size_t(1) << 20)});
}

// Items larger than the ring cross it in chunks while their producer writes
// the rest: these tests stop or kill a process in the middle of one.
constexpr std::size_t beyond_ring = std::size_t(3) << 20;

void put_big_then_after(mp::Queue<std::string> q) {
    q.put(payload(1, beyond_ring));
    q.put("after");
}

void get_one_marking(mp::Queue<std::string> q, mp::Event ready, mp::Event got) {
    ready.set();
    (void)q.get();
    got.set();
}

TEST_CASE("a consumer killed in the middle of a large item: the others skip its rest", "[queue]") {
    FOR_EACH_START_METHOD(ctx);
    auto q = ctx.Queue<std::string>();
    auto producer = ctx.Process(put_big_then_after, q);
    producer.start();
    // The producer has begun the item (it cannot have ended it: the ring is
    // smaller); stopped, it cannot go on.
    wait_until([&] { return !q.empty(); });
    REQUIRE(::kill(*producer.pid(), SIGSTOP) == 0);
    auto ready = ctx.Event(), got = ctx.Event();
    auto victim = ctx.Process(get_one_marking, q, ready, got);
    victim.start();
    REQUIRE(ready.wait(30s));
    // The victim took every chunk there is: it is in the middle of the item.
    wait_until([&] { return q.empty(); });
    victim.kill();
    victim.join(30s);
    CHECK(victim.exitcode() == -SIGKILL);
    CHECK_FALSE(got.is_set());
    REQUIRE(::kill(*producer.pid(), SIGCONT) == 0);
    // The rest of the big item is skipped: the next item is the one after.
    CHECK(q.get(true, 30s) == "after");
    producer.join(30s);
    CHECK(producer.exitcode() == 0);
    q.put(payload(2, beyond_ring));
    CHECK(q.get(true, 30s) == payload(2, beyond_ring));
    // This process's feeder wrote the big item: let it end here, so that it
    // holds nothing when the test case ends.
    q.close();
    q.join_thread();
}

TEST_CASE("a producer killed in the middle of a large item: the item is dropped, the queue works",
          "[queue]") {
    FOR_EACH_START_METHOD(ctx);
    auto q = ctx.Queue<std::string>();
    auto producer = ctx.Process(put_big_then_after, q);
    producer.start();
    wait_until([&] { return !q.empty(); });
    producer.kill();
    producer.join(30s);
    CHECK(producer.exitcode() == -SIGKILL);
    // The getter takes the chunks there are, finds the producer gone and
    // drops them; nothing else comes.
    CHECK_THROWS_AS(q.get(true, 1s), mp::Empty);
    q.put("x");
    q.put(payload(3, beyond_ring));
    CHECK(q.get(true, 30s) == "x");
    CHECK(q.get(true, 30s) == payload(3, beyond_ring));
    q.close();
    q.join_thread();
}

// ThreadSanitizer cannot run a thread started in the child of a
// multi-threaded fork (it stops the child), which this test needs: it is
// built only without TSan.
#if !defined(__SANITIZE_THREAD__)
TEST_CASE("a fork while the feeder thread is busy: parent and child both use the queue",
          "[queue]") {
    auto ctx = mp::get_context("fork");
    constexpr int n = 16;
    for (int round = 0; round < 3; ++round) {
        INFO("round " << round);
        auto q = ctx.Queue<std::string>();
        // Nobody gets yet: the feeder is busy pushing these into the ring.
        for (int i = 0; i < n; ++i) q.put(big_item(i));
        auto p = ctx.Process(take_one_and_answer, q);
        p.start();
        // n - 1 of the parent's items, and the child's two.
        std::vector<int> parent_items;
        int child_took = -1, child_big = 0, other = 0;
        for (int k = 0; k < n + 1; ++k) {
            auto s = q.get(true, 60s);
            if (s.rfind("child:", 0) == 0)
                child_took = std::atoi(s.c_str() + 6);
            else if (s == payload(99, std::size_t(2) << 20))
                ++child_big;
            else if (int i = big_item_index(s); i >= 0)
                parent_items.push_back(i);
            else
                ++other;
        }
        p.join(60s);
        CHECK(p.exitcode() == 0);
        CHECK(other == 0);
        CHECK(child_big == 1);
        REQUIRE(child_took >= 0);
        // The parent got the others, in order; the child's copy of the
        // parent's buffered items was not sent again.
        std::vector<int> expected;
        for (int i = 0; i < n; ++i)
            if (i != child_took) expected.push_back(i);
        CHECK(parent_items == expected);
        CHECK_THROWS_AS(q.get(true, 200ms), mp::Empty);
    }
}
#endif  // !__SANITIZE_THREAD__

TEST_CASE("JoinableQueue: task_done counts, too many is a ValueError", "[queue]") {
    FOR_EACH_START_METHOD(ctx);
    auto jq = ctx.JoinableQueue<int>();
    jq.join();  // nothing put: returns
    CHECK_THROWS_AS(jq.task_done(), mp::ValueError);
    jq.put(1);
    jq.put(2);
    CHECK(jq.get(30s) == 1);
    jq.task_done();
    CHECK(jq.get(30s) == 2);
    std::atomic<bool> joined{false};
    std::thread t([&] {
        jq.join();
        joined = true;
    });
    CHECK_FALSE(joined);  // one task is still open
    jq.task_done();
    t.join();
    CHECK(joined);
    CHECK_THROWS_AS(jq.task_done(), mp::ValueError);
    jq.join();
    // A bounded JoinableQueue is a bounded Queue.
    auto bounded = ctx.JoinableQueue<int>(1);
    bounded.put(1);
    CHECK_THROWS_AS(bounded.put_nowait(2), mp::Full);
}

TEST_CASE("JoinableQueue: join returns once a child has done every task", "[queue]") {
    FOR_EACH_START_METHOD(ctx);
    constexpr int n = 50;
    auto jq = ctx.JoinableQueue<int>();
    auto done = ctx.RawValue<int>(0);
    for (int i = 0; i < n; ++i) jq.put(i);
    auto p = ctx.Process(work_tasks, jq, done, n);
    p.start();
    jq.join();
    CHECK(load(done) == n);  // task_done came after each item's work
    p.join(30s);
    CHECK(p.exitcode() == 0);
    CHECK_THROWS_AS(jq.task_done(), mp::ValueError);
}

TEST_CASE("SimpleQueue: put, get, empty, close, and use by a child", "[queue]") {
    FOR_EACH_START_METHOD(ctx);
    auto sq = ctx.SimpleQueue<std::string>();
    CHECK(sq.empty());
    sq.put("a");
    sq.put("b");
    wait_until([&] { return !sq.empty(); });
    CHECK(sq.get() == "a");
    CHECK(sq.get() == "b");
    CHECK(sq.empty());

    auto in = ctx.SimpleQueue<std::string>();
    auto out = ctx.SimpleQueue<std::string>();
    auto p = ctx.Process(simple_echo, in, out);
    p.start();
    auto big = payload(3, std::size_t(2) << 20);
    in.put("hello");
    in.put(big);
    in.put("stop");
    CHECK(out.get() == "hello!");
    CHECK(out.get() == big + "!");
    CHECK(out.get() == "stop!");
    p.join(30s);
    CHECK(p.exitcode() == 0);
    CHECK(out.empty());

    sq.close();
    CHECK_THROWS_AS(sq.put("c"), mp::ValueError);
    in.close();
    out.close();
}

TEST_CASE("queues cannot be sent over a Connection", "[queue]") {
    auto [a, b] = mp::Pipe();
    mp::Queue<int> q;
    mp::JoinableQueue<int> jq;
    mp::SimpleQueue<int> sq;
    CHECK_THROWS_WITH(a.send(q), Contains("inheritance"));
    CHECK_THROWS_WITH(a.send(jq), Contains("inheritance"));
    CHECK_THROWS_WITH(a.send(sq), Contains("inheritance"));
    a.send(1);  // the connection is still in step
    CHECK(b.recv<int>() == 1);
}

TEST_CASE("no feeder thread is left behind", "[queue]") {
    const int before = thread_count();
    REQUIRE(before > 0);
    SECTION("after close() and join_thread()") {
        auto q = mp::Queue<std::string>();
        q.put(payload(1, std::size_t(4) << 20));  // through the feeder
        for (int i = 0; i < 2000; ++i) q.put(std::to_string(i));
        CHECK(q.get(true, 60s) == payload(1, std::size_t(4) << 20));
        for (int i = 0; i < 2000; ++i) REQUIRE(q.get(true, 60s) == std::to_string(i));
        q.close();
        q.join_thread();
        // join_thread joined it; the kernel may list the thread a moment longer.
        wait_until([&] { return thread_count() <= before; }, 5);
        CHECK(thread_count() == before);
    }
    SECTION("the feeders of queues that are gone do not pile up unjoined") {
        // A finished thread that nobody joins keeps its stack (8 MiB here)
        // until it is joined: 64 of them would add 512 MiB.
        const long vm_before = vm_size_kib();
        for (int i = 0; i < 64; ++i) {
            auto q = mp::Queue<std::string>();
            q.put(payload(i, 300000));  // crosses in chunks, by the feeder
            REQUIRE(q.get(true, 30s) == payload(i, 300000));
        }
        wait_until([&] { return thread_count() <= before; }, 5);
        const long grown_mib = (vm_size_kib() - vm_before) / 1024;
        INFO("virtual memory grew by " << grown_mib << " MiB");
        CHECK(grown_mib < 128);
    }
    SECTION("after the last handle of a queue is destroyed") {
        {
            auto q = mp::Queue<std::string>();
            q.put(payload(2, std::size_t(4) << 20));
            CHECK(q.get(true, 60s) == payload(2, std::size_t(4) << 20));
        }
        wait_until([&] { return thread_count() <= before; }, 5);
        CHECK(thread_count() == before);
    }
}

TEST_CASE("a queue's descriptors are released once its last handle is gone", "[queue]") {
    const int before = mp::test::open_fd_count();
    {
        auto q = mp::Queue<std::string>();
        q.put(payload(1, std::size_t(1) << 20));  // the feeder runs
        CHECK(q.get(true, 30s) == payload(1, std::size_t(1) << 20));
        q.put("small");
        CHECK(q.get(true, 30s) == "small");
    }
    // At once, or at the latest when the feeder, which has nothing left to
    // write, has ended.
    wait_until([&] { return mp::test::open_fd_count() <= before; }, 5);
    CHECK(mp::test::open_fd_count() == before);
}
