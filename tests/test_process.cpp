// Process: lifecycle, exit codes, identity, errors. Every test runs under
// each start method.
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <tuple>

#include <mproc/plugin/backend.hpp>

#include "support.hpp"

namespace mp = mproc;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

void do_nothing() {}
int return_one() {
    return 1;
}
void exit_with(int code) {
    mp::exit(code);
}
void send_sum(mp::Connection c, int a, std::string b) {
    c.send(a + static_cast<int>(b.size()));
}
void wait_for_message(mp::Connection c) {
    (void)c.recv<int>();
}
void block_on_pipe(mp::Connection c) {
    (void)c.recv<int>();
}
void self_abort() {
    std::abort();
}

// Reports the child's view of itself: name, pid, daemon, authkey, parent pid,
// parent name, parent alive.
void report_identity(mp::Connection c) {
    auto& me = mp::current_process();
    auto* parent = mp::parent_process();
    c.send(std::tuple{me.name(), *me.pid(), me.daemon(), me.authkey(), parent ? *parent->pid() : -1,
                      parent ? parent->name() : std::string(), parent ? parent->is_alive() : false,
                      static_cast<int>(::getpid())});
}

// Starts a grandchild and sends back the grandchild's name and its own.
void start_grandchild(mp::Connection c) {
    auto [r, w] = mp::Pipe(false);
    mp::Process g(report_identity, w);
    g.start();
    w.close();
    auto id = r.recv<
        std::tuple<std::string, int, bool, std::vector<std::byte>, int, std::string, bool, int>>();
    g.join();
    c.send(std::tuple{mp::current_process().name(), std::get<0>(id), std::get<5>(id)});
}

// In a daemonic child: starting a child must fail.
void try_to_start_child(mp::Connection c) {
    mp::Process g(do_nothing);
    try {
        g.start();
        g.join();
        c.send(std::string("started"));
    } catch (const mp::ValueError& e) {
        c.send(std::string(e.what()));
    }
}

// In a child: join of the current process must fail.
void join_self(mp::Connection c) {
    try {
        mp::current_process().join();
        c.send(std::string("joined"));
    } catch (const mp::ValueError& e) {
        c.send(std::string(e.what()));
    }
}

void write_error_to(mp::Connection c) {
    ::dup2(static_cast<int>(c.fileno()), 2);
    c.close();
    throw std::invalid_argument("bad thing");
}

void report_stdin(mp::Connection c) {
    char buf[8];
    c.send(static_cast<int>(::read(0, buf, sizeof buf)));  // /dev/null: 0 at once
}

// Child with a daemonic and a non-daemonic grandchild; returns at once, so
// both Process objects are destroyed while their children run (the lifetime
// policy in process.hpp and docs/gotchas.md): the exit handling must
// terminate the daemon and join the other, never leave a silent orphan.
void leave_children(mp::Connection report, mp::Connection hold) {
    mp::Process d({.daemon = true}, block_on_pipe, hold);
    mp::Process n(block_on_pipe, hold);
    d.start();
    n.start();
    report.send(std::tuple{*d.pid(), *n.pid()});
}

struct Worker : mp::Process {
    explicit Worker(mp::Connection c) : conn(std::move(c)) {}
    void run() override { conn.send(name()); }
    mp::Connection conn;
};

using Identity =
    std::tuple<std::string, int, bool, std::vector<std::byte>, int, std::string, bool, int>;

}  // namespace

TEST_CASE("a target runs with its arguments and exits 0", "[process]") {
    FOR_EACH_START_METHOD(ctx);
    auto [r, w] = ctx.Pipe(false);
    auto p = ctx.Process(send_sum, w, 40, std::string("ab"));
    p.start();
    w.close();
    CHECK(r.recv<int>() == 42);
    p.join();
    CHECK(p.exitcode() == 0);
    CHECK_FALSE(p.is_alive());
}

