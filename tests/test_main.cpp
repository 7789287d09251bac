// The test runner: Catch2 plus what every test case gets for free. Each test
// case has a timeout (MPROC_TEST_TIMEOUT seconds, default 60): a hang kills
// the whole test process group and fails. After each test case the runner
// checks that it left no child processes, no open file descriptors, no
// shared memory blocks ("mproc_*" in /dev/shm) and nothing named "mproc-*"
// in the temporary directory; a leak fails the run, naming the test case.
// The run gets a temporary directory of its own (TMPDIR, for it and its
// children; removed at its end), so runs side by side do not see each
// other's entries there.
#define CATCH_CONFIG_RUNNER
// Children are forked from the test process: Catch2 signal handlers there
// would report a child killed on purpose as a failed test.
#define CATCH_CONFIG_NO_POSIX_SIGNALS
#include <dirent.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "support.hpp"

namespace mproc::test {

std::vector<std::string> start_methods() {
    // The methods meson built (MPROC_TEST_START_METHODS), not what happens
    // to load: a built plugin that does not load must fail the suite, not
    // shrink it (main() loads each before any test runs).
    std::vector<std::string> out;
    std::string list = MPROC_TEST_START_METHODS;
    for (std::size_t at = 0; at <= list.size();) {
        auto comma = std::min(list.find(',', at), list.size());
        if (comma > at) out.push_back(list.substr(at, comma - at));
        at = comma + 1;
    }
    return out;
}

char process_state(int pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(f, line)) return '?';
    auto rp = line.rfind(')');
    return rp == std::string::npos || rp + 2 >= line.size() ? '?' : line[rp + 2];
}

std::vector<ProcInfo> children() {
    std::vector<ProcInfo> out;
    int self = ::getpid();
    DIR* d = ::opendir("/proc");
    if (!d) return out;
    while (auto* e = ::readdir(d)) {
        int pid = std::atoi(e->d_name);
        if (pid <= 0) continue;
        std::ifstream f(std::string("/proc/") + e->d_name + "/stat");
        std::string line;
        if (!std::getline(f, line)) continue;
        auto lp = line.find('(');
        auto rp = line.rfind(')');
        if (lp == std::string::npos || rp == std::string::npos || rp < lp) continue;
        std::istringstream rest(line.substr(rp + 2));
        ProcInfo info;
        int ppid = 0;
        rest >> info.state >> ppid;
        if (ppid != self) continue;
        info.pid = pid;
        info.comm = line.substr(lp + 1, rp - lp - 1);
        std::ifstream cmd(std::string("/proc/") + e->d_name + "/cmdline");
        std::string arg;
        while (std::getline(cmd, arg, '\0')) info.args.push_back(arg);
        out.push_back(std::move(info));
    }
    ::closedir(d);
    return out;
}

std::vector<int> child_pids() {
    std::vector<int> out;
    for (const auto& c : children()) {
        if (c.comm == "mproc-shmwatch") continue;
        if (c.args.size() < 2 || c.args[1] != "--mproc-helper") out.push_back(c.pid);
    }
    return out;
}

std::vector<std::string> entries_with_prefix(const std::string& dir, std::string_view prefix) {
    std::vector<std::string> out;
    DIR* d = ::opendir(dir.c_str());
    if (!d) return out;
    while (auto* e = ::readdir(d))
        if (std::string_view(e->d_name).starts_with(prefix)) out.emplace_back(e->d_name);
    ::closedir(d);
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<std::string> shm_entries() {
    return entries_with_prefix("/dev/shm", "mproc_");
}

std::vector<std::string> temp_entries() {
    const char* tmp = std::getenv("TMPDIR");
    return entries_with_prefix(tmp && *tmp ? tmp : "/tmp", "mproc-");
}

int connect_unix(const std::string& address) {
    sockaddr_un sa{};
    if (address.empty() || address.size() >= sizeof sa.sun_path) return -1;
    sa.sun_family = AF_UNIX;
    std::memcpy(sa.sun_path, address.data(), address.size());
    const auto len = socklen_t(offsetof(sockaddr_un, sun_path) + address.size());
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&sa), len) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

