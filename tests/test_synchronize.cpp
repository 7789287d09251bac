// Lock, RLock, Semaphore, BoundedSemaphore, Condition, Event, Barrier: Python's
// rules, use from threads and processes, a holder killed while holding a lock,
// and the objects passed to children under every start method.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "support.hpp"

namespace mp = mproc;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using Clock = std::chrono::steady_clock;
using mproc::test::child_check;
using mproc::test::seconds_since;
using mproc::test::wait_until;

namespace {

void hold_lock_until_told(mp::Lock lock, mp::Connection c) {
    lock.acquire();
    c.send(1);
    (void)c.recv<int>();  // the parent says when
    lock.release();
}

void hold_and_hang(mp::Lock lock, mp::RLock rlock, mp::Connection c) {
    lock.acquire();
    rlock.acquire();
    rlock.acquire();
    c.send(1);
    (void)c.recv<int>();  // never comes: the parent kills us
}

void try_lock_in_child(mp::Lock lock, mp::Connection c) {
    // The parent holds it: a try fails, a timed wait runs out.
    child_check(!lock.acquire(false), 2);
    child_check(!lock.acquire(true, 50ms), 3);
    c.send(1);
    child_check(lock.acquire(true, 30s), 4);  // the parent releases it now
    lock.release();
}

void count_under_lock(mp::Lock lock, mp::Value<long> counter, int n) {
    auto work = [&] {
        for (int i = 0; i < n; ++i) {
            std::lock_guard g(lock);
            counter.get_obj() += 1;  // raw: the lock is ours
        }
    };
    std::thread t(work);
    work();
    t.join();
}

void release_semaphore_times(mp::Semaphore sem, int n) {
    for (int i = 0; i < n; ++i) sem.release();
}

void wait_on_condition(mp::Condition cond, mp::Value<int> state, mp::Semaphore started) {
    std::unique_lock g(cond);
    started.release();
    bool ok = cond.wait_for([&] { return state.get_obj() >= 1; }, 30s);
    child_check(ok, 2);
    state.get_obj() += 1;  // one more child woke
    cond.notify_all();
}

void wait_for_event(mp::Event ev, mp::Event done) {
    child_check(ev.wait(30s), 2);
    child_check(ev.is_set(), 3);
    done.set();
}

bool action_ran = false;
void barrier_action() {
    action_ran = true;
}

void barrier_party(mp::Barrier b, mp::Connection c) {
    int index = b.wait(30s);
    c.send(std::pair<int, bool>{index, action_ran});
}

void wait_on_barrier_expecting_break(mp::Barrier b) {
    try {
        b.wait(30s);
    } catch (const mp::BrokenBarrierError&) {
        mp::exit(7);
    }
    mp::exit(1);
}

}  // namespace

TEST_CASE("Lock follows Python's rules", "[sync]") {
    mp::Lock lock;
    CHECK(lock.get_value() == 1);
    CHECK(lock.acquire());
    CHECK_FALSE(lock.is_mine() == false);
    CHECK(lock.get_value() == 0);
    CHECK_FALSE(lock.acquire(false));
    CHECK_FALSE(lock.acquire(true, -1s));  // negative timeout: zero
    auto t0 = Clock::now();
    CHECK_FALSE(lock.acquire(true, 200ms));
    CHECK(seconds_since(t0) >= 0.15);
    lock.release();
    CHECK_THROWS_AS(lock.release(), mp::ValueError);
    CHECK_THROWS_WITH(lock.release(), Contains("released too many times"));
    // Any thread may release a Lock.
    lock.acquire();
    std::thread([&] { lock.release(); }).join();
    CHECK(lock.get_value() == 1);
}

TEST_CASE("locks work with std::lock_guard, unique_lock and scoped_lock", "[sync]") {
    mp::Lock a;
    mp::RLock b;
    {
        std::lock_guard g(a);
        CHECK(a.get_value() == 0);
    }
    CHECK(a.get_value() == 1);
    {
        std::scoped_lock s(a, b);
        CHECK(a.get_value() == 0);
        CHECK(b.is_mine());
    }
    CHECK(a.get_value() == 1);
    CHECK_FALSE(b.is_mine());
    a.acquire();
    std::unique_lock<mp::Lock> u(a, std::defer_lock);
    CHECK_FALSE(u.try_lock());
    a.release();
    std::unique_lock<mp::Lock> v(a, 100ms);
    CHECK(v.owns_lock());
    CHECK_FALSE(a.try_lock_for(10ms));
}