TEST_CASE("exit codes follow Python's rules", "[process]") {
    FOR_EACH_START_METHOD(ctx);
    SECTION("return value is ignored") {
        auto p = ctx.Process(return_one);
        p.start();
        p.join();
        CHECK(p.exitcode() == 0);
    }
    SECTION("mproc::exit(n)") {
        auto p = ctx.Process(exit_with, 3);
        p.start();
        p.join();
        CHECK(p.exitcode() == 3);
    }
    SECTION("an exception gives 1 and a report on stderr") {
        auto [r, w] = ctx.Pipe(false);
        auto p = ctx.Process({.name = "raises"}, write_error_to, w);
        p.start();
        w.close();
        p.join();
        CHECK(p.exitcode() == 1);
        std::string err = mp::test::read_all(static_cast<int>(r.fileno()));
        CHECK_THAT(err, StartsWith("Process raises:\n"));
        CHECK_THAT(err, Contains("invalid_argument: bad thing"));
    }
    SECTION("terminate gives -SIGTERM") {
        auto [r, w] = ctx.Pipe();
        auto p = ctx.Process(block_on_pipe, r);
        p.start();
        p.terminate();
        p.join();
        CHECK(p.exitcode() == -SIGTERM);
        CHECK_THAT(p.repr(), Contains("stopped exitcode=-SIGTERM"));
    }
    SECTION("kill gives -SIGKILL") {
        auto [r, w] = ctx.Pipe();
        auto p = ctx.Process(block_on_pipe, r);
        p.start();
        p.kill();
        p.join();
        CHECK(p.exitcode() == -SIGKILL);
    }
    SECTION("a crash gives -signal") {
        auto p = ctx.Process(self_abort);
        p.start();
        p.join();
        CHECK(p.exitcode() == -SIGABRT);
    }
}

TEST_CASE("join with a timeout returns while the child runs; join may repeat", "[process]") {
    FOR_EACH_START_METHOD(ctx);
    auto [r, w] = ctx.Pipe();
    auto p = ctx.Process(wait_for_message, r);
    p.start();
    CHECK_FALSE(p.exitcode().has_value());
    auto t0 = std::chrono::steady_clock::now();
    p.join(50ms);
    CHECK(std::chrono::steady_clock::now() - t0 >= 40ms);  // loose bound
    CHECK(p.is_alive());
    p.join(-1s);  // negative: do not wait
    CHECK(p.is_alive());
    w.send(1);
    p.join();
    p.join();
    p.join(10ms);
    CHECK(p.exitcode() == 0);
    CHECK_FALSE(p.is_alive());
}

TEST_CASE("misuse is reported with a clear error", "[process]") {
    FOR_EACH_START_METHOD(ctx);
    SECTION("join before start") {
        auto p = ctx.Process(do_nothing);
        CHECK_THROWS_WITH(p.join(), Contains("can only join a started process"));
        CHECK_THROWS_AS(p.sentinel(), mp::ValueError);
        CHECK_THROWS_AS(p.terminate(), mp::ValueError);
        CHECK_FALSE(p.is_alive());
        CHECK_FALSE(p.pid().has_value());
    }
    SECTION("start twice") {
        auto p = ctx.Process(do_nothing);
        p.start();
        CHECK_THROWS_WITH(p.start(), Contains("cannot start a process twice"));
        p.join();
    }
    SECTION("close while running, then use after close") {
        auto [r, w] = ctx.Pipe();
        auto p = ctx.Process(wait_for_message, r);
        p.start();
        CHECK_THROWS_WITH(p.close(), Contains("still running"));
        w.send(1);
        p.join();
        p.close();
        p.close();  // idempotent
        CHECK_THROWS_AS(p.join(), mp::ClosedError);
        CHECK_THROWS_AS(p.is_alive(), mp::ClosedError);
        CHECK_THROWS_AS(p.exitcode(), mp::ClosedError);
        CHECK_THROWS_AS(p.start(), mp::ClosedError);
        CHECK_THAT(p.repr(), Contains("closed"));
    }
    SECTION("join of the current process, in a child and in the main process") {
        CHECK_THROWS_WITH(mp::current_process().join(),
                          Contains("cannot join the current process"));
        auto [r, w] = ctx.Pipe(false);
        auto p = ctx.Process(join_self, w);
        p.start();
        w.close();
        CHECK_THAT(r.recv<std::string>(), Contains("cannot join the current process"));
        p.join();
    }
    SECTION("daemon flag after start") {
        auto p = ctx.Process(do_nothing);
        p.start();
        CHECK_THROWS_AS(p.set_daemon(true), mp::ValueError);
        p.join();
    }
}

