// What crosses exec (spawn, forkserver): plain functions and their
// arguments, handles, nothing else; clear errors for what cannot cross.
#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <set>

#include <mproc/plugin/backend.hpp>

#include "../core/src/process/function_locator.hpp"
#include "support.hpp"

namespace mp = mproc;
using Catch::Matchers::Contains;

namespace {

std::vector<int> my_fds() {
    std::vector<int> fds;
    DIR* d = ::opendir("/proc/self/fd");
    int own = ::dirfd(d);
    while (auto* e = ::readdir(d)) {
        if (e->d_name[0] == '.') continue;
        int fd = std::atoi(e->d_name);
        if (fd != own) fds.push_back(fd);
    }
    ::closedir(d);
    std::sort(fds.begin(), fds.end());
    return fds;
}

void report_fds(mp::Connection c) {
    c.send(my_fds());
}

// The calling process's blocked signals, as /proc reports them (bit n-1 for
// signal n).
std::uint64_t blocked_signals() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("SigBlk:", 0) == 0) return std::stoull(line.substr(7), nullptr, 16);
    return ~std::uint64_t{0};
}

void report_blocked_signals(mp::Connection c) {
    c.send(blocked_signals());
}

int plain_sum(int a, int b) {
    return a + b;
}
void send_plain_sum(mp::Connection c, int a, int b) {
    c.send(plain_sum(a, b));
}

struct Point {
    int x = 0, y = 0;
    std::string label;
    MPROC_FIELDS(x, y, label)
};
void send_point_back(mp::Connection c, Point p, std::vector<double> v,
                     std::map<std::string, int> m) {
    c.send(std::tuple{p.x + p.y, p.label, v.size(), m.at("k")});
}

}  // namespace

TEST_CASE("an exec child holds only the descriptors it was given", "[spawn]") {
    FOR_EACH_START_METHOD(ctx);
    if (ctx.backend().capabilities().has(mp::plugin::Capability::runs_closures))
        return;  // a fork child shares everything
    auto [r, w] = ctx.Pipe(false);
    auto p = ctx.Process(report_fds, w);
    p.start();
    w.close();
    auto fds = r.recv<std::vector<int>>();
    p.join();
    // stdin, stdout, stderr, then the parent's sentinel and the connection's
    // end (where depends on the method: spawn had its bootstrap message at 3).
    REQUIRE(fds.size() == 5);
    CHECK(std::vector<int>(fds.begin(), fds.begin() + 3) == std::vector<int>{0, 1, 2});
    CHECK(fds[4] == fds[3] + 1);
}

TEST_CASE("a child starts with no signal blocked after exec, the parent's mask under fork",
          "[spawn]") {
    FOR_EACH_START_METHOD(ctx);
    sigset_t usr1, old, during;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    REQUIRE(::pthread_sigmask(SIG_BLOCK, &usr1, &old) == 0);
    auto [r, w] = ctx.Pipe(false);
    auto p = ctx.Process(report_blocked_signals, w);
    p.start();
    // Exec methods block every signal while they start the child: the
    // parent's own mask is back afterwards.
    REQUIRE(::pthread_sigmask(SIG_BLOCK, nullptr, &during) == 0);
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    w.close();
    auto child = r.recv<std::uint64_t>();
    p.join();
    CHECK(sigismember(&during, SIGUSR1) == 1);
    CHECK(sigismember(&during, SIGTERM) == 0);
    const std::uint64_t usr1_bit = std::uint64_t{1} << (SIGUSR1 - 1);
    if (ctx.backend().capabilities().has(mp::plugin::Capability::runs_closures))
        CHECK((child & usr1_bit) != 0);  // fork: a copy of the parent's thread
    else
        CHECK(child == 0);  // exec: unblocked before main(), as posix_spawn left it
}

