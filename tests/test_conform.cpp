// Python conformance, issue 13 items 1, 4, 5, 8, 9: children inherit their
// context and logger; the forkserver authenticates requests and ignores
// SIGINT; util::Finalize and a child's atexit handlers; tuples stay tuples
// across exec; SomeOtherThread. Process tests run under each start method.
#include <dlfcn.h>
#include <link.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "support.hpp"

namespace mp = mproc;
using namespace std::chrono_literals;

namespace {

// ---- item 1: the context and the logger reach the child -------------------

void report_method(mp::Connection c) {
    c.send(mp::get_start_method().value_or("none"));
}

// Reports its default start method, its default context's, and what a
// plain Process of its own reports.
void report_context(mp::Connection c) {
    auto [r, w] = mp::Pipe(false);
    mp::Process g(report_method, w);
    g.start();
    w.close();
    auto grandchild = r.recv<std::string>();
    g.join();
    c.send(std::tuple{mp::get_start_method().value_or("none"),
                      std::string(mp::get_context().get_start_method()), grandchild});
}

void report_repr(mp::Connection c) {
    c.send(mp::current_process().repr());
}

void report_logger(mp::Connection c) {
    auto& l = mp::get_logger();
    c.send(std::tuple{l.level(), l.logs_to_stderr()});
}

template <class T, class... A>
T ask_child(const mp::Context& ctx, void (*f)(mp::Connection, A...), A... args) {
    auto [r, w] = ctx.Pipe(false);
    auto p = ctx.Process(f, w, args...);
    p.start();
    w.close();
    auto out = r.recv<T>();
    p.join();
    CHECK(p.exitcode() == 0);
    return out;
}

// ---- item 4: Finalize and atexit in children -------------------------------

std::shared_ptr<mp::Connection> finalizer_out;

void say(const char* what) {
    finalizer_out->send(std::string(what));
}

void pause_forever() {
    for (;;) ::pause();
}

mp::Process* daemon_child = nullptr;

// Whether the child's daemon is still alive, for the finalizers to say.
std::string with_daemon_state(const char* what) {
    return std::string(what) + (daemon_child->is_alive() ? " (daemon alive)" : " (daemon gone)");
}

// Registers finalizers of every kind; the parent reads the order they ran.
void register_finalizers(mp::Connection c, bool throw_in_target) {
    finalizer_out = std::make_shared<mp::Connection>(std::move(c));
    static std::vector<mp::util::Finalize> keep;  // outlives the target, as Python's registry
    keep.emplace_back([] { say("a10"); }, 10);
    keep.emplace_back([] { say("b10"); }, 10);
    keep.emplace_back([] { say("c5"); }, 5);
    keep.emplace_back([] { say("never: no priority"); });
    // Priority >= 0 run before the daemons are terminated, the others after.
    daemon_child = new mp::Process({.daemon = true}, pause_forever);
    daemon_child->start();
    keep.emplace_back([] { say(with_daemon_state("e0").c_str()); }, 0);
    keep.emplace_back([] { say(with_daemon_state("f-1").c_str()); }, -1);
    keep.emplace_back([] { throw std::runtime_error("a failing finalizer"); }, 7);
    mp::util::Finalize early([] { say("early"); }, 20);
    early();
    early();  // runs once
    mp::util::Finalize cancelled([] { say("never: cancelled"); }, 30);
    cancelled.cancel();
    say(early.still_active() || cancelled.still_active() ? "still active" : "inactive");
    if (throw_in_target) throw std::runtime_error("the target failed");
}

int atexit_fd = -1;
void write_atexit_mark() {
    if (atexit_fd >= 0) (void)!::write(atexit_fd, "atexit ran\n", 11);
}

// Registers an atexit handler that writes to w, then ends as told.
void register_atexit(mp::Connection w, std::string how, mp::Connection ready, mp::Connection hold) {
    atexit_fd = ::dup(static_cast<int>(w.fileno()));
    w.close();
    std::atexit(&write_atexit_mark);
    ready.send(1);
    if (how == "_exit") ::_exit(3);
    if (how == "exit") mp::exit(4);
    if (how == "std::exit") std::exit(6);         // no finalizers, but atexit, and the code
    if (how == "killed") (void)hold.recv<int>();  // killed while waiting
}

// In the test program: an atexit handler that a fork child must not run.
int parent_probe_fd = -1;
void parent_probe() {
    if (parent_probe_fd >= 0) (void)!::write(parent_probe_fd, "parent's handler ran\n", 21);
}

// ---- item 5: the forkserver ------------------------------------------------

void exit_with(int code) {
    mp::exit(code);
}

void wait_then_exit(mp::Connection go, int code) {
    (void)go.recv<int>();
    mp::exit(code);
}

// The forkserver plugin's test hook (see forkserver_backend.cpp).
using SwapKey = bool (*)(std::byte*, std::size_t);
SwapKey forkserver_swap_key() {
    std::string path;
    dl_iterate_phdr(
        [](dl_phdr_info* info, std::size_t, void* out) {
            std::string_view name = info->dlpi_name ? info->dlpi_name : "";
            if (name.ends_with("mproc-backend-forkserver.so")) {
                *static_cast<std::string*>(out) = name;
                return 1;
            }
            return 0;
        },
        &path);
    if (path.empty())  // linked in rather than loaded from a file
        return reinterpret_cast<SwapKey>(::dlsym(RTLD_DEFAULT, "mproc_forkserver_swap_authkey"));
    void* h = ::dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
    if (h == nullptr) return nullptr;
    auto f = reinterpret_cast<SwapKey>(::dlsym(h, "mproc_forkserver_swap_authkey"));
    ::dlclose(h);  // only drops the reference NOLOAD took
    return f;
}

int forkserver_pid() {
    for (const auto& c : mp::test::children())
        if (c.state != 'Z' && c.args.size() >= 3 && c.args[1] == "--mproc-helper" &&
            c.args[2] == "forkserver")
            return c.pid;
    return -1;
}

// ---- item 8 ----------------------------------------------------------------

void echo_repr(mp::Connection c, mp::object o, mp::tuple t) {
    c.send(std::tuple{o.repr(), mp::object(t).repr()});
}

// ---- item 9 ----------------------------------------------------------------

void hold_lock(mp::Connection ready, mp::Lock l, mp::RLock r, mp::Connection go) {
    l.acquire();
    r.acquire();
    ready.send(1);
    (void)go.recv<int>();
    r.release();
    l.release();
}

}  // namespace

