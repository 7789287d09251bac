// The forkserver's own life: one server, restarted when killed, gone with
// its program, preloading what it is told to; its socket is in the abstract
// namespace (nothing on disk) and serves only its own user.
#include <dlfcn.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <fstream>

#include "support.hpp"

namespace mp = mproc;
using namespace std::chrono_literals;

namespace {

struct Server {
    int pid = -1;
    std::string socket;  // its name in the abstract namespace, without the '@'
};

// The abstract socket names that begin with prefix (from /proc/net/unix,
// where they are shown with a leading '@').
std::vector<std::string> abstract_sockets(const std::string& prefix) {
    std::vector<std::string> out;
    std::ifstream in("/proc/net/unix");
    std::string line;
    while (std::getline(in, line)) {
        auto at = line.find(" @" + prefix);
        if (at != std::string::npos) out.push_back(line.substr(at + 2));
    }
    return out;
}

// The forkserver started by this process, found among its children.
Server find_server() {
    for (const auto& c : mp::test::children())
        if (c.state != 'Z' && c.args.size() >= 3 && c.args[1] == "--mproc-helper" &&
            c.args[2] == "forkserver") {
            // Its command line names no directory: nothing of it is on disk.
            CHECK(c.args.size() == 3);
            auto names = abstract_sockets("mproc-forkserver-" + std::to_string(::getpid()) + "-");
            return {c.pid, names.empty() ? std::string() : names.front()};
        }
    return {};
}

void noop() {}

void start_one_and_report_server(mp::Connection c, mp::Connection hold) {
    auto p = mp::get_context("forkserver").Process(noop);
    p.start();
    p.join();
    auto s = find_server();
    c.send(std::tuple{s.pid, s.socket});
    (void)hold.recv<int>();  // killed while waiting here
}

void report_loaded(mp::Connection c, std::string lib) {
    c.send(::dlopen(lib.c_str(), RTLD_NOW | RTLD_NOLOAD) != nullptr);
}

void preload_and_check(mp::Connection c, std::string lib) {
    mp::set_forkserver_preload({lib});
    auto [r, w] = mp::get_context("forkserver").Pipe(false);
    auto p = mp::get_context("forkserver").Process(report_loaded, w, lib);
    p.start();
    w.close();
    bool loaded = r.recv<bool>();
    p.join();
    c.send(loaded);
}

bool wait_gone(int pid) {
    int fd = int(::syscall(SYS_pidfd_open, pid, 0));
    if (fd < 0) return true;
    bool ended = mp::wait({mp::Waitable::from_handle(fd)}, 30s).size() == 1;
    ::close(fd);
    if (ended) ::waitpid(pid, nullptr, 0);  // reparented to us: reap it
    return ended;
}

}  // namespace

TEST_CASE("a killed forkserver is restarted by the next start", "[forkserver]") {
    auto ctx = mp::get_context("forkserver");
    auto first = ctx.Process(noop);
    first.start();
    first.join();
    auto old = find_server();
    REQUIRE(old.pid > 0);
    CHECK_FALSE(old.socket.empty());  // in the abstract namespace
    REQUIRE(::kill(old.pid, SIGKILL) == 0);
    auto p = ctx.Process(noop);
    p.start();
    p.join();
    CHECK(p.exitcode() == 0);
    auto now = find_server();
    CHECK(now.pid > 0);
    CHECK(now.pid != old.pid);
    CHECK(now.socket != old.socket);
    CHECK(abstract_sockets(old.socket).empty());  // went with the dead server
}

TEST_CASE("the forkserver serves only its own user", "[forkserver]") {
    if (::geteuid() != 0) {
        WARN("not root: cannot become another user to check the refusal");
        return;
    }
    auto ctx = mp::get_context("forkserver");
    auto first = ctx.Process(noop);
    first.start();
    first.join();
    auto server = find_server();
    REQUIRE_FALSE(server.socket.empty());
    auto fork = mp::get_context("fork");
    auto [r, w] = fork.Pipe(false);
    auto p = fork.Process(mp::test::connect_as_nobody, w, '\0' + server.socket,
                          std::string(16, '\0'));  // a request header
    p.start();
    w.close();
    CHECK(r.recv<std::string>() == "refused");
    p.join();
    // And it still serves this user.
    auto again = ctx.Process(noop);
    again.start();
    again.join();
    CHECK(again.exitcode() == 0);
}

TEST_CASE("the forkserver ends with its program, even a SIGKILLed one", "[forkserver]") {
    auto fork = mp::get_context("fork");
    auto [r, w] = fork.Pipe(false);
    auto [hold_r, hold_w] = fork.Pipe(false);
    auto p = fork.Process(start_one_and_report_server, w, hold_r);
    p.start();
    w.close();
    auto [server, socket] = r.recv<std::tuple<int, std::string>>();
    REQUIRE(server > 0);
    REQUIRE_FALSE(socket.empty());
    p.kill();
    p.join();
    CHECK(p.exitcode() == -SIGKILL);
    CHECK(wait_gone(server));
    CHECK(abstract_sockets(socket).empty());  // nothing left behind
}

TEST_CASE("set_forkserver_preload loads libraries in the server", "[forkserver]") {
    const std::string lib = std::string(MPROC_TEST_PLUGIN_DIR) + "/mproc-backend-noentry.so";
    // In a fork child, which starts a forkserver of its own with the preload.
    auto fork = mp::get_context("fork");
    auto [r, w] = fork.Pipe(false);
    auto p = fork.Process(preload_and_check, w, lib);
    p.start();
    w.close();
    CHECK(r.recv<bool>());
    p.join();
    CHECK(p.exitcode() == 0);
    // Without the preload, a spawn child does not have it.
    auto spawn = mp::get_context("spawn");
    auto [r2, w2] = spawn.Pipe(false);
    auto q = spawn.Process(report_loaded, w2, lib);
    q.start();
    w2.close();
    CHECK_FALSE(r2.recv<bool>());
    q.join();
}
