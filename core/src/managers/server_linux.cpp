// The manager server's Linux calls: pidfd to watch the owner, poll, signals.
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <system_error>

#include <fmt/format.h>

#include "managers/server.hpp"
#include "process/authkey.hpp"

namespace mproc::managers::detail::os {

int watch_process(int pid) {
#ifdef SYS_pidfd_open
    const long fd = ::syscall(SYS_pidfd_open, pid, 0);
    if (fd >= 0) {
        ::fcntl(int(fd), F_SETFD, FD_CLOEXEC);
        return int(fd);
    }
#endif
    return -1;
}

void ignore_sigint() {
    ::signal(SIGINT, SIG_IGN);
}

std::pair<int, int> make_pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0)
        throw std::system_error(errno, std::generic_category(), "pipe2");
    return {fds[0], fds[1]};
}

void wake(int fd) noexcept {
    const char c = 1;
    [[maybe_unused]] auto n = ::write(fd, &c, 1);
}

Ready wait_ready(int listen_fd, int owner_fd, int owner_pid, int wake_fd, int control_fd) {
    for (;;) {
        // poll ignores negative descriptors.
        pollfd fds[4] = {{wake_fd, POLLIN, 0},
                         {listen_fd, POLLIN, 0},
                         {owner_fd, POLLIN, 0},
                         {control_fd, POLLIN, 0}};
        const nfds_t n = 4;
        // Without a pidfd, look at the owner every 100 ms (kill(pid, 0)).
        const int r = ::poll(fds, n, owner_fd < 0 && owner_pid > 0 ? 100 : -1);
        if (r < 0 && errno != EINTR)
            throw std::system_error(errno, std::generic_category(), "poll");
        if (fds[0].revents || fds[3].revents) return Ready::wake;
        if (fds[2].revents) return Ready::owner_gone;
        if (owner_fd < 0 && owner_pid > 0 && ::kill(owner_pid, 0) != 0 && errno == ESRCH)
            return Ready::owner_gone;
        if (fds[1].revents) return Ready::client;
    }
}

void exit_now(int code) {
    std::fflush(stdout);
    std::fflush(stderr);
    ::_exit(code);
}

namespace {
// getpid() is a system call (glibc no longer caches it) and a proxy call
// asks for the pid to notice a fork: keep it here, renewed in fork children.
std::atomic<int> cached_pid{0};
void renew_pid() noexcept {
    cached_pid.store(int(::getpid()), std::memory_order_relaxed);
}
}  // namespace

int current_pid() noexcept {
    static const bool registered = [] {
        renew_pid();
        ::pthread_atfork(nullptr, nullptr, &renew_pid);
        return true;
    }();
    (void)registered;
    return cached_pid.load(std::memory_order_relaxed);
}

connection::Address default_address() {
    // '\0' first: Linux's abstract namespace (the Listener binds its exact bytes).
    return connection::Address(fmt::format("{}mproc-manager-{}-{:016x}", '\0', current_pid(),
                                           mproc::detail::random_u64()));
}

bool peer_is_same_user(std::intptr_t fd) noexcept {
    ucred cred{};
    socklen_t len = sizeof cred;
    return ::getsockopt(int(fd), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 &&
           (cred.uid == ::getuid() || cred.uid == 0);
}

void shutdown_socket(std::intptr_t fd) noexcept {
    ::shutdown(int(fd), SHUT_RDWR);
}

}  // namespace mproc::managers::detail::os
