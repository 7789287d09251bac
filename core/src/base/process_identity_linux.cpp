// Cached thread and process identity (see process_identity.hpp).
#include "base/process_identity.hpp"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace mproc::detail {
namespace {

// Reads /proc/<pid>/stat: the state letter and the start time (field 22).
bool read_stat(int pid, char& state, std::uint64_t& start) noexcept {
    char path[40];
    std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
    int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    char buf[1024];
    ssize_t n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    if (n <= 0) return false;
    buf[n] = '\0';
    // The command name (field 2) may hold spaces and parentheses: the fields
    // after it start after the last ')'.
    char* p = std::strrchr(buf, ')');
    if (p == nullptr || p[1] != ' ') return false;
    p += 2;
    state = *p;
    for (int field = 3; field < 22; ++field) {
        p = std::strchr(p, ' ');
        if (p == nullptr) return false;
        ++p;
    }
    start = std::strtoull(p, nullptr, 10);
    return true;
}

}  // namespace

namespace identity {

thread_local std::uint32_t tid __attribute__((tls_model("initial-exec"))) = 0;
std::atomic<int> pid{0};
std::atomic<std::uint64_t> start{0};

std::uint32_t fetch_tid() noexcept {
    return tid = std::uint32_t(::syscall(SYS_gettid));
}

int fetch_pid() noexcept {
    int p = int(::getpid());
    pid.store(p, std::memory_order_relaxed);
    return p;
}

// In a fork child the forking thread is the only thread; its copies of the
// caches describe the parent. (Read and written by one thread at a time, or
// idempotently: every thread computes the same pid and start time.)
[[gnu::hot]] void forget() noexcept {
    tid = 0;
    pid.store(0, std::memory_order_relaxed);
    start.store(0, std::memory_order_relaxed);
}

std::uint64_t fetch_start() noexcept {
    std::uint64_t s = 0;
    char state = 0;
    if (!read_stat(this_process_id(), state, s)) s = 0;
    start.store(s, std::memory_order_relaxed);
    return s;
}

}  // namespace identity

bool process_alive(int pid, std::uint64_t start) noexcept {
    char state = 0;
    std::uint64_t actual = 0;
    if (!read_stat(pid, state, actual)) return false;
    if (state == 'Z' || state == 'X' || state == 'x') return false;
    return start == 0 || actual == start;
}

}  // namespace mproc::detail
