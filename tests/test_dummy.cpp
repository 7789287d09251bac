// mproc::dummy::Pool (mproc::ThreadPool): Pool's API over threads; any
// callable, exceptions with their own type, lazy imap, callbacks, rules of
// close/terminate/join.
#include <atomic>
#include <ranges>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <mproc/dummy.hpp>

#include "support.hpp"

namespace mp = mproc;
using namespace std::chrono_literals;

namespace {
struct Custom : std::runtime_error {
    using std::runtime_error::runtime_error;
};
}  // namespace

TEST_CASE("dummy::Pool: map, starmap, apply, imap over threads with any callable", "[dummy]") {
    const int before = mproc::test::thread_count();
    {
        mp::dummy::Pool pool(3);
        CHECK(pool.processes() == 3);
        std::string suffix = "!";
        auto shout = [&](int x) { return std::to_string(x) + suffix; };
        CHECK(pool.map(shout, std::views::iota(0, 3)) ==
              std::vector<std::string>{"0!", "1!", "2!"});
        std::vector<std::tuple<int, int>> pairs{{1, 2}, {3, 4}};
        CHECK(pool.starmap([](int a, int b) { return a * b; }, pairs) == std::vector<int>{2, 12});
        CHECK(pool.apply([](int a, int b) { return a - b; }, 5, 3) == 2);
        auto r = pool.apply_async([&] { return suffix; });
        CHECK(r.get(10s) == "!");
        CHECK(r.successful());

        std::vector<int> got;
        for (int x : pool.imap([](int x) { return x * x; }, std::views::iota(0, 10)))
            got.push_back(x);
        CHECK(got == std::vector<int>{0, 1, 4, 9, 16, 25, 36, 49, 64, 81});
        std::multiset<int> un;
        for (int x : pool.imap_unordered([](int x) { return x; }, std::views::iota(0, 10), 3))
            un.insert(x);
        CHECK(un.size() == 10);

        // Exceptions keep their type; imap goes on after a failed item.
        CHECK_THROWS_AS(pool.apply([] { throw Custom("c"); }), Custom);
        auto bad = [](int x) {
            if (x == 2) throw std::invalid_argument("two");
            return x;
        };
        CHECK_THROWS_AS(pool.map(bad, std::views::iota(0, 5)), std::invalid_argument);
        auto it2 = pool.imap(bad, std::views::iota(0, 4));
        CHECK(it2.next() == 0);
        CHECK(it2.next() == 1);
        CHECK_THROWS_AS(it2.next(), std::invalid_argument);
        CHECK(it2.next() == 3);
        CHECK(it2.next() == std::nullopt);

        // Callbacks.
        std::atomic<int> sum{0};
        auto ma = pool.map_async([](int x) { return x; }, std::vector<int>{1, 2, 3}, std::nullopt,
                                 [&](const std::vector<int>& v) {
                                     for (int x : v) sum += x;
                                 });
        ma.wait();
        CHECK(sum.load() == 6);

        CHECK_THROWS_AS(pool.join(), mp::ValueError);
        pool.close();
        CHECK_THROWS_AS(pool.apply([] { return 1; }), mp::ValueError);
        pool.join();
    }
    {
        // Lazy: an endless input (the pool is terminated at the end of the
        // block: close() and join() would wait for the whole input, as in Python).
        mp::dummy::Pool pool(2);
        std::atomic<int> read{0};
        auto endless = std::views::iota(0) | std::views::transform([&](int x) {
                           ++read;
                           return x;
                       });
        auto it = pool.imap([](int x) { return x + 1; }, endless);
        for (int k = 0; k < 5; ++k) CHECK(it.next(10s) == k + 1);
        CHECK(read.load() < 100);
    }
    {
        mp::ThreadPool pool(1);
        std::atomic<bool> started{false};
        auto slow = pool.apply_async([&] {
            started = true;
            std::this_thread::sleep_for(100ms);
            return 1;
        });
        auto queued = pool.apply_async([] { return 2; });
        mproc::test::wait_until([&] { return started.load(); });
        pool.terminate();
        CHECK(slow.get() == 1);  // a running task finishes
        CHECK_THROWS_AS(queued.get(), mp::ProcessError);
    }
    {
        int per_thread = 0;
        thread_local int seen = 0;
        mp::dummy::Pool pool(
            2, [](int v) { seen = v; }, 7);
        CHECK(pool.map([](int) { return seen; }, std::views::iota(0, 10)) ==
              std::vector<int>(10, 7));
        (void)per_thread;
    }
    CHECK(mproc::test::thread_count() == before);
}