TEST_CASE("RLock is re-entrant and owned by its thread", "[sync]") {
    mp::RLock r;
    CHECK(r.acquire());
    CHECK(r.acquire());
    CHECK(r.count() == 2);
    CHECK(r.is_mine());
    bool other_got_it = true;
    bool other_release_failed = false;
    std::thread([&] {
        other_got_it = r.acquire(false);
        try {
            r.release();
        } catch (const mp::ValueError& e) {
            other_release_failed = std::string(e.what()).find("not owned") != std::string::npos;
        }
    }).join();
    CHECK_FALSE(other_got_it);
    CHECK(other_release_failed);
    r.release();
    CHECK(r.is_mine());
    r.release();
    CHECK_FALSE(r.is_mine());
    CHECK(r.get_value() == 1);
    CHECK_THROWS_AS(r.release(), mp::ValueError);
}

TEST_CASE("Semaphore and BoundedSemaphore count as Python's do", "[sync]") {
    mp::Semaphore s(2);
    CHECK(s.get_value() == 2);
    CHECK(s.acquire());
    CHECK(s.acquire(false));
    CHECK_FALSE(s.acquire(false));
    auto t0 = Clock::now();
    CHECK_FALSE(s.acquire(true, 100ms));
    CHECK(seconds_since(t0) >= 0.05);
    s.release();
    s.release();
    s.release();  // a plain Semaphore may go above its start
    CHECK(s.get_value() == 3);
    CHECK_THROWS_AS(mp::Semaphore(-1), mp::ValueError);

    mp::BoundedSemaphore b(1);
    CHECK(b.acquire());
    b.release();
    CHECK_THROWS_WITH(b.release(), Contains("released too many times"));
    CHECK(b.get_value() == 1);
    // A waiter wakes when another thread releases.
    mp::Semaphore z(0);
    std::thread t([&] { z.release(); });
    CHECK(z.acquire(true, 30s));
    t.join();
}

TEST_CASE("a Lock passed to a child is the same lock", "[sync]") {
    FOR_EACH_START_METHOD(ctx);
    auto lock = ctx.Lock();
    auto [a, b] = ctx.Pipe();
    auto p = ctx.Process(hold_lock_until_told, lock, b);
    p.start();
    b.close();
    CHECK(a.recv<int>() == 1);
    CHECK_FALSE(lock.acquire(false));  // the child holds it
    a.send(0);
    CHECK(lock.acquire(true, 30s));
    lock.release();
    p.join(30s);
    CHECK(p.exitcode() == 0);

    lock.acquire();
    auto [c, d] = ctx.Pipe();
    auto q = ctx.Process(try_lock_in_child, lock, d);
    q.start();
    d.close();
    CHECK(c.recv<int>() == 1);
    lock.release();
    q.join(30s);
    CHECK(q.exitcode() == 0);
}

TEST_CASE("2 processes x 2 threads count to 400000 under one Lock", "[sync]") {
    FOR_EACH_START_METHOD(ctx);
    auto lock = ctx.Lock();
    auto counter = ctx.Value<long>(0L, false);
    auto p = ctx.Process(count_under_lock, lock, counter, 100000);
    p.start();
    count_under_lock(lock, counter, 100000);
    p.join(120s);
    CHECK(p.exitcode() == 0);
    CHECK(counter.value() == 400000);
}

TEST_CASE("a holder killed with SIGKILL leaves its locks abandoned, not stuck", "[sync]") {
    FOR_EACH_START_METHOD(ctx);
    auto lock = ctx.Lock();
    auto rlock = ctx.RLock();
    auto [a, b] = ctx.Pipe();
    auto p = ctx.Process(hold_and_hang, lock, rlock, b);
    p.start();
    b.close();
    CHECK(a.recv<int>() == 1);
    CHECK_FALSE(lock.acquire(true, 50ms));
    ::kill(*p.pid(), SIGKILL);  // not joined yet: a zombie holds the locks
    auto t0 = Clock::now();
    CHECK_THROWS_AS(lock.acquire(true, 30s), mp::AbandonedLock);
    CHECK(seconds_since(t0) < 20);
    // The acquirer holds it now.
    CHECK(lock.get_value() == 0);
    lock.release();
    CHECK(lock.acquire(false));
    lock.release();
    p.join(30s);
    CHECK(p.exitcode() == -SIGKILL);
    // After the reaping too; an RLock is taken over at depth 1.
    CHECK_THROWS_AS(rlock.acquire(), mp::AbandonedLock);
    CHECK(rlock.count() == 1);
    rlock.release();
    CHECK(rlock.get_value() == 1);
}

