// The pool's system calls: eventfd wakeups, pipe capacity, /proc/self/statm,
// signals.
#include <cxxabi.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <system_error>

#include <fmt/format.h>

#include "pool/platform.hpp"

namespace mproc::detail {

const std::type_info* current_exception_type() noexcept {
    return abi::__cxa_current_exception_type();
}

Wakeup::Wakeup() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
}

Wakeup::~Wakeup() {
    ::close(fd_);
}

void Wakeup::notify() noexcept {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(fd_, &one, sizeof one);
}

void Wakeup::drain() noexcept {
    std::uint64_t v;
    [[maybe_unused]] auto n = ::read(fd_, &v, sizeof v);
}

std::size_t pipe_capacity(std::intptr_t fd) {
    int n = ::fcntl(int(fd), F_GETPIPE_SZ);
    return n > 0 ? std::size_t(n) : std::size_t(::sysconf(_SC_PAGESIZE));
}

std::size_t resident_memory() {
    std::FILE* f = std::fopen("/proc/self/statm", "re");
    if (!f) return 0;
    unsigned long size = 0, resident = 0;
    int got = std::fscanf(f, "%lu %lu", &size, &resident);
    std::fclose(f);
    return got == 2 ? std::size_t(resident) * std::size_t(::sysconf(_SC_PAGESIZE)) : 0;
}

void ignore_sigint() {
    ::signal(SIGINT, SIG_IGN);
}

std::string describe_exit(int exitcode) {
    if (exitcode >= 0) return fmt::format("exit code {}", exitcode);
    const int sig = -exitcode;
    const char* abbrev = ::sigabbrev_np(sig);
    return abbrev ? fmt::format("signal {} (SIG{})", sig, abbrev) : fmt::format("signal {}", sig);
}

namespace {

std::atomic<bool>* sigint_flag{nullptr};
std::atomic<Wakeup*> sigint_wakeup{nullptr};
std::atomic<bool> sigint_guarded{false};
struct sigaction sigint_previous;

void on_sigint(int) {
    if (auto* f = sigint_flag) f->store(true);
    if (auto* w = sigint_wakeup.load()) w->notify();
}

}  // namespace

SigintGuard::SigintGuard(Wakeup* wakeup, std::atomic<bool>* flag) {
    struct sigaction current;
    ::sigaction(SIGINT, nullptr, &current);
    if (current.sa_handler != SIG_DFL) return;  // the program handles SIGINT itself
    bool expected = false;
    if (!sigint_guarded.compare_exchange_strong(expected, true)) return;
    sigint_flag = flag;
    sigint_wakeup.store(wakeup);
    struct sigaction sa {};
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, &sigint_previous);
    installed_ = true;
}

SigintGuard::~SigintGuard() {
    if (!installed_) return;
    ::sigaction(SIGINT, &sigint_previous, nullptr);
    sigint_wakeup.store(nullptr);
    sigint_flag = nullptr;
    sigint_guarded.store(false);
}

}  // namespace mproc::detail
