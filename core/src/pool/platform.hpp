// What the pool needs from the operating system (pool_linux.cpp).
#pragma once

#include <atomic>
#include <cstddef>
#include <string>
#include <typeinfo>

namespace mproc::detail {

/// A wakeup handle (an eventfd): notify() makes it readable until drained.
class Wakeup {
  public:
    Wakeup();
    ~Wakeup();
    Wakeup(const Wakeup&) = delete;
    Wakeup& operator=(const Wakeup&) = delete;
    /// Makes the handle readable (async-signal-safe).
    void notify() noexcept;
    /// Makes it unreadable again.
    void drain() noexcept;
    /// The handle to wait on.
    int handle() const noexcept { return fd_; }

  private:
    int fd_;
};

/// The type of the exception being handled, or nullptr if none is (the
/// Itanium C++ ABI's __cxa_current_exception_type).
const std::type_info* current_exception_type() noexcept;

/// How many bytes a write to this pipe end can leave unread before it
/// blocks (the kernel's pipe buffer; smaller once the user's pipes passed
/// fs.pipe-user-pages-soft).
std::size_t pipe_capacity(std::intptr_t fd);
/// This process's resident memory in bytes (0 if unknown).
std::size_t resident_memory();
/// Ignores SIGINT in this process (a worker: Ctrl-C is the parent's).
void ignore_sigint();
/// How a process ended, from its exit code: "exit code 3", "signal 9 (SIGKILL)".
std::string describe_exit(int exitcode);

/// Catches SIGINT while a blocking pool call waits (if SIGINT has its
/// default action and no other guard is active): the handler sets *flag and
/// notifies wakeup.
class SigintGuard {
  public:
    SigintGuard(Wakeup* wakeup, std::atomic<bool>* flag);
    ~SigintGuard();
    SigintGuard(const SigintGuard&) = delete;
    SigintGuard& operator=(const SigintGuard&) = delete;

  private:
    bool installed_ = false;
};

}  // namespace mproc::detail
