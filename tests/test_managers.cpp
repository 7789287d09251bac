// Managers: the SyncManager's types and their proxies (Python's rules and
// printable forms), nested proxies, proxies crossing into children (Process
// arguments, Queues, Pipes) under every start method, reference counts
// checked from the server's side (also after a child is killed), and the
// failures beyond Python: the server killed (calls throw ManagerError), the
// owner killed (the server goes too), wrong keys and hostile clients.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <mproc/managers.hpp>

#include "support.hpp"

namespace mp = mproc;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using Clock = std::chrono::steady_clock;
using mproc::test::child_check;
using mproc::test::seconds_since;
using mproc::test::wait_until;

namespace {

// True while pid exists and is not a zombie.
bool running(int pid) {
    char state = mproc::test::process_state(pid);
    return state != '?' && state != 'Z';
}

void docs_f(mp::DictProxy d, mp::ListProxy l) {
    d[1] = "1";
    d["2"] = 2;
    d[0.25] = mp::None;
    l.reverse();
}

void increment(mp::DictProxy d, mp::AcquirerProxy lock, int n) {
    for (int i = 0; i < n; ++i) {
        std::lock_guard g(lock);
        d["count"] = d["count"].get().as<std::int64_t>() + 1;
    }
}

void queue_worker(mp::QueueProxy in, mp::QueueProxy out) {
    for (;;) {
        auto x = in.get();
        if (x.is_none()) break;
        out.put(x.as<std::int64_t>() * 2);
    }
}

void nested_child(mp::DictProxy d) {
    mp::ListProxy inner(d["inner"]);
    inner.append("from child");
}

void hold_and_wait(mp::Queue<mp::ListProxy> q, mp::EventProxy e) {
    auto l = q.get();
    l.append(1);
    e.wait();  // killed here
}

void proxy_from_queue(mp::Queue<mp::DictProxy> q) {
    auto d = q.get();
    d["seen"] = true;
}

void proxy_from_pipe(mp::Connection c) {
    auto l = c.recv<mp::ListProxy>();
    l.append("piped");
    c.send(1);
}

// Starts a manager, reports its server's pid, then waits to be killed.
void owner_of_manager(mp::Connection c) {
    auto m = mp::Manager();
    c.send(*m.pid());
    c.recv<int>();  // never comes
}

// The docs' MathsClass, registered at namespace scope so that a spawned
// server process registers it too.
struct Maths {
    int add(int x, int y) { return x + y; }
    int mul(int x, int y) const { return x * y; }
    std::string greet(std::string name) { return "hello " + name; }
    void fail() { throw std::runtime_error("failed on purpose"); }
};
const bool maths_registered = mp::BaseManager::register_<Maths>(
    "Maths",
    {{"add", &Maths::add}, {"mul", &Maths::mul}, {"greet", &Maths::greet}, {"fail", &Maths::fail}});
// The docs' remote queue: every get_queue() is the same Queue.
const bool queue_registered = mp::BaseManager::register_builtin("get_queue", "Queue", true);

struct MathsProxy : mp::BaseProxy {
    using BaseProxy::BaseProxy;
    int add(int x, int y) const { return call<int>("add", x, y); }
};

// The docs' queue server: serves forever on a TCP port it reports.
void queue_server(mp::Connection c) {
    mp::BaseManager m(mp::connection::Address("127.0.0.1", 0), "abracadabra");
    auto server = m.get_server();
    c.send(int(server.address().inet()->port));
    server.serve_forever();
}

// The docs' second client: gets what the first put.
void queue_client_get(int port, mp::Connection c) {
    mp::BaseManager m(mp::connection::Address("127.0.0.1", port), "abracadabra");
    m.connect();
    auto q = m.create<mp::QueueProxy>("get_queue");
    c.send(q.get(true, 60s).as<std::string>());
}

}  // namespace