TEST_CASE("names follow Process-N1:N2 and the class name", "[process]") {
    FOR_EACH_START_METHOD(ctx);
    SECTION("default and given names") {
        mp::Process a(do_nothing);
        mp::Process b(do_nothing);
        CHECK_THAT(a.name(), StartsWith("Process-"));
        auto n = std::stoi(a.name().substr(8));
        CHECK(b.name() == "Process-" + std::to_string(n + 1));
        mp::Process c({.name = "my_service"}, do_nothing);
        CHECK(c.name() == "my_service");
        c.set_name("renamed");
        CHECK(c.name() == "renamed");
        CHECK(mp::current_process().name() == "MainProcess");
    }
    SECTION("nested names in a grandchild") {
        auto [r, w] = ctx.Pipe(false);
        auto p = ctx.Process(start_grandchild, w);
        p.start();
        w.close();
        auto [child, grandchild, grandparent_seen] =
            r.recv<std::tuple<std::string, std::string, std::string>>();
        p.join();
        CHECK(child == p.name());
        // A context's process is ForkProcess-N (SpawnProcess-N, ...); the
        // grandchild, a plain mp::Process, is Process-N:1, as in Python.
        CHECK(grandchild == "Process-" + p.name().substr(p.name().find('-') + 1) + ":1");
        CHECK(grandparent_seen == p.name());
        CHECK(p.exitcode() == 0);
    }
    SECTION("a subclass is named after its class") {
        auto [r, w] = ctx.Pipe(false);
        Worker wk(w);
        wk.set_context(ctx);
        CHECK_THAT(wk.name(), StartsWith("Worker-"));
        if (ctx.backend().capabilities().has(mp::plugin::Capability::runs_closures)) {
            wk.start();
            w.close();
            CHECK(r.recv<std::string>() == wk.name());
            wk.join();
        } else {
            // run() overrides cannot cross exec: refused before anything starts.
            CHECK_THROWS_WITH(wk.start(), Contains("overrides run(), which cannot cross exec"));
            CHECK_FALSE(wk.pid().has_value());
        }
    }
}

TEST_CASE("a child knows itself and its parent", "[process]") {
    FOR_EACH_START_METHOD(ctx);
    auto [r, w] = ctx.Pipe(false);
    auto p = ctx.Process({.name = "identity"}, report_identity, w);
    p.start();
    w.close();
    auto [name, pid, daemon, key, ppid, pname, palive, real_pid] = r.recv<Identity>();
    p.join();
    CHECK(name == "identity");
    CHECK(pid == *p.pid());
    CHECK(real_pid == *p.pid());
    CHECK(p.ident() == p.pid());
    CHECK_FALSE(daemon);
    CHECK(key == mp::current_process().authkey());
    CHECK(key.size() == 32);
    CHECK(ppid == ::getpid());
    CHECK(pname == "MainProcess");
    CHECK(palive);
    CHECK(mp::parent_process() == nullptr);
}

