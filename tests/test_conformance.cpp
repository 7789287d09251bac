// Python conformance (issue 13): Process API gaps (interrupt, closed
// processes, exit with a message), locks and events (locked(), printable
// Event, Python's error texts), and names per context. Process tests run
// under each start method.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <sstream>
#include <string>
#include <thread>

#include "support.hpp"

namespace mp = mproc;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using Catch::Matchers::Matches;
using Catch::Matchers::StartsWith;

namespace {

// Restores SIGINT's default action (the test runner may have ignored it),
// says it is ready, then blocks.
void wait_for_interrupt(mp::Connection ready, mp::Connection never) {
    std::signal(SIGINT, SIG_DFL);
    ready.send(1);
    (void)never.recv<int>();
}

void exit_with_message(mp::Connection err) {
    ::dup2(static_cast<int>(err.fileno()), 2);
    err.close();
    mp::exit("the text goes to stderr");
}

// Reports whether the lock looks locked from the child.
void report_locked(mp::Connection c, mp::Lock l, mp::RLock r) {
    c.send(std::tuple{l.locked(), r.locked()});
}

void report_name(mp::Connection c) {
    c.send(mp::current_process().name());
}

void do_nothing() {}

std::string class_of(const mp::Context& ctx) {
    auto m = ctx.get_start_method();
    if (m == "fork") return "ForkProcess";
    if (m == "spawn") return "SpawnProcess";
    if (m == "forkserver") return "ForkServerProcess";
    std::string s(m);
    s[0] = char(std::toupper(static_cast<unsigned char>(s[0])));
    return s + "Process";
}

struct Worker : mp::Process {
    void run() override {}
};

}  // namespace

TEST_CASE("interrupt() sends SIGINT; a child without a handler ends with -SIGINT", "[process]") {
    FOR_EACH_START_METHOD(ctx);
    auto [ready_r, ready_w] = ctx.Pipe(false);
    auto [never_r, never_w] = ctx.Pipe(false);
    auto p = ctx.Process(wait_for_interrupt, ready_w, never_r);
    CHECK_THROWS_AS(p.interrupt(), mp::ValueError);  // not started
    p.start();
    ready_w.close();
    CHECK(ready_r.recv<int>() == 1);
    p.interrupt();
    p.join(30s);
    CHECK(p.exitcode() == -SIGINT);
    CHECK_THAT(p.repr(), Contains("exitcode=-SIGINT"));
    p.interrupt();  // ended: nothing to do, as Python's
}

TEST_CASE("after close(), pid() and ident() throw ClosedError like the rest", "[process]") {
    FOR_EACH_START_METHOD(ctx);
    auto p = ctx.Process(do_nothing);
    p.start();
    p.join();
    p.close();
    CHECK_THROWS_AS(p.pid(), mp::ClosedError);
    CHECK_THROWS_AS(p.ident(), mp::ClosedError);
    CHECK_THROWS_AS(p.sentinel(), mp::ClosedError);
    CHECK_THROWS_AS(p.exitcode(), mp::ClosedError);
    CHECK_THROWS_AS(p.terminate(), mp::ClosedError);
    CHECK_THROWS_AS(p.kill(), mp::ClosedError);
    CHECK_THROWS_AS(p.interrupt(), mp::ClosedError);
    CHECK_THAT(p.repr(), Contains(" closed>"));
    CHECK_THAT(p.repr(), !Contains("pid="));
}

TEST_CASE("mp::exit(\"text\"): the text on stderr and exit code 1, as sys.exit(\"text\")",
          "[process]") {
    FOR_EACH_START_METHOD(ctx);
    auto [r, w] = ctx.Pipe(false);
    auto p = ctx.Process(exit_with_message, w);
    p.start();
    w.close();
    p.join();
    CHECK(p.exitcode() == 1);
    CHECK(mp::test::read_all(static_cast<int>(r.fileno())) == "the text goes to stderr\n");
}