TEST_CASE("a child reports and uses the start method of the context that made it", "[context]") {
    FOR_EACH_START_METHOD(ctx);
    // The program's default differs from the context's, so that the child
    // cannot be right by inheriting the default.
    auto saved = mp::get_start_method(true);
    std::string method(ctx.get_start_method());
    mp::set_start_method(method == "fork" ? "spawn" : "fork", true);
    auto [child, child_ctx, grandchild] =
        ask_child<std::tuple<std::string, std::string, std::string>>(ctx, report_context);
    mp::set_start_method(saved.value_or("fork"), true);
    CHECK(child == method);
    CHECK(child_ctx == method);
    CHECK(grandchild == method);  // its own processes are made with it
}

TEST_CASE("a context's child calls itself by the context's class, as its parent does",
          "[context]") {
    FOR_EACH_START_METHOD(ctx);
    std::string method(ctx.get_start_method());
    std::string cls = method == "forkserver"
                          ? "ForkServerProcess"
                          : char(std::toupper(method[0])) + method.substr(1) + "Process";
    auto repr = ask_child<std::string>(ctx, report_repr);
    CHECK_THAT(repr, Catch::Matchers::StartsWith("<" + cls + " name='" + cls + "-"));
}

TEST_CASE("a plain Process's child keeps the parent's default start method", "[context]") {
    FOR_EACH_START_METHOD(ctx);
    auto saved = mp::get_start_method(true);
    mp::set_start_method(std::string(ctx.get_start_method()), true);
    auto [r, w] = mp::Pipe(false);
    mp::Process p(report_method, w);  // made by no context: the default's
    p.start();
    w.close();
    CHECK(r.recv<std::string>() == ctx.get_start_method());
    p.join();
    mp::set_start_method(saved.value_or("fork"), true);
}

TEST_CASE("the logger's level and stderr handler reach children of every start method",
          "[logging]") {
    FOR_EACH_START_METHOD(ctx);
    struct Restore {
        ~Restore() {
            mp::get_logger().set_handler(nullptr);
            mp::get_logger().set_level(mp::logging::NOTSET);
        }
    } restore;
    mp::get_logger().set_level(37);
    CHECK(ask_child<std::tuple<int, bool>>(ctx, report_logger) == std::tuple{37, false});
    // CRITICAL: the library's own records (INFO, DEBUG) stay silent.
    mp::log_to_stderr(mp::logging::CRITICAL);
    CHECK(ask_child<std::tuple<int, bool>>(ctx, report_logger) ==
          std::tuple{mp::logging::CRITICAL, true});
}