TEST_CASE("Semaphore released by a child wakes the parent", "[sync]") {
    FOR_EACH_START_METHOD(ctx);
    auto sem = ctx.Semaphore(0);
    auto p = ctx.Process(release_semaphore_times, sem, 3);
    p.start();
    for (int i = 0; i < 3; ++i) CHECK(sem.acquire(true, 30s));
    CHECK_FALSE(sem.acquire(false));
    p.join(30s);
    CHECK(p.exitcode() == 0);
    auto bounded = ctx.BoundedSemaphore(1);
    auto q = ctx.Process(release_semaphore_times, mp::Semaphore(bounded), 1);
    q.start();
    q.join(30s);
    CHECK(q.exitcode() == 1);  // ValueError escaped the target: released too many times
}

TEST_CASE("Condition: wait, wait_for, notify and timeouts", "[sync]") {
    mp::Condition cond;
    CHECK_THROWS_AS(cond.wait(10ms), mp::ValueError);
    CHECK_THROWS_AS(cond.notify(), mp::ValueError);
    {
        std::lock_guard g(cond);
        auto t0 = Clock::now();
        CHECK_FALSE(cond.wait(100ms));
        CHECK(seconds_since(t0) >= 0.05);
        CHECK(cond.get_lock().is_mine());  // taken back after the wait
        CHECK_FALSE(cond.wait_for([] { return false; }, 50ms));
        cond.notify();  // nobody waits: a no-op
    }
    // Over a plain Lock, too.
    mp::Lock l;
    mp::Condition c2(l);
    std::lock_guard g(c2);
    CHECK(l.get_value() == 0);
    CHECK_FALSE(c2.wait(10ms));
}

TEST_CASE("Condition wakes waiting children", "[sync]") {
    FOR_EACH_START_METHOD(ctx);
    auto cond = ctx.Condition();
    auto state = ctx.Value<int>(0, false);
    auto started = ctx.Semaphore(0);
    std::vector<mp::Process> ps;
    for (int i = 0; i < 2; ++i) ps.push_back(ctx.Process(wait_on_condition, cond, state, started));
    for (auto& p : ps) p.start();
    for (int i = 0; i < 2; ++i) REQUIRE(started.acquire(true, 30s));
    {
        std::unique_lock g(cond);
        state.get_obj() = 1;
        cond.notify_all();
        CHECK(cond.wait_for([&] { return state.get_obj() == 3; }, 30s));
    }
    for (auto& p : ps) {
        p.join(30s);
        CHECK(p.exitcode() == 0);
    }
}

TEST_CASE("Event: set, clear, is_set, wait", "[sync]") {
    FOR_EACH_START_METHOD(ctx);
    auto ev = ctx.Event();
    CHECK_FALSE(ev.is_set());
    auto t0 = Clock::now();
    CHECK_FALSE(ev.wait(100ms));
    CHECK(seconds_since(t0) >= 0.05);
    ev.set();
    CHECK(ev.is_set());
    CHECK(ev.wait(0s));
    ev.clear();
    CHECK_FALSE(ev.is_set());

    auto done = ctx.Event();
    auto p = ctx.Process(wait_for_event, ev, done);
    p.start();
    ev.set();
    CHECK(done.wait(30s));
    p.join(30s);
    CHECK(p.exitcode() == 0);
}