TEST_CASE("Manager's default address: abstract, nothing on disk, only its user served",
          "[managers]") {
    FOR_EACH_START_METHOD(ctx);
    const auto before = mp::test::temp_entries();
    auto m = ctx.Manager();
    const auto* path = m.address().path();
    REQUIRE(path);
    REQUIRE_FALSE(path->empty());
    CHECK(path->front() == '\0');  // Linux's abstract namespace
    CHECK_THAT(*path, Contains("mproc-manager-"));
    CHECK(mp::test::temp_entries() == before);
    auto d = m.dict();
    d["x"] = 1;
    if (::geteuid() == 0) {  // root can become another user to try
        auto fork = mp::get_context("fork");
        auto [r, w] = fork.Pipe(false);
        auto p = fork.Process(mp::test::connect_as_nobody, w, *path, std::string());
        p.start();
        w.close();
        CHECK(r.recv<std::string>() == "refused");
        p.join();
        CHECK(d["x"].get() == mp::object(1));  // and it still serves us
    }
    // A SIGKILLed server leaves nothing behind either.
    ::kill(*m.pid(), SIGKILL);
    m.join(60s);
    CHECK(mp::test::temp_entries() == before);
    CHECK_THROWS_AS(d.len(), mp::ManagerError);
}

TEST_CASE("BaseManager: registered types, exposed methods, typed calls", "[managers]") {
    FOR_EACH_START_METHOD(ctx);
    mp::BaseManager m(ctx);
    m.start();
    CHECK_THAT(m.process_name(), Contains("BaseManager-"));
    auto maths = m.create("Maths");
    CHECK(maths.call<int>("add", 4, 3) == 7);
    CHECK(maths.call<int>("mul", 7, 8) == 56);
    CHECK(maths.call<std::string>("greet", std::string("bob")) == "hello bob");
    CHECK(m.create<MathsProxy>("Maths").add(1, 2) == 3);
    CHECK_THROWS_AS(maths.call<int>("add", 1), mp::TypeError);
    CHECK_THROWS_WITH(maths._callmethod("sub", {1, 2}),
                      "AttributeError: method 'sub' of <class 'Maths'> object is not in "
                      "exposed=('add', 'mul', 'greet', 'fail')");
    CHECK_THROWS_WITH(maths.call("fail"), Contains("failed on purpose"));
    CHECK_THROWS_AS(maths.call<int>("add", std::string("x"), 1), mp::RemoteError);
    CHECK_THROWS_AS(m.create("Unknown"), mp::ValueError);
    auto q1 = m.create<mp::QueueProxy>("get_queue");
    auto q2 = m.create<mp::QueueProxy>("get_queue");
    q1.put("shared");
    CHECK(q2.get(true, 60s) == mp::object("shared"));
    m.shutdown();
}

TEST_CASE("Remote manager over TCP: the docs' queue server and two clients", "[managers]") {
    FOR_EACH_START_METHOD(ctx);
    auto [a, b] = ctx.Pipe();
    auto server = ctx.Process(queue_server, b);
    server.start();
    REQUIRE(a.poll(60s));
    const int port = a.recv<int>();
    auto [c1, c2] = ctx.Pipe();
    auto getter = ctx.Process(queue_client_get, port, c2);
    getter.start();
    {
        mp::BaseManager m(mp::connection::Address("127.0.0.1", port), "abracadabra");
        m.connect();
        auto q = m.create<mp::QueueProxy>("get_queue");
        q.put("hello");
        REQUIRE(c1.poll(60s));
        CHECK(c1.recv<std::string>() == "hello");
        mp::BaseManager wrong(mp::connection::Address("127.0.0.1", port), "wrong");
        CHECK_THROWS_AS(wrong.connect(), mp::AuthenticationError);
    }
    getter.join(60s);
    CHECK(getter.exitcode() == 0);
    server.terminate();
    server.join(60s);
}