TEST_CASE("Lock::locked() and RLock::locked(), seen from a child too", "[sync]") {
    FOR_EACH_START_METHOD(ctx);
    auto l = ctx.Lock();
    auto rl = ctx.RLock();
    CHECK_FALSE(l.locked());
    CHECK_FALSE(rl.locked());
    l.acquire();
    rl.acquire();
    rl.acquire();
    CHECK(l.locked());
    CHECK(rl.locked());
    auto [r, w] = ctx.Pipe(false);
    auto p = ctx.Process(report_locked, w, l, rl);
    p.start();
    w.close();
    CHECK(r.recv<std::tuple<bool, bool>>() == std::tuple{true, true});
    p.join();
    l.release();
    rl.release();
    CHECK(rl.locked());  // held once more
    rl.release();
    CHECK_FALSE(l.locked());
    CHECK_FALSE(rl.locked());
}

TEST_CASE("an Event prints as Python's", "[sync]") {
    FOR_EACH_START_METHOD(ctx);
    auto e = ctx.Event();
    CHECK_THAT(e.repr(), Matches("<Event at 0x[0-9a-f]+ unset>"));
    e.set();
    CHECK_THAT(fmt::format("{}", e), Matches("<Event at 0x[0-9a-f]+ set>"));
    std::ostringstream os;
    os << e;
    CHECK(os.str() == e.repr());
}

TEST_CASE("Condition and Array errors have Python's texts", "[sync]") {
    FOR_EACH_START_METHOD(ctx);
    auto c = ctx.Condition();
    CHECK_THROWS_WITH(c.wait(0s), "must acquire() condition before using wait()");
    CHECK_THROWS_WITH(c.notify(), "lock is not owned");
    CHECK_THROWS_WITH(c.notify_all(), "lock is not owned");
    auto a = ctx.Array<int>(3);
    CHECK_THROWS_WITH(a.at(3), "invalid index");
    std::vector<int> four{1, 2, 3, 4};
    CHECK_THROWS_WITH(a.assign(1, four), "Can only assign sequence of same size");
    auto s = ctx.Array<char>(3);
    CHECK_THROWS_WITH(s.set_value("toolong"), "byte string too long");
}

TEST_CASE("a context's processes are named after its class, as Python's", "[context]") {
    FOR_EACH_START_METHOD(ctx);
    auto cls = class_of(ctx);
    auto [r, w] = ctx.Pipe(false);
    auto p = ctx.Process(report_name, w);
    CHECK_THAT(p.name(), StartsWith(cls + "-"));
    CHECK_THAT(p.repr(), StartsWith("<" + cls + " name='" + cls + "-"));
    p.start();
    w.close();
    CHECK(r.recv<std::string>() == p.name());
    p.join();

    // mp::Process without a context stays Process-N, a subclass its class.
    mp::Process plain(do_nothing);
    CHECK_THAT(plain.name(), StartsWith("Process-"));
    Worker wk;
    wk.set_context(ctx);
    CHECK_THAT(wk.name(), StartsWith("Worker-"));
    // The counter is shared, as in Python.
    auto n = std::stoi(plain.name().substr(8));
    CHECK(ctx.Process(do_nothing).name() == cls + "-" + std::to_string(n + 2));
}

TEST_CASE("Context::get_context, unknown methods, and the order of get_all_start_methods",
          "[context]") {
    FOR_EACH_START_METHOD(ctx);
    CHECK(ctx.get_context() == ctx);
    CHECK(ctx.get_context("fork") == mp::get_context("fork"));
    CHECK_THROWS_AS(mp::get_context("bogus"), mp::ValueError);
    CHECK_THROWS_WITH(mp::get_context("bogus"),
                      StartsWith("cannot find context for 'bogus'") && Contains("fork"));
    CHECK_THROWS_WITH(ctx.get_context("bogus"), StartsWith("cannot find context for 'bogus'"));

    auto all = mp::get_all_start_methods();
    REQUIRE_FALSE(all.empty());
    CHECK(all.front() == *mp::get_start_method());
    auto pos = [&](const std::string& m) {
        return std::find(all.begin(), all.end(), m) - all.begin();
    };
    std::vector<std::string> python_order;
    for (const auto& m : {"fork", "spawn", "forkserver"})
        if (m != all.front() && pos(m) < std::ptrdiff_t(all.size())) python_order.push_back(m);
    for (std::size_t i = 1; i < python_order.size(); ++i)
        CHECK(pos(python_order[i - 1]) < pos(python_order[i]));
    CHECK(pos("fork") < std::ptrdiff_t(all.size()));
}

