// The platform part of freeze_support (see freeze_support.cpp): how an exec
// child reads its bootstrap message, and how a program ends at once.
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include <mproc/plugin/exec_protocol.hpp>

#include "process/exec_child.hpp"
#include "process/process_state.hpp"

namespace mproc::detail {

namespace {

// The POSIX start methods exec a child with every signal blocked, which
// spares them resetting each signal's handler first (exec_launch.cpp); the
// child unblocks them here, while libmproc loads, before main() runs.
__attribute__((constructor)) void unblock_signals_in_exec_child() {
    if (::getenv(plugin::exec_child_env) == nullptr) return;
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
}

std::vector<std::byte> read_all(int fd) {
    std::vector<std::byte> out;
    std::byte buf[65536];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        out.insert(out.end(), buf, buf + n);
    }
    return out;
}

}  // namespace

std::optional<ExecBootstrap> read_exec_bootstrap(int argc, char** argv) {
    if (argc < 4) return std::nullopt;
    int fd = std::atoi(argv[2]);
    int n = std::atoi(argv[3]);
    ExecBootstrap boot;
    boot.payload = read_all(fd);
    ::close(fd);
    for (int i = 0; i < n; ++i) boot.handles.push_back(fd + 1 + i);
    return boot;
}

void end_process(int code) {
    flush_std_streams();
    ::_exit(code);
}

}  // namespace mproc::detail