TEST_CASE("Manager dict: Python's methods, mixed keys, errors and printing", "[managers]") {
    FOR_EACH_START_METHOD(ctx);
    auto m = ctx.Manager();
    CHECK_THAT(m.process_name(), Contains("SyncManager-"));
    auto d = m.dict();
    d[1] = "1";
    d["2"] = 2;
    d[0.25] = mp::None;
    CHECK(fmt::format("{}", d) == "{1: '1', '2': 2, 0.25: None}");
    CHECK_THAT(d.repr(), Contains("<DictProxy object, typeid 'dict' at 0x"));
    CHECK(d.len() == 3);
    CHECK(d[1].get() == mp::object("1"));
    CHECK(d.contains("2"));
    CHECK_FALSE(d.contains("3"));
    CHECK(d.get("3", 7) == mp::object(7));
    CHECK(d.get(1.0) == mp::object("1"));  // 1 == 1.0, as Python's keys
    CHECK_THROWS_AS(d.getitem("nope"), mp::KeyError);
    CHECK_THROWS_WITH(d.getitem("nope"), "KeyError: 'nope'");
    CHECK(d.keys() == mp::list{1, "2", 0.25});
    CHECK(d.values() == mp::list{"1", 2, mp::None});
    auto items = d.items();
    REQUIRE(items.size() == 3);
    CHECK(items.at(1).first == mp::object("2"));
    CHECK(d.pop("2") == mp::object(2));
    CHECK(d.pop("2", "gone") == mp::object("gone"));
    CHECK(d.setdefault("x", 5) == mp::object(5));
    CHECK(d.setdefault("x", 6) == mp::object(5));
    d.update(mp::dict{{"y", mp::list{1, 2}}});
    CHECK(d.popitem().first == mp::object("y"));
    d.delitem(0.25);
    CHECK(d.copy() == mp::dict{{1, "1"}, {"x", 5}});
    CHECK(d._getvalue() == mp::object(mp::dict{{1, "1"}, {"x", 5}}));
    d.clear();
    CHECK(d.len() == 0);
    CHECK_THROWS_AS(d.popitem(), mp::KeyError);
    CHECK_THROWS_AS(d.setitem(mp::list{1}, 1), mp::TypeError);
    // A method not exposed is refused with Python's text; nothing else runs.
    CHECK_THROWS_AS(d._callmethod("__class__"), mp::AttributeError);
    CHECK_THROWS_WITH(d._callmethod("system", {"rm -rf /"}),
                      Contains("method 'system' of <class 'dict'> object is not in exposed="));
    auto d2 = m.dict(mp::dict{{"a", 1}});
    CHECK(d2["a"].get() == mp::object(1));
}