void connect_as_nobody(Connection c, std::string address, std::string hello) {
    if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0) {
        c.send(std::string("cannot change user"));
        return;
    }
    const int s = connect_unix(address);
    if (s < 0) {
        c.send(std::string("connect failed"));
        return;
    }
    if (!hello.empty()) (void)!::send(s, hello.data(), hello.size(), MSG_NOSIGNAL);
    char reply[4];
    const ssize_t n = ::recv(s, reply, sizeof reply, 0);
    ::close(s);
    c.send(std::string(n > 0 ? "answered" : "refused"));
}

std::string read_all(int fd) {
    std::string out;
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return out;
        out.append(buf, std::size_t(n));
    }
}

namespace {
// Entries of a /proc directory, not counting . and ..; -1 if unreadable.
int count_entries(const char* dir) {
    int n = 0;
    DIR* d = ::opendir(dir);
    if (!d) return -1;
    while (auto* e = ::readdir(d))
        if (e->d_name[0] != '.') ++n;
    ::closedir(d);
    return n;
}
}  // namespace

int open_fd_count() {
    return count_entries("/proc/self/fd") - 1;  // the directory stream itself
}

int thread_count() {
    return count_entries("/proc/self/task");
}

void wait_until(const std::function<bool()>& done, double limit) {
    auto start = std::chrono::steady_clock::now();
    while (!done()) {
        REQUIRE(seconds_since(start) < limit);
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
}

}  // namespace mproc::test

