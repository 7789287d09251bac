// Condition variables across processes (Python: multiprocessing.Condition).
//
//   mproc::Condition cond;                    // over a new RLock
//   {
//       std::unique_lock g(cond);
//       cond.wait_for([&] { return ready.value(); }, 1s);
//   }
//   { std::lock_guard g(cond); cond.notify_all(); }
//
// Built, as in CPython, on its lock and three semaphores. wait and notify
// require the calling thread to hold the lock (ValueError otherwise). A
// process killed while it sleeps in wait() makes a later notify() of it wait
// for an acknowledgement that never comes, as in Python: do not kill waiters.
#pragma once

#include <mproc/export.hpp>

#include <chrono>
#include <climits>
#include <variant>

#include <mproc/lock.hpp>
#include <mproc/semaphore.hpp>

namespace mproc {

/// A condition variable over a Lock or RLock.
class MPROC_API Condition {
  public:
    /// Over a new RLock of the default context.
    Condition();
    /// Over a new RLock made by ctx's start method.
    explicit Condition(const Context& ctx);
    /// Over lock (its semaphores from lock's start method).
    explicit Condition(const Lock& lock);
    explicit Condition(const RLock& lock);

    /// Acquires the underlying lock (as SemLock::acquire).
    bool acquire(bool block = true, Timeout timeout = std::nullopt) {
        return lock_.acquire(block, timeout);
    }
    /// Releases the underlying lock.
    void release() { lock_.release(); }
    void lock() { lock_.lock(); }
    bool try_lock() { return lock_.try_lock(); }
    void unlock() { lock_.unlock(); }

    /// Releases the lock (every level of an RLock), sleeps until notified or
    /// until timeout, re-acquires the lock. False on timeout.
    bool wait(Timeout timeout = std::nullopt);
    /// Waits until predicate() is true or timeout passes; returns the last
    /// value of predicate() (Python: wait_for).
    template <class Predicate>
    auto wait_for(Predicate predicate, Timeout timeout = std::nullopt) -> decltype(predicate()) {
        using clock = std::chrono::steady_clock;
        auto result = predicate();
        std::optional<clock::time_point> end;
        if (timeout) end = clock::now() + std::chrono::duration_cast<clock::duration>(*timeout);
        while (!result) {
            Timeout wait_time;
            if (end) {
                wait_time = std::chrono::duration<double>(*end - clock::now());
                if (wait_time->count() <= 0) break;
            }
            wait(wait_time);
            result = predicate();
        }
        return result;
    }
    /// Wakes up to n waiters.
    void notify(int n = 1);
    /// Wakes every waiter.
    void notify_all() { notify(INT_MAX); }

    /// Python's printable form, <Condition(<RLock(MainProcess, 1)>, 0)>:
    /// the lock and how many wait (also what fmt prints).
    std::string repr() const;

    /// The underlying lock (a Lock or an RLock).
    SemLock& get_lock() const noexcept { return lock_; }

  private:
    friend struct codec<Condition>;
    Condition(SemLock lock, Semaphore sleeping, Semaphore woken, Semaphore wait);

    mutable SemLock lock_;  // a handle: copies share the semaphore
    Semaphore sleeping_count_;
    Semaphore woken_count_;
    Semaphore wait_semaphore_;
};

template <>
struct MPROC_API codec<Condition> {
    static void encode(Encoder& e, const Condition& c);
    static Condition decode(Decoder& d);
};

}  // namespace mproc

/// fmt prints a Condition as its repr().
template <>
struct fmt::formatter<mproc::Condition> : fmt::formatter<std::string_view> {
    template <class Ctx>
    auto format(const mproc::Condition& c, Ctx& ctx) const {
        return fmt::formatter<std::string_view>::format(c.repr(), ctx);
    }
};