TEST_CASE("Manager list, Namespace, Value and Array", "[managers]") {
    FOR_EACH_START_METHOD(ctx);
    auto m = ctx.Manager();
    auto l = m.list(std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
    l.reverse();
    CHECK(fmt::format("{}", l) == "[9, 8, 7, 6, 5, 4, 3, 2, 1, 0]");
    CHECK(l.len() == 10);
    CHECK(l[0].get() == mp::object(9));
    CHECK(l[-1].get() == mp::object(0));
    l[0] = "nine";
    CHECK(l.getitem(0) == mp::object("nine"));
    CHECK_THROWS_AS(l.getitem(10), mp::IndexError);
    CHECK_THROWS_WITH(l.getitem(10), "IndexError: list index out of range");
    CHECK(l.slice(1, 3) == mp::list{8, 7});
    CHECK(l.slice(-2, std::nullopt) == mp::list{1, 0});
    l.delitem(0);
    l.sort();
    CHECK(l.tolist() == mp::list{0, 1, 2, 3, 4, 5, 6, 7, 8});
    l.sort(true);
    CHECK(l.getitem(0) == mp::object(8));
    l.append(2.5);
    l.extend(mp::list{"a"});
    CHECK_THROWS_AS(l.sort(), mp::TypeError);
    CHECK(l.pop() == mp::object("a"));
    CHECK(l.index(2.5) == 9);
    CHECK(l.count(2) == 1);
    CHECK(l.contains(2.5));
    l.remove(2.5);
    CHECK_THROWS_AS(l.remove(2.5), mp::ValueError);
    l.insert(0, "first");
    CHECK(l.pop(0) == mp::object("first"));
    l += mp::list{100};
    CHECK(l.len() == 10);
    CHECK((l + mp::list{1}).size() == 11);
    auto small = m.list(mp::list{1, 2});
    small *= 2;
    CHECK(small.tolist() == mp::list{1, 2, 1, 2});
    CHECK(small * 2 == mp::list{1, 2, 1, 2, 1, 2, 1, 2});

    auto ns = m.Namespace();
    ns["x"] = 10;
    ns.set("y", "hello");
    CHECK(ns.get("x") == mp::object(10));
    CHECK(ns["y"].get() == mp::object("hello"));
    CHECK(fmt::format("{}", ns) == "Namespace(x=10, y='hello')");
    CHECK_THROWS_AS(ns.get("z"), mp::AttributeError);
    ns.del("x");
    CHECK_THROWS_AS(ns.get("x"), mp::AttributeError);

    auto v = m.Value("d", 3.5);
    CHECK(v.value() == mp::object(3.5));
    v = 4.5;
    CHECK(v.get() == mp::object(4.5));
    CHECK(fmt::format("{}", v) == "Value('d', 4.5)");
    auto a = m.Array("i", mp::list{1, 2, 3});
    CHECK(a.len() == 3);
    a.setitem(0, 10);
    CHECK(a.getitem(0) == mp::object(10));
    CHECK_THROWS_AS(a.setitem(1, 1.5), mp::TypeError);
    CHECK(fmt::format("{}", a) == "array('i', [10, 2, 3])");
    CHECK(a.tolist() == mp::list{10, 2, 3});
}

TEST_CASE("Manager proxies as Process arguments: the docs' example", "[managers]") {
    FOR_EACH_START_METHOD(ctx);
    auto m = ctx.Manager();
    auto d = m.dict();
    auto l = m.list(std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
    auto p = ctx.Process(docs_f, d, l);
    p.start();
    p.join(60s);
    CHECK(p.exitcode() == 0);
    CHECK(fmt::format("{}", d) == "{1: '1', '2': 2, 0.25: None}");
    CHECK(fmt::format("{}", l) == "[9, 8, 7, 6, 5, 4, 3, 2, 1, 0]");
}

TEST_CASE("Manager: 4 processes increment a managed dict under a managed Lock", "[managers]") {
    FOR_EACH_START_METHOD(ctx);
    auto m = ctx.Manager();
    auto d = m.dict(mp::dict{{"count", 0}});
    auto lock = m.Lock();
    std::vector<mp::Process> ps;
    for (int i = 0; i < 4; ++i) ps.push_back(ctx.Process(increment, d, lock, 50));
    for (auto& p : ps) p.start();
    for (auto& p : ps) {
        p.join(120s);
        CHECK(p.exitcode() == 0);
    }
    CHECK(d["count"].get() == mp::object(200));
}

TEST_CASE("Manager nested proxies come back as working proxies", "[managers]") {
    FOR_EACH_START_METHOD(ctx);
    auto m = ctx.Manager();
    auto d = m.dict();
    auto inner = m.list(mp::list{1});
    d["inner"] = inner;
    auto outer = m.list();
    outer.append(d);
    mp::DictProxy d_again(outer[0]);
    mp::ListProxy inner_again(d_again["inner"]);
    inner_again.append(2);
    CHECK(inner.tolist() == mp::list{1, 2});
    CHECK(inner_again == inner);
    CHECK_THROWS_AS(mp::DictProxy(d["inner"]), mp::ValueError);  // a list, not a dict
    // print(d) shows a stored proxy as Python does, not as its reference tuple.
    CHECK(fmt::format("{}", d) ==
          fmt::format("{{'inner': <ListProxy object, typeid 'list' at {:#x}>}}", inner.token().id));
    auto ns = m.Namespace();
    ns.set("q", m.Queue().ref());
    CHECK_THAT(ns.str(), Contains("q=<AutoProxy[Queue] object, typeid 'Queue' at 0x"));
    auto p = ctx.Process(nested_child, d);
    p.start();
    p.join(60s);
    CHECK(p.exitcode() == 0);
    CHECK(inner.tolist() == mp::list{1, 2, "from child"});
}

TEST_CASE("Manager queue proxies and proxies through Queues and Pipes", "[managers]") {
    FOR_EACH_START_METHOD(ctx);
    auto m = ctx.Manager();
    auto in = m.Queue();
    auto out = m.Queue();
    auto p = ctx.Process(queue_worker, in, out);
    p.start();
    for (int i = 0; i < 5; ++i) in.put(i);
    in.put(mp::None);
    for (int i = 0; i < 5; ++i) CHECK(out.get(true, 60s) == mp::object(2 * i));
    p.join(60s);
    CHECK(p.exitcode() == 0);
    CHECK(out.empty());
    CHECK_THROWS_AS(out.get_nowait(), mp::Empty);
    auto t0 = Clock::now();
    CHECK_THROWS_AS(out.get(true, 100ms), mp::Empty);
    CHECK(seconds_since(t0) >= 0.05);
    auto bounded = m.Queue(1);
    bounded.put(1);
    CHECK(bounded.full());
    CHECK_THROWS_AS(bounded.put(2, true, 50ms), mp::Full);
    auto jq = m.JoinableQueue();
    jq.put(1);
    CHECK(jq.qsize() == 1);
    jq.get();
    jq.task_done();
    jq.join();
    CHECK_THROWS_AS(jq.task_done(), mp::ValueError);

    auto d = m.dict();
    auto q = ctx.Queue<mp::DictProxy>();
    auto p2 = ctx.Process(proxy_from_queue, q);
    p2.start();
    q.put(d);
    p2.join(60s);
    CHECK(p2.exitcode() == 0);
    CHECK(d.get("seen") == mp::object(true));

    auto l = m.list();
    auto [a, b] = ctx.Pipe();
    auto p3 = ctx.Process(proxy_from_pipe, b);
    p3.start();
    b.close();
    a.send(l);
    CHECK(a.recv<int>() == 1);
    p3.join(60s);
    CHECK(l.tolist() == mp::list{"piped"});
}

TEST_CASE("Manager synchronisation proxies follow Python's rules", "[managers]") {
    FOR_EACH_START_METHOD(ctx);
    auto m = ctx.Manager();
    auto lock = m.Lock();
    CHECK(lock.acquire());
    CHECK_FALSE(lock.acquire(false));
    CHECK_FALSE(lock.acquire(true, 50ms));
    lock.release();
    CHECK_THROWS_AS(lock.release(), mp::RemoteError);
    auto rlock = m.RLock();
    CHECK(rlock.acquire());
    CHECK(rlock.acquire());  // reentrant for this thread
    std::thread([&] { CHECK_FALSE(rlock.acquire(false)); }).join();
    rlock.release();
    rlock.release();
    CHECK_THROWS_WITH(rlock.release(), "RuntimeError: cannot release un-acquired lock");
    auto sem = m.Semaphore(2);
    CHECK(sem.acquire());
    CHECK(sem.acquire());
    CHECK_FALSE(sem.acquire(false));
    sem.release();
    auto bsem = m.BoundedSemaphore(1);
    CHECK_THROWS_AS(bsem.release(), mp::ValueError);
    auto ev = m.Event();
    CHECK_FALSE(ev.is_set());
    CHECK_FALSE(ev.wait(20ms));
    std::thread setter([&] { ev.set(); });
    CHECK(ev.wait(60s));
    setter.join();
    ev.clear();
    CHECK_FALSE(ev.is_set());

    auto cond = m.Condition();
    auto flag = m.Value("i", 0);
    std::thread notifier([&] {
        std::lock_guard g(cond);
        flag.set(1);
        cond.notify_all();
    });
    {
        std::unique_lock g(cond);
        CHECK(cond.wait_for([&] { return flag.get() == mp::object(1); }, 60s));
    }
    notifier.join();
    CHECK_THROWS_AS(cond.wait(10ms), mp::RemoteError);  // not held
    auto cond_on_lock = m.Condition(lock);
    CHECK(cond_on_lock.acquire());
    CHECK_FALSE(lock.acquire(false));  // the same lock
    CHECK_FALSE(cond_on_lock.wait(10ms));
    cond_on_lock.release();

    auto barrier = m.Barrier(2);
    CHECK(barrier.parties() == 2);
    int other = -1;
    std::thread waiter([&] { other = barrier.wait(60s); });
    int mine = barrier.wait(60s);
    waiter.join();
    CHECK(mine + other == 1);
    CHECK_THROWS_AS(barrier.wait(20ms), mp::BrokenBarrierError);  // times out: broken
    CHECK(barrier.broken());
    barrier.reset();
    CHECK_FALSE(barrier.broken());
    CHECK(barrier.n_waiting() == 0);
}

TEST_CASE("Manager referents are freed after the last proxy, also a killed child's", "[managers]") {
    FOR_EACH_START_METHOD(ctx);
    auto m = ctx.Manager();
    CHECK(m._number_of_objects() == 0);
    {
        auto d = m.dict();
        auto copy = d;
        CHECK(m._number_of_objects() == 1);
        CHECK_THAT(m._debug_info(), Contains("refcount=1"));
    }
    CHECK(m._number_of_objects() == 0);
    // A child takes references of its own and dies by SIGKILL without
    // giving them back: the server drops them when its connections close.
    // (The list goes through a Queue: a Process keeps its arguments, and so
    // their references, as long as it lives, as Python's does.)
    auto e = m.Event();
    auto q = ctx.Queue<mp::ListProxy>();
    auto p = ctx.Process(hold_and_wait, q, e);
    p.start();
    {
        auto l = m.list();
        q.put(l);
        wait_until([&] { return l.len() == 1; });
    }
    CHECK(m._number_of_objects() == 2);  // the child still holds the list
    p.kill();
    p.join(60s);
    wait_until([&] { return m._number_of_objects() == 1; });  // only the Event
}

TEST_CASE("Manager failures: the server killed, shutdown, wrong key", "[managers]") {
    FOR_EACH_START_METHOD(ctx);
    auto m = ctx.Manager();
    auto d = m.dict();
    d["a"] = 1;
    REQUIRE(m.pid());
    ::kill(*m.pid(), SIGKILL);
    m.join(60s);
    auto t0 = Clock::now();
    CHECK_THROWS_AS(d["a"].get(), mp::ManagerError);
    CHECK_THROWS_WITH(d.len(), Contains(m.address().repr()));
    CHECK_THROWS_AS(m.dict(), mp::ManagerError);
    CHECK(seconds_since(t0) < 10);
    m.shutdown();
    m.shutdown();  // idempotent

    auto m2 = ctx.Manager();
    int pid2 = *m2.pid();
    auto l = m2.list();
    m2.shutdown();
    CHECK_FALSE(running(pid2));
    CHECK_THROWS_AS(l.len(), mp::ManagerError);

    auto m3 = ctx.Manager();
    mp::SyncManager wrong(ctx, m3.address(), "wrong key");
    CHECK_THROWS_AS(wrong.connect(), mp::AuthenticationError);
    mp::SyncManager right(ctx, m3.address(), mp::current_process().authkey());
    right.connect();
    auto shared = right.dict();
    shared["x"] = 1;
    CHECK(m3._number_of_objects() == 1);
    mp::SyncManager nowhere(ctx, "/nonexistent/mproc-manager", "key");
    CHECK_THROWS_AS(nowhere.connect(), mp::ManagerError);
}

TEST_CASE("Manager server ends when its owner is killed", "[managers]") {
    FOR_EACH_START_METHOD(ctx);
    auto [a, b] = ctx.Pipe();
    auto owner = ctx.Process(owner_of_manager, b);
    owner.start();
    b.close();
    std::set<int> ours;  // the children we had (the owner, our forkserver)
    for (const auto& c : mp::test::children()) ours.insert(c.pid);
    REQUIRE(a.poll(60s));
    const int server = a.recv<int>();
    CHECK(running(server));
    owner.kill();
    owner.join(60s);
    auto t0 = Clock::now();
    wait_until([&] { return !running(server); }, 10);
    CHECK(seconds_since(t0) < 2);
    // The orphaned server became our child (the tests are a subreaper),
    // unless the forkserver started it: reap it.
    ::waitpid(server, nullptr, WNOHANG);
    // Under forkserver the owner's default start method is forkserver too
    // (as in Python), so its own forkserver's server is orphaned to us as
    // well; it ends at once (its owner is gone): reap it.
    auto orphans_ended = [&] {
        for (const auto& c : mp::test::children())
            if (!ours.count(c.pid) && c.state != 'Z') return false;
        return true;
    };
    wait_until(orphans_ended, 10);
    for (const auto& c : mp::test::children())
        if (!ours.count(c.pid)) ::waitpid(c.pid, nullptr, 0);
}

TEST_CASE("Manager hostile clients cannot stall the others", "[managers]") {
    FOR_EACH_START_METHOD(ctx);
    auto m = ctx.Manager();
    auto d = m.dict();
    d["ok"] = 1;
    const auto* path = m.address().path();
    REQUIRE(path);
    auto raw = [&] {
        const int fd = mp::test::connect_unix(*path);
        REQUIRE(fd >= 0);
        return fd;
    };
    // A client that connects and says nothing (handshake stalled).
    int silent = raw();
    // A client that sends a huge length, then garbage.
    int huge = raw();
    const unsigned char header[] = {0x7f, 0xff, 0xff, 0xff, 'x', 'y'};
    CHECK(::write(huge, header, sizeof header) == sizeof header);
    // An authenticated client that sends garbage and a truncated message.
    auto c = mp::connection::Client(m.address(), mp::current_process().authkey());
    c.send_bytes("\xc1 not msgpack");
    auto reply = c.recv<mp::object>();
    CHECK(reply.as<mp::list>().at(0) == mp::object("#ERROR"));
    c.send(mp::object(mp::list{1, "__getitem__"}));  // malformed request
    CHECK(c.recv<mp::object>().as<mp::list>().at(0) == mp::object("#ERROR"));
    // Everyone else is served at once.
    auto t0 = Clock::now();
    for (int i = 0; i < 20; ++i) CHECK(d["ok"].get() == mp::object(1));
    auto other = m.dict();
    CHECK(other.len() == 0);
    CHECK(seconds_since(t0) < 10);
    ::close(silent);
    ::close(huge);
    c.close();
}

TEST_CASE("Manager server ignores SIGINT; clients reconnect to a restarted server", "[managers]") {
    FOR_EACH_START_METHOD(ctx);
    const std::string path =
        "/tmp/mproc-test-manager-" + std::to_string(::getpid()) + "-" + mproc_method_;
    ::unlink(path.c_str());
    mp::SyncManager m1(ctx, path, "secret");
    m1.start();
    CHECK(m1.address() == mp::connection::Address(path));
    ::kill(*m1.pid(), SIGINT);  // ignored, as Python's server does
    mp::SyncManager client(ctx, path, "secret");
    client.connect();
    auto d = client.dict();
    d["a"] = 1;
    CHECK(d.len() == 1);
    ::kill(*m1.pid(), SIGKILL);
    m1.join(60s);
    CHECK_THROWS_AS(d.len(), mp::ManagerError);
    ::unlink(path.c_str());  // the killed server could not remove its socket
    mp::SyncManager m2(ctx, path, "secret");
    m2.start();
    client.connect();
    auto d2 = client.dict();
    d2["b"] = 2;
    CHECK(d2.len() == 1);
    CHECK_THROWS_AS(d.len(), mp::KeyError);  // the old referent died with the old server
    m2.shutdown();
}