namespace {

// Reports what a get, then a put, does once the queue is shut down.
void get_until_shutdown(mp::Queue<int> q, mp::Connection report) {
    try {
        report.send(std::string("got ") + std::to_string(q.get()));
    } catch (const mp::ShutDown&) {
        report.send(std::string("ShutDown"));
    }
}

void put_until_shutdown(mp::Queue<int> q, mp::Connection report) {
    try {
        q.put(2);  // the queue is full: blocks
        report.send(std::string("put"));
    } catch (const mp::ShutDown&) {
        report.send(std::string("ShutDown"));
    }
}

}  // namespace

TEST_CASE("Queue::shutdown(): puts fail, gets drain then fail, blocked calls wake", "[queue]") {
    FOR_EACH_START_METHOD(ctx);
    auto q = ctx.Queue<int>();
    CHECK_FALSE(q.is_shutdown());
    q.put(1);
    q.put(2);
    auto [r, w] = ctx.Pipe(false);
    auto getter_q = ctx.Queue<int>();
    auto getter = ctx.Process(get_until_shutdown, getter_q, w);
    getter.start();

    auto full = ctx.Queue<int>(1);
    full.put(1);
    auto [r2, w2] = ctx.Pipe(false);
    auto putter = ctx.Process(put_until_shutdown, full, w2);
    putter.start();
    w.close();
    w2.close();

    q.shutdown();
    CHECK(q.is_shutdown());
    CHECK_THROWS_AS(q.put(3), mp::ShutDown);
    CHECK(q.get(30s) == 1);  // what was put is still got
    CHECK(q.try_get(30s) == 2);
    CHECK_THROWS_AS(q.get(), mp::ShutDown);  // shut down and empty: at once, not blocking
    CHECK_THROWS_AS(q.try_get(std::nullopt), mp::ShutDown);
    CHECK_THROWS_AS(q.get_nowait(), mp::ShutDown);

    // A getter and a putter blocked in a child wake up with ShutDown.
    getter_q.shutdown();
    CHECK(r.recv<std::string>() == "ShutDown");
    full.shutdown();
    CHECK(r2.recv<std::string>() == "ShutDown");
    getter.join();
    putter.join();
    CHECK(getter.exitcode() == 0);
    CHECK(putter.exitcode() == 0);
    CHECK(full.get(30s) == 1);
}

TEST_CASE("Queue::shutdown(immediate): items are dropped and counted done", "[queue]") {
    FOR_EACH_START_METHOD(ctx);
    auto jq = ctx.JoinableQueue<std::string>();
    jq.put("a");
    jq.put("b");
    jq.put(std::string(3 << 20, 'x'));  // a large one, through the feeder
    jq.shutdown(true);
    CHECK_THROWS_AS(jq.get(), mp::ShutDown);
    CHECK_THROWS_AS(jq.put("c"), mp::ShutDown);
    jq.join();  // every item dropped counts as done
    jq.close();
    jq.join_thread();

    auto bounded = ctx.Queue<int>(2);
    bounded.put(1);
    bounded.put(2);
    CHECK(bounded.full());
    bounded.shutdown(true);
    CHECK_FALSE(bounded.full());  // the room of the dropped items is free again
    CHECK_THROWS_AS(bounded.get(30s), mp::ShutDown);
}

TEST_CASE("closed queues: Python's texts; SimpleQueue::empty() after close() throws", "[queue]") {
    auto q = mp::Queue<int>();
    q.close();
    CHECK_THROWS_AS(q.put(1), mp::ClosedError);
    CHECK_THROWS_WITH(q.put(1), Matches("Queue <mproc::Queue object at 0x[0-9a-f]+> is closed"));
    CHECK_THROWS_WITH(q.get(), Matches("Queue <mproc::Queue object at 0x[0-9a-f]+> is closed"));

    auto sq = mp::SimpleQueue<int>();
    sq.put(1);
    sq.close();
    CHECK_THROWS_AS(sq.empty(), mp::ClosedError);
    CHECK_THROWS_WITH(sq.empty(), "handle is closed");
    CHECK_THROWS_WITH(sq.get(), "handle is closed");
    CHECK_THROWS_WITH(sq.put(2), "handle is closed");
}