TEST_CASE("util::Finalize: priorities, order, once, cancel, run at a child's exit", "[process]") {
    FOR_EACH_START_METHOD(ctx);
    // One in the parent that a fork child must neither run nor inherit.
    auto [pr, pw] = ctx.Pipe(false);
    auto parent_out = std::make_shared<mp::Connection>(std::move(pw));
    mp::util::Finalize parents([parent_out] { parent_out->send(std::string("parent's")); }, 100);
    for (bool throw_in_target : {false, true}) {
        auto [r, w] = ctx.Pipe(false);
        auto p = ctx.Process(register_finalizers, w, throw_in_target);
        p.start();
        w.close();
        std::vector<std::string> got;
        while (true) {
            try {
                got.push_back(r.recv<std::string>());
            } catch (const mp::EOFError&) {
                break;
            }
        }
        p.join();
        CHECK(p.exitcode() == (throw_in_target ? 1 : 0));
        // Higher first, equal ones newest first; the failing one (7) is
        // reported and the rest go on; negative ones after the children.
        CHECK(got == std::vector<std::string>{"early", "inactive", "b10", "a10", "c5",
                                              "e0 (daemon alive)", "f-1 (daemon gone)"});
    }
    CHECK(parents.still_active());
    CHECK(parents.repr() == "<Finalize object, exitpriority=100>");
    parents.cancel();
    CHECK_FALSE(parents.still_active());
    CHECK(parents.repr() == "<Finalize object, dead>");
    parent_out->close();
    bool ran_in_child = false;  // the pipe's end of stream, or what a child sent
    try {
        pr.recv<std::string>();
        ran_in_child = true;
    } catch (const mp::EOFError&) {
    }
    CHECK_FALSE(ran_in_child);
}

TEST_CASE("util::Finalize in this process: called early it runs once; unprioritised ones too",
          "[process]") {
    int runs = 0;
    mp::util::Finalize f([&] { ++runs; });
    CHECK(f.still_active());
    CHECK_FALSE(f.exitpriority());
    f();
    f();
    CHECK(runs == 1);
    CHECK_FALSE(f.still_active());
    mp::util::Finalize g([&] { runs += 10; }, 3);
    auto copy = g;  // copies share the registration
    copy();
    g();
    CHECK(runs == 11);
    CHECK_FALSE(g.still_active());
}

TEST_CASE("util::Finalize hooks run at the main program's exit, in Python's order", "[process]") {
    std::string cmd = std::string(MPROC_TEST_EXEC_HELPER) + " --finalizers";
    FILE* f = ::popen(cmd.c_str(), "r");
    REQUIRE(f != nullptr);
    std::string out;
    char buf[256];
    while (std::fgets(buf, sizeof buf, f)) out += buf;
    CHECK(::pclose(f) == 0);
    CHECK(out == "main returns\nhigh, registered later\nhigh\nlow\n");
}

TEST_CASE(
    "atexit handlers a child registers run when it ends normally, not after _exit or a "
    "signal",
    "[process]") {
    FOR_EACH_START_METHOD(ctx);
    static const bool registered = (std::atexit(&parent_probe), true);
    (void)registered;
    for (std::string how : {"return", "exit", "std::exit", "_exit", "killed"}) {
        INFO("the child ends by " << how);
        auto [r, w] = ctx.Pipe(false);
        auto [hold_r, hold_w] = ctx.Pipe(false);
        auto [ready_r, ready_w] = ctx.Pipe(false);
        int fds[2];
        REQUIRE(::pipe(fds) == 0);
        parent_probe_fd = fds[1];  // a fork child inherits it with the handler
        auto p = ctx.Process(register_atexit, w, how, ready_w, hold_r);
        p.start();
        parent_probe_fd = -1;
        ::close(fds[1]);
        w.close();
        hold_r.close();
        ready_w.close();
        REQUIRE(ready_r.recv<int>() == 1);  // the handler is registered
        if (how == "killed") p.kill();
        p.join();
        // The handler writes raw bytes: read them so, to the end.
        std::string out = mp::test::read_all(static_cast<int>(r.fileno()));
        std::string probe = mp::test::read_all(fds[0]);
        ::close(fds[0]);
        CHECK(probe.empty());  // the parent's handler never runs in a child
        if (how == "return" || how == "exit" || how == "std::exit") {
            CHECK(p.exitcode() == (how == "exit" ? 4 : how == "std::exit" ? 6 : 0));
            CHECK(out == "atexit ran\n");
        } else {
            CHECK(p.exitcode() == (how == "_exit" ? 3 : -SIGKILL));
            CHECK(out.empty());
        }
    }
}