TEST_CASE("dummy::Process and dummy::Queue: the Process and Queue API over threads", "[dummy]") {
    const int before = mproc::test::thread_count();
    mp::dummy::Queue<std::string> q(1);
    int local = 0;
    mp::dummy::Process p(
        [&](mp::dummy::Queue<std::string> out) {
            local = 5;  // threads share memory
            out.put("hello");
            out.put("world");
        },
        q);
    CHECK_FALSE(p.is_alive());
    CHECK_THAT(p.name(), Catch::Matchers::StartsWith("Thread-"));
    CHECK_THROWS_AS(p.join(), mp::ValueError);
    p.start();
    CHECK_THROWS_AS(p.start(), mp::ValueError);
    CHECK(q.get(10s) == "hello");
    CHECK(q.get(10s) == "world");
    p.join();
    CHECK_FALSE(p.is_alive());
    CHECK(local == 5);
    CHECK_THROWS_AS(q.get(10ms), mp::Empty);
    q.put("x");
    CHECK(q.full());
    CHECK_THROWS_AS(q.put_nowait("y"), mp::Full);
    CHECK(q.get_nowait() == "x");
    q.task_done();
    q.task_done();
    q.task_done();
    q.join();
    CHECK_THROWS_AS(q.task_done(), mp::ValueError);
    mp::dummy::Lock lock;
    { std::lock_guard g(lock); }
    CHECK(mproc::test::thread_count() == before);
}

