#include "posix_process.hpp"

#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include <mproc/errors.hpp>
#include <mproc/plugin/posix/fd_connection.hpp>

namespace mproc::posix {

void PosixProcess::terminate() {
    signal(SIGTERM);
}
void PosixProcess::kill() {
    signal(SIGKILL);
}
void PosixProcess::interrupt() {
    signal(SIGINT);
}

int exitcode_from_status(int status) {
    if (WIFSIGNALED(status)) return -WTERMSIG(status);
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return 0;
}

PosixProcess::PosixProcess(pid_t pid) {
    attach(pid);
}

void PosixProcess::attach(pid_t pid) {
    pid_ = pid;
    // The child cannot have been reaped yet (only we reap it), so the pidfd
    // refers to it even if it has already exited.
    pidfd_ = int(::syscall(SYS_pidfd_open, pid, 0));
    if (pidfd_ < 0) {
        int e = errno;
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        throw std::system_error(e, std::generic_category(), "pidfd_open");
    }
}

PosixProcess::~PosixProcess() {
    close();
}

std::optional<int> PosixProcess::poll() {
    if (done_.load(std::memory_order_acquire)) return exitcode_;
    std::lock_guard lock(reap_mutex_);
    if (done_.load(std::memory_order_relaxed)) return exitcode_;
    int status = 0;
    pid_t r;
    do r = ::waitpid(pid_, &status, WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == 0) return std::nullopt;
    if (r < 0) throw std::system_error(errno, std::generic_category(), "waitpid");
    exitcode_ = exitcode_from_status(status);
    done_.store(true, std::memory_order_release);
    return exitcode_;
}

std::optional<int> PosixProcess::wait(Timeout timeout) {
    if (done_.load(std::memory_order_acquire)) return exitcode_;
    // Wait on the pidfd without holding the reap lock, so that other threads
    // can poll() meanwhile; then reap.
    if (pidfd_ >= 0 && !plugin::poll_handle(pidfd_, timeout)) return std::nullopt;
    return poll();
}

void PosixProcess::signal(int sig) {
    if (done_.load(std::memory_order_acquire)) return;
    if (::syscall(SYS_pidfd_send_signal, pidfd_, sig, nullptr, 0) != 0 && errno != ESRCH)
        throw std::system_error(errno, std::generic_category(), "pidfd_send_signal");
}

void PosixProcess::close() noexcept {
    if (pidfd_ >= 0) ::close(pidfd_);
    pidfd_ = -1;
}

}  // namespace mproc::posix