namespace {

void warm_up() {}

std::string current_test;
bool leaks_found = false;
int fds_before = 0;
std::vector<std::string> shm_before;
std::string run_tmpdir;  // this run's TMPDIR
std::vector<std::string> temp_before;

// Makes this run's temporary directory and points TMPDIR at it.
void make_run_tmpdir() {
    const char* base = std::getenv("TMPDIR");
    std::string dir = std::string(base && *base ? base : "/tmp") + "/mproc-test-run-XXXXXX";
    if (::mkdtemp(dir.data()) == nullptr) {
        std::perror("mkdtemp");
        std::exit(2);
    }
    run_tmpdir = dir;
    ::setenv("TMPDIR", dir.c_str(), 1);
}

// Watchers of shared memory blocks made by children end up as our children
// (we are their subreaper): reap the ones that have ended.
void reap_shm_watchers() {
    for (const auto& c : mproc::test::children())
        if (c.comm == "mproc-shmwatch" && c.state == 'Z') ::waitpid(c.pid, nullptr, WNOHANG);
}

// Blocks that appeared during the test case and are still there. A block
// whose users were killed may take the watcher up to 100 ms to remove, and
// another test program running beside this one may have one for a moment:
// wait up to 3 s for new ones to go before calling them leaked.
std::vector<std::string> shm_left_behind() {
    std::vector<std::string> left;
    auto start = std::chrono::steady_clock::now();
    for (;;) {
        auto now = mproc::test::shm_entries();
        left.clear();
        std::set_difference(now.begin(), now.end(), shm_before.begin(), shm_before.end(),
                            std::back_inserter(left));
        if (left.empty() || mproc::test::seconds_since(start) > 3) return left;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}
unsigned timeout_seconds = 60;

void on_timeout(int) {
    const char head[] = "\n*** test case timed out: ";
    (void)!::write(2, head, sizeof head - 1);
    (void)!::write(2, current_test.data(), current_test.size());
    (void)!::write(2, "\n", 1);
    ::kill(0, SIGKILL);  // the whole test process group, children included
    ::_exit(124);
}

struct LeakListener : Catch::TestEventListenerBase {
    using TestEventListenerBase::TestEventListenerBase;

    void testCaseStarting(const Catch::TestCaseInfo& info) override {
        current_test = info.name;
        fds_before = mproc::test::open_fd_count();
        shm_before = mproc::test::shm_entries();
        temp_before = mproc::test::temp_entries();
        ::alarm(timeout_seconds);
    }

    void testCaseEnded(const Catch::TestCaseStats& stats) override {
        ::alarm(0);
        reap_shm_watchers();
        auto kids = mproc::test::child_pids();
        int fds_after = mproc::test::open_fd_count();
        if (!kids.empty()) {
            std::fprintf(stderr, "LEAK: test case '%s' left %zu child process(es) behind\n",
                         stats.testInfo.name.c_str(), kids.size());
            for (int pid : kids) ::kill(pid, SIGKILL);
            leaks_found = true;
        }
        if (fds_after != fds_before) {
            std::fprintf(stderr, "LEAK: test case '%s' changed the open fd count from %d to %d\n",
                         stats.testInfo.name.c_str(), fds_before, fds_after);
            leaks_found = true;
        }
        for (const auto& name : shm_left_behind()) {
            std::fprintf(stderr, "LEAK: test case '%s' left /dev/shm/%s behind\n",
                         stats.testInfo.name.c_str(), name.c_str());
            ::shm_unlink(("/" + name).c_str());
            leaks_found = true;
        }
        auto temp_after = mproc::test::temp_entries();
        std::vector<std::string> temp_left;
        std::set_difference(temp_after.begin(), temp_after.end(), temp_before.begin(),
                            temp_before.end(), std::back_inserter(temp_left));
        for (const auto& name : temp_left) {
            std::fprintf(stderr, "LEAK: test case '%s' left %s/%s behind\n",
                         stats.testInfo.name.c_str(), run_tmpdir.c_str(), name.c_str());
            std::error_code ec;
            std::filesystem::remove_all(run_tmpdir + "/" + name, ec);
            leaks_found = true;
        }
    }
};

}  // namespace

CATCH_REGISTER_LISTENER(LeakListener)

int main(int argc, char** argv) {
    mproc::freeze_support(argc, argv);
    make_run_tmpdir();
    // Removed at every return from main (not in children: they never return here).
    struct RemoveRunTmpdir {
        ~RemoveRunTmpdir() {
            std::error_code ec;
            std::filesystem::remove_all(run_tmpdir, ec);  // with what Python peers left there
        }
    } remove_run_tmpdir;
    if (const char* t = std::getenv("MPROC_TEST_TIMEOUT")) timeout_seconds = unsigned(std::atoi(t));
    ::setpgid(0, 0);                     // so a timeout can kill exactly this test and its children
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);  // orphaned grandchildren become ours: leaks show
    ::signal(SIGALRM, on_timeout);
    // Load the plugins before counting fds (loading opens none that stay),
    // and start the forkserver, which keeps one fd open from then on.
    // The first Connection sent inside a message starts the handle sharer,
    // which keeps a socket open from then on: start it before counting.
    {
        auto [a, b] = mproc::Pipe();
        auto [r, w] = mproc::Pipe(false);
        a.send(w);
        (void)b.recv<mproc::Connection>();
    }
    // Each start method's first shared object maps a 64 KiB segment that
    // small shared objects share from then on (one fd).
    for (const auto& m : mproc::test::start_methods()) {
        std::optional<mproc::Context> loaded;
        try {
            loaded = mproc::get_context(m);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "FAILED: start method '%s' was built but does not load: %s\n",
                         m.c_str(), e.what());
            return 1;
        }
        auto ctx = *loaded;
        auto p = ctx.Process(warm_up);
        p.start();
        p.join();
        (void)ctx.Lock();
    }
    // The first tracked shared memory block starts this program's watcher,
    // linked by a socket that stays open from then on.
    (void)mproc::shared_memory::SharedMemory::create(1);
    int rc = Catch::Session().run(argc, argv);
    if (leaks_found) {
        std::fprintf(stderr, "FAILED: resources leaked (see LEAK lines above)\n");
        return rc == 0 ? 1 : rc;
    }
    return rc;
}