TEST_CASE("dummy::Pipe, Event, Semaphore, Condition, Barrier, Value, Array: thread twins",
          "[dummy]") {
    const int before = mproc::test::thread_count();
    {
        // Pipe: any object moves between threads; recv names its type.
        auto [a, b] = mp::dummy::Pipe();
        CHECK_FALSE(b.poll());
        std::thread t([a = a]() mutable {
            a.send(std::string("hello"));
            a.send(std::vector<int>{1, 2, 3});
            a.send_bytes("raw");
        });
        CHECK(b.poll(10s));
        CHECK(b.recv<std::string>() == "hello");
        CHECK(b.recv<std::vector<int>>() == std::vector<int>{1, 2, 3});
        auto raw = b.recv_bytes();
        CHECK(std::string(reinterpret_cast<const char*>(raw.data()), raw.size()) == "raw");
        t.join();
        b.send(42);  // both ends send and receive
        CHECK_THROWS_AS(a.recv<std::string>(), mp::ValueError);
        CHECK_FALSE(a.poll(0.05s));

        // Event: wait times out, then a thread sets it.
        mp::dummy::Event ev;
        CHECK_FALSE(ev.wait(0.01s));
        std::thread setter([ev]() mutable { ev.set(); });
        CHECK(ev.wait(10s));
        CHECK(ev.is_set());
        setter.join();
        ev.clear();
        CHECK_FALSE(ev.is_set());

        // Semaphore and BoundedSemaphore.
        mp::dummy::Semaphore sem(2);
        CHECK(sem.acquire());
        CHECK(sem.acquire(false) == true);
        CHECK_FALSE(sem.acquire(false));
        CHECK_FALSE(sem.acquire(0.01s));
        sem.release();
        CHECK(sem.get_value() == 1);
        {
            std::lock_guard g(sem);  // a Lockable
            CHECK(sem.get_value() == 0);
        }
        mp::dummy::BoundedSemaphore bs(1);
        CHECK_THROWS_AS(bs.release(), mp::ValueError);
        CHECK_THROWS_AS(mp::dummy::Semaphore(-1), mp::ValueError);

        // Condition: notify(1) wakes one waiter, notify_all the rest; a
        // wait without a notify times out.
        mp::dummy::Condition cond;
        mp::dummy::Value<int> ready(0), woken(0);
        std::vector<std::thread> waiters;
        for (int i = 0; i < 3; ++i)
            waiters.emplace_back([cond, ready, woken]() mutable {
                std::unique_lock g(cond);
                ready += 1;
                cond.wait();
                woken += 1;
            });
        mproc::test::wait_until([&] { return ready.value() == 3; }, 10);
        {
            std::unique_lock g(cond);  // all three are in wait() now
            cond.notify();
        }
        mproc::test::wait_until([&] { return woken.value() == 1; }, 10);
        {
            std::unique_lock g(cond);
            cond.notify_all();
        }
        for (auto& w : waiters) w.join();
        CHECK(woken.value() == 3);
        {
            std::unique_lock g(cond);
            CHECK_FALSE(cond.wait(0.01s));
            CHECK(cond.wait_for([&] { return woken.value() == 3; }, 0s));
        }

        // Barrier: the action runs once per round; indices 0..parties-1;
        // abort breaks it, reset mends it.
        mp::dummy::Value<int> actions(0);
        mp::dummy::Barrier barrier(3, [actions]() mutable { actions += 1; });
        mp::dummy::Array<int> index(3);
        std::vector<std::thread> parties;
        for (int i = 0; i < 3; ++i)
            parties.emplace_back(
                [barrier, index, i]() mutable { index[std::size_t(i)] = barrier.wait(10s); });
        for (auto& p : parties) p.join();
        CHECK(actions.value() == 1);
        std::multiset<int> indices(index.begin(), index.end());
        CHECK(indices == std::multiset<int>{0, 1, 2});
        CHECK(barrier.parties() == 3);
        CHECK(barrier.n_waiting() == 0);
        CHECK_THROWS_AS(barrier.wait(0.01s), mp::BrokenBarrierError);  // timed out: broken
        CHECK(barrier.broken());
        barrier.reset();
        CHECK_FALSE(barrier.broken());
        barrier.abort();
        CHECK_THROWS_AS(barrier.wait(), mp::BrokenBarrierError);

        // Value and Array: copies share; get_lock for several steps.
        mp::dummy::Value<double> v(1.5);
        auto v2 = v;
        v2 = 2.5;
        v += 1.0;
        CHECK(v.value() == 3.5);
        {
            std::lock_guard g(v.get_lock());
            v.get_obj() *= 2;
        }
        CHECK(v2.value() == 7.0);
        mp::dummy::Array<int> arr(std::views::iota(0, 5));
        std::vector<std::thread> negators;
        for (int i = 0; i < 5; ++i)
            negators.emplace_back([arr, i] { arr[std::size_t(i)] = -arr[std::size_t(i)]; });
        for (auto& n : negators) n.join();
        CHECK(arr.to_vector() == std::vector<int>{0, -1, -2, -3, -4});
        CHECK(arr.slice(-2, 100) == std::vector<int>{-3, -4});
        arr.assign(3, std::vector<int>{7, 8});
        CHECK(arr.at(4) == 8);
        CHECK_THROWS_AS(arr.at(5), mp::ValueError);
        CHECK_THROWS_AS(arr.assign(4, std::vector<int>{1, 2}), mp::ValueError);
        mp::dummy::Array<char> chars{'a', 'b'};
        CHECK(chars.size() == 2);
    }
    CHECK(mproc::test::thread_count() == before);
}