TEST_CASE("the daemon flag is inherited and daemons may not have children", "[process]") {
    FOR_EACH_START_METHOD(ctx);
    auto [r, w] = ctx.Pipe(false);
    auto p = ctx.Process({.daemon = true}, try_to_start_child, w);
    CHECK(p.daemon());
    p.start();
    w.close();
    CHECK_THAT(r.recv<std::string>(),
               Contains("daemonic processes are not allowed to have children"));
    p.join();
    CHECK_THAT(p.repr(), Contains(" daemon>"));
}

TEST_CASE("a child's exit terminates its daemons and joins the others", "[process]") {
    FOR_EACH_START_METHOD(ctx);
    auto [report_r, report_w] = ctx.Pipe(false);
    auto [hold_r, hold_w] = ctx.Pipe();
    auto p = ctx.Process(leave_children, report_w, hold_r);
    p.start();
    report_w.close();
    auto [daemon_pid, other_pid] = report_r.recv<std::tuple<int, int>>();
    p.join(100ms);
    CHECK(p.is_alive());  // still joining its non-daemonic child
    hold_w.send(1);       // releases exactly one grandchild (the daemon is gone)
    p.join();
    CHECK(p.exitcode() == 0);
    CHECK(::kill(daemon_pid, 0) == -1);
    CHECK(::kill(other_pid, 0) == -1);
}

TEST_CASE("repr shows the state as Python's does", "[process]") {
    FOR_EACH_START_METHOD(ctx);
    // A context's processes are of its class, as Python's ctx.Process.
    std::string method(ctx.get_start_method());
    const std::string cls = method == "fork"         ? "ForkProcess"
                            : method == "spawn"      ? "SpawnProcess"
                            : method == "forkserver" ? "ForkServerProcess"
                                                     : "?";
    auto [r, w] = ctx.Pipe();
    auto p = ctx.Process({.name = "Process-x"}, wait_for_message, r);
    CHECK(p.repr() ==
          "<" + cls + " name='Process-x' parent=" + std::to_string(::getpid()) + " initial>");
    p.start();
    CHECK(p.repr() ==
          fmt::format("<{} name='Process-x' pid={} parent={} started>", cls, *p.pid(), ::getpid()));
    w.send(1);
    p.join();
    CHECK(p.repr() == fmt::format("<{} name='Process-x' pid={} parent={} stopped exitcode=0>", cls,
                                  *p.pid(), ::getpid()));
    std::ostringstream os;
    os << p;
    CHECK(os.str() == p.repr());
    mp::Process plain({.name = "plain"}, do_nothing);
    CHECK(plain.repr() ==
          "<Process name='plain' parent=" + std::to_string(::getpid()) + " initial>");
}

TEST_CASE("active_children lists running children and reaps the rest", "[process]") {
    FOR_EACH_START_METHOD(ctx);
    auto [r, w] = ctx.Pipe();
    auto running = ctx.Process(wait_for_message, r);
    auto quick = ctx.Process(do_nothing);
    running.start();
    quick.start();
    quick.join();
    auto kids = mp::active_children();
    REQUIRE(kids.size() == 1);
    CHECK(kids[0] == &running);
    w.send(1);
    running.join();
    CHECK(mp::active_children().empty());
}

TEST_CASE("a destroyed Process object leaves its child tracked", "[process]") {
    FOR_EACH_START_METHOD(ctx);
    auto [r, w] = ctx.Pipe();
    int pid = 0;
    {
        auto p = ctx.Process({.name = "orphaned-object"}, wait_for_message, r);
        p.start();
        pid = *p.pid();
        mp::Process moved = std::move(p);
        CHECK(moved.pid() == pid);
        CHECK(mp::active_children().at(0) == &moved);
    }
    auto kids = mp::active_children();
    REQUIRE(kids.size() == 1);
    CHECK(kids[0]->pid() == pid);
    CHECK(kids[0]->name() == "orphaned-object");
    w.send(1);
    kids[0]->join();
    CHECK(mp::active_children().empty());
}