TEST_CASE("Barrier releases its parties together with distinct indexes", "[sync]") {
    FOR_EACH_START_METHOD(ctx);
    auto b = ctx.Barrier(3, barrier_action);
    CHECK(b.parties() == 3);
    auto [r, w] = ctx.Pipe(false);
    std::vector<mp::Process> ps;
    for (int i = 0; i < 2; ++i) ps.push_back(ctx.Process(barrier_party, b, w));
    for (auto& p : ps) p.start();
    w.close();
    wait_until([&] { return b.n_waiting() == 2; });
    action_ran = false;
    int mine = b.wait(30s);
    std::set<int> indexes{mine};
    int actions = action_ran ? 1 : 0;
    for (int i = 0; i < 2; ++i) {
        auto [index, ran] = r.recv<std::pair<int, bool>>();
        indexes.insert(index);
        actions += ran ? 1 : 0;
    }
    CHECK(indexes == std::set<int>{0, 1, 2});
    CHECK(actions == 1);  // the last to arrive ran it, once
    CHECK(mine == 2);     // the parent arrived last
    for (auto& p : ps) {
        p.join(30s);
        CHECK(p.exitcode() == 0);
    }
    CHECK(b.n_waiting() == 0);
    CHECK_FALSE(b.broken());
}

TEST_CASE("Barrier: timeout breaks it, reset mends it, abort wakes waiters", "[sync]") {
    FOR_EACH_START_METHOD(ctx);
    auto b = ctx.Barrier(2, nullptr, 100ms);
    auto t0 = Clock::now();
    CHECK_THROWS_AS(b.wait(), mp::BrokenBarrierError);
    CHECK(seconds_since(t0) >= 0.05);
    CHECK(b.broken());
    CHECK_THROWS_AS(b.wait(), mp::BrokenBarrierError);
    b.reset();
    CHECK_FALSE(b.broken());

    auto p = ctx.Process(wait_on_barrier_expecting_break, b);
    p.start();
    wait_until([&] { return b.n_waiting() == 1; });
    b.abort();
    p.join(30s);
    CHECK(p.exitcode() == 7);
    CHECK(b.broken());
    CHECK_THROWS_AS(mp::Barrier(0), mp::ValueError);
}

TEST_CASE("a Barrier action that throws breaks the barrier", "[sync]") {
    mp::Barrier b(1, [] { throw std::runtime_error("action failed"); });
    CHECK_THROWS_WITH(b.wait(), Contains("action failed"));
    CHECK(b.broken());
}

TEST_CASE("a capturing Barrier action cannot cross exec", "[sync]") {
    int n = 0;
    auto ctx = mp::get_context("spawn");
    auto b = ctx.Barrier(1, [&n] { ++n; });
    CHECK(b.wait() == 0);
    CHECK(n == 1);
    auto p = ctx.Process(wait_on_barrier_expecting_break, b);
    CHECK_THROWS_WITH(p.start(), Contains("plain function"));
}

TEST_CASE("locks cannot be sent over a Connection", "[sync]") {
    auto [a, b] = mp::Pipe();
    mp::Lock lock;
    CHECK_THROWS_WITH(a.send(lock), Contains("through inheritance"));
}

TEST_CASE("many locks share few file descriptors", "[sync]") {
    int before = mp::test::open_fd_count();
    std::vector<mp::Lock> locks;
    for (int i = 0; i < 3000; ++i) locks.emplace_back();
    // 64-byte blocks, about 1000 to a 64 KiB segment.
    CHECK(mp::test::open_fd_count() - before <= 4);
    for (auto& l : locks) REQUIRE(l.acquire(false));
    for (auto& l : locks) l.release();
}

TEST_CASE("locks, semaphores and conditions print as Python's do", "[sync]") {
    mp::Lock l;
    CHECK(fmt::format("{}", l) == "<Lock(owner=None)>");
    l.acquire();
    CHECK(fmt::format("{}", l) == "<Lock(owner=MainProcess)>");
    std::string other;
    std::thread([&] { other = l.repr(); }).join();
    CHECK(other == "<Lock(owner=SomeOtherThread)>");  // Python's text
    l.release();
    mp::RLock r;
    CHECK(r.repr() == "<RLock(None, 0)>");
    r.acquire();
    r.acquire();
    CHECK(r.repr() == "<RLock(MainProcess, 2)>");
    mp::Condition c(r);
    CHECK(c.repr() == "<Condition(<RLock(MainProcess, 2)>, 0)>");
    r.release();
    r.release();
    CHECK(fmt::format("{}", mp::Semaphore(2)) == "<Semaphore(value=2)>");
    CHECK(fmt::format("{}", mp::BoundedSemaphore(1)) == "<BoundedSemaphore(value=1, maxvalue=1)>");
}
