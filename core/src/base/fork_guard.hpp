// Library mutexes that a fork never leaves locked in the child: every guarded
// mutex is taken before fork() (pthread_atfork prepare, in creation order),
// released after it in the parent and made anew in the child (a recursive
// mutex cannot be unlocked there: its owner was the parent's thread), so the
// child's only thread finds them free and the data they guard whole. A fork
// from a single-threaded process skips all three: no other thread can hold
// one. Never hold one while calling fork().
#pragma once

#include <mutex>
#include <new>

namespace mproc::detail {

/// Forks so far in this process's line: incremented in each fork child,
/// before any other fork handler runs.
unsigned fork_generation() noexcept;

/// Registers a mutex with the fork handlers (for the life of the program).
void guard_across_fork(void* mutex, void (*lock)(void*), void (*unlock)(void*),
                       void (*renew)(void*));

/// A Mutex (std::mutex, std::recursive_mutex) guarded across fork. Must live
/// until the program ends (give it static storage or leak it).
template <class Mutex>
class ForkGuarded {
  public:
    ForkGuarded() { guard_across_fork(&m_, &lock_it, &unlock_it, &renew); }
    ForkGuarded(const ForkGuarded&) = delete;
    ForkGuarded& operator=(const ForkGuarded&) = delete;
    void lock() { m_.lock(); }
    void unlock() { m_.unlock(); }
    bool try_lock() { return m_.try_lock(); }

  private:
    static void lock_it(void* m) { static_cast<Mutex*>(m)->lock(); }
    static void unlock_it(void* m) { static_cast<Mutex*>(m)->unlock(); }
    // Runs in the fork child ([[gnu::hot]]: see fork_guard_linux.cpp).
    [[gnu::hot]] static void renew(void* m) { new (m) Mutex(); }

    Mutex m_;
};

using ForkGuardedMutex = ForkGuarded<std::mutex>;

}  // namespace mproc::detail