TEST_CASE("a sentinel becomes ready when the child ends", "[process]") {
    FOR_EACH_START_METHOD(ctx);
    auto [r, w] = ctx.Pipe();
    auto p = ctx.Process(wait_for_message, r);
    p.start();
    CHECK(mp::wait({p.sentinel()}, 0s).empty());
    w.send(1);
    auto ready = mp::wait({p.sentinel()}, 30s);
    REQUIRE(ready.size() == 1);
    CHECK(ready[0] == p.sentinel());
    p.join();
}

TEST_CASE("a child's stdin is /dev/null", "[process]") {
    FOR_EACH_START_METHOD(ctx);
    auto [r, w] = ctx.Pipe(false);
    auto p = ctx.Process(report_stdin, w);
    p.start();
    w.close();
    CHECK(r.recv<int>() == 0);
    p.join();
}

TEST_CASE("cpu_count and the main process", "[process]") {
    CHECK(mp::cpu_count() >= 1);
    auto& me = mp::current_process();
    CHECK(me.name() == "MainProcess");
    CHECK(me.pid() == ::getpid());
    CHECK(me.is_alive());
    CHECK(me.authkey().size() == 32);
    CHECK_FALSE(me.daemon());
    CHECK_THROWS_AS(me.start(), mp::ValueError);
}

namespace {

void print_child() {
    std::printf("child|");
}

// With stdout redirected to w: buffered output before start() must appear
// once (not also in the child), and the child's own output must be flushed.
void print_around_child(mp::Connection w, std::string method) {
    ::dup2(static_cast<int>(w.fileno()), 1);
    w.close();
    std::setvbuf(stdout, nullptr, _IOFBF, 4096);
    std::printf("before|");
    auto p = mp::get_context(method).Process(print_child);
    p.start();
    p.join();
    std::printf("after\n");
    std::fflush(stdout);
}

}  // namespace

TEST_CASE("buffered output is written once and a child's output is flushed", "[process]") {
    FOR_EACH_START_METHOD(ctx);
    auto [r, w] = ctx.Pipe(false);
    auto p = mp::get_context("fork").Process(print_around_child, w, mproc_method_);
    p.start();
    w.close();
    std::string out = mp::test::read_all(static_cast<int>(r.fileno()));
    p.join();
    CHECK(out == "before|child|after\n");
}

TEST_CASE("a process keeps the authkey it was made with; set_authkey changes only its own",
          "[process]") {
    auto& me = mp::current_process();
    const auto original = me.authkey();
    mp::Process a([] {});
    CHECK(a.authkey() == original);
    std::vector<std::byte> other(16, std::byte{7});
    me.set_authkey(other);
    CHECK(me.authkey() == other);
    CHECK(a.authkey() == original);  // as in Python: a copy made at creation
    mp::Process b([] {});
    CHECK(b.authkey() == other);
    b.set_authkey({});
    CHECK(b.authkey().empty());
    CHECK(me.authkey() == other);
    me.set_authkey(original);
    CHECK(me.authkey() == original);
}

TEST_CASE("many processes at once outgrow the record pool and still start and end", "[process]") {
    FOR_EACH_START_METHOD(ctx);
    // More live records than the pool's 32 slots (each process uses three or
    // four): the rest come from the heap, and every block goes back where it
    // came from (the sanitizers check the heap side).
    std::vector<mp::Process> procs;
    for (int i = 0; i < 24; ++i) procs.push_back(ctx.Process(mp::exit, i % 3));
    for (auto& p : procs) p.start();
    CHECK(mp::active_children().size() <= procs.size());
    for (std::size_t i = 0; i < procs.size(); ++i) {
        procs[i].join();
        CHECK(procs[i].exitcode() == int(i % 3));
    }
    CHECK(mp::active_children().empty());
    procs.clear();
    // And the pool serves again.
    auto p = ctx.Process(mp::exit, 5);
    p.start();
    p.join();
    CHECK(p.exitcode() == 5);
}