TEST_CASE("the forkserver authenticates each request: a wrong key fails, the right one works",
          "[forkserver]") {
    auto ctx = mp::get_context("forkserver");
    auto p = ctx.Process(exit_with, 5);
    p.start();  // the server runs now
    p.join();
    auto swap = forkserver_swap_key();
    REQUIRE(swap != nullptr);
    std::vector<std::byte> key(32, std::byte('T'));
    REQUIRE(swap(key.data(), key.size()));
    auto bad = ctx.Process(exit_with, 5);
    CHECK_THROWS_AS(bad.start(), mp::AuthenticationError);
    REQUIRE(swap(key.data(), key.size()));  // the key restored
    CHECK(key == std::vector<std::byte>(32, std::byte('T')));
    auto good = ctx.Process(exit_with, 5);
    good.start();
    good.join();
    CHECK(good.exitcode() == 5);
}

TEST_CASE("the forkserver ignores SIGINT: its children's real exit codes are reported",
          "[forkserver]") {
    auto ctx = mp::get_context("forkserver");
    auto [go_r, go_w] = ctx.Pipe(false);
    auto p = ctx.Process(wait_then_exit, go_r, 7);
    p.start();
    go_r.close();
    int server = forkserver_pid();
    REQUIRE(server > 0);
    REQUIRE(::kill(server, SIGINT) == 0);  // as a Ctrl-C in the terminal would
    go_w.send(1);
    p.join();
    CHECK(p.exitcode() == 7);  // not 255: the server lived to report it
    CHECK(forkserver_pid() == server);
    // Its children get SIGINT's default action back (interrupt() ends them).
    auto q = ctx.Process(exit_with, 0);
    q.start();
    q.join();
    CHECK(q.exitcode() == 0);
}

TEST_CASE("an mp::object tuple arrives as a tuple under every start method", "[object]") {
    FOR_EACH_START_METHOD(ctx);
    mp::object o = mp::tuple{1, "a", mp::list{2, mp::tuple{3}}, mp::tuple{}};
    mp::tuple t{mp::None, mp::tuple{4.5}};
    auto [o_repr, t_repr] = ask_child<std::tuple<std::string, std::string>>(ctx, echo_repr, o, t);
    CHECK(o_repr == "(1, 'a', [2, (3,)], ())");
    CHECK(t_repr == "(None, (4.5,))");
}

TEST_CASE("on the wire a tuple is still a plain array, as Python peers read it", "[object]") {
    auto& s = mp::default_serializer();
    auto as_tuple = s.make_encoder();
    mp::encode(*as_tuple, mp::object(mp::tuple{1, mp::tuple{2}}));
    auto as_list = s.make_encoder();
    mp::encode(*as_list, mp::object(mp::list{1, mp::list{2}}));
    auto a = as_tuple->data();
    auto b = as_list->data();
    CHECK(std::vector<std::byte>(a.begin(), a.end()) == std::vector<std::byte>(b.begin(), b.end()));
    // And a pipe reads it back as a list, as Python's msgpack does.
    auto [r, w] = mp::Pipe(false);
    w.send(mp::object(mp::tuple{1, 2}));
    CHECK(r.recv<mp::object>().repr() == "[1, 2]");
}

TEST_CASE("a lock held by another thread of this process prints SomeOtherThread", "[sync]") {
    mp::Lock l;
    mp::RLock r;
    std::promise<void> held, done;
    auto release = done.get_future();
    std::thread t([&] {
        l.acquire();
        r.acquire();
        held.set_value();
        release.wait();
        r.release();
        l.release();
    });
    held.get_future().wait();
    CHECK(l.repr() == "<Lock(owner=SomeOtherThread)>");
    CHECK(r.repr() == "<RLock(SomeOtherThread, nonzero)>");
    done.set_value();
    t.join();
    CHECK(l.repr() == "<Lock(owner=None)>");
}

TEST_CASE("a lock held by another process still prints SomeOtherProcess", "[sync]") {
    FOR_EACH_START_METHOD(ctx);
    mp::Lock l(ctx);
    mp::RLock r(ctx);
    auto [ready_r, ready_w] = ctx.Pipe(false);
    auto [go_r, go_w] = ctx.Pipe(false);
    auto p = ctx.Process(hold_lock, ready_w, l, r, go_r);
    p.start();
    ready_w.close();
    go_r.close();
    REQUIRE(ready_r.recv<int>() == 1);
    CHECK(l.repr() == "<Lock(owner=SomeOtherProcess)>");
    CHECK(r.repr() == "<RLock(SomeOtherProcess, nonzero)>");
    go_w.send(1);
    p.join();
    CHECK(p.exitcode() == 0);
}