TEST_CASE("a lambda without captures and typed arguments cross exec", "[spawn]") {
    FOR_EACH_START_METHOD(ctx);
    auto [r, w] = ctx.Pipe(false);
    auto p = ctx.Process([](mp::Connection c, Point pt) { c.send(pt.label + "!"); }, w,
                         Point{1, 2, "pt"});
    p.start();
    CHECK(r.recv<std::string>() == "pt!");
    p.join();
    auto q = ctx.Process(send_point_back, w, Point{3, 4, "xy"}, std::vector<double>{1, 2, 3},
                         std::map<std::string, int>{{"k", 9}});
    q.start();
    w.close();
    CHECK(r.recv<std::tuple<int, std::string, std::size_t, int>>() ==
          std::tuple{7, std::string("xy"), std::size_t(3), 9});
    q.join();
    CHECK(q.exitcode() == 0);
}

TEST_CASE("a capturing lambda is refused by exec methods and run by fork", "[spawn]") {
    FOR_EACH_START_METHOD(ctx);
    auto [r, w] = ctx.Pipe(false);
    int captured = 41;
    auto p = ctx.Process([&captured, w]() mutable { w.send(captured + 1); });
    if (ctx.backend().capabilities().has(mp::plugin::Capability::runs_closures)) {
        p.start();
        CHECK(r.recv<int>() == 42);
        p.join();
    } else {
        CHECK_THROWS_WITH(p.start(), Contains("capturing lambda"));
        CHECK_FALSE(p.pid().has_value());
    }
    auto q = ctx.Process(send_plain_sum, w, 20, 22);
    q.start();
    w.close();
    CHECK(r.recv<int>() == 42);
    q.join();
}

TEST_CASE("code locations are checked by build-id and offset", "[spawn]") {
    auto here = mp::detail::locate_code(reinterpret_cast<void*>(&plain_sum));
    CHECK(here.build_id.size() >= 16);
    CHECK(mp::detail::resolve_code(here) == reinterpret_cast<void*>(&plain_sum));
    auto other = here;
    other.build_id = "00112233445566778899aabbccddeeff00112233";
    CHECK_THROWS_WITH(mp::detail::resolve_code(other),
                      Contains("no loaded module has build-id 0011") &&
                          Contains("different build of the program"));
    auto outside = here;
    outside.offset = 1;  // the ELF header, not code
    CHECK_THROWS_WITH(mp::detail::resolve_code(outside), Contains("is outside the code of"));
    int data = 0;
    CHECK_THROWS_WITH(mp::detail::locate_code(&data), Contains("not in the code"));
}

namespace {
void greet(mp::Connection c, std::string who) {
    c.send("mproc_tests greets " + who);
}
MPROC_REGISTER_FUNCTION(greet);
void unregistered(mp::Connection) {}
}  // namespace

TEST_CASE("set_executable runs another program, targets by registered name", "[spawn]") {
    auto ctx = mp::get_context("spawn");
    auto [r, w] = ctx.Pipe(false);
    mp::set_executable(MPROC_TEST_EXEC_HELPER);
    struct Restore {
        ~Restore() { mp::set_executable(""); }
    } restore;
    CHECK(mp::get_executable() == MPROC_TEST_EXEC_HELPER);
    auto p = ctx.Process(greet, w, std::string("you"));
    p.start();
    CHECK(r.recv<std::string>() == "exec_helper greets you");
    p.join();
    CHECK(p.exitcode() == 0);
    auto q = ctx.Process(unregistered, w);
    CHECK_THROWS_WITH(q.start(), Contains("MPROC_REGISTER_FUNCTION"));
    w.close();
}

TEST_CASE("a program that cannot be executed is an error naming it, and leaves nothing behind",
          "[spawn]") {
    auto ctx = mp::get_context("spawn");
    auto fds_before = my_fds();
    mp::set_executable("/nonexistent/mproc-child");
    struct Restore {
        ~Restore() { mp::set_executable(""); }
    } restore;
    auto [r, w] = ctx.Pipe(false);
    auto p = ctx.Process(greet, w, std::string("nobody"));
    CHECK_THROWS_WITH(p.start(), Contains("exec of /nonexistent/mproc-child") &&
                                     Contains("No such file or directory"));
    CHECK_FALSE(p.is_alive());
    CHECK(mp::active_children().empty());
    r.close();
    w.close();
    CHECK(my_fds() == fds_before);
}
