// Condition and Event: CPython's algorithms over SemLocks.
#include <mproc/condition.hpp>

#include <algorithm>

#include <fmt/format.h>

#include <mproc/context.hpp>
#include <mproc/errors.hpp>
#include <mproc/event.hpp>

namespace mproc {

Condition::Condition() : Condition(get_context()) {}

Condition::Condition(const Context& ctx)
    : Condition(RLock(ctx), Semaphore(ctx, 0), Semaphore(ctx, 0), Semaphore(ctx, 0)) {}

Condition::Condition(const Lock& lock)
    : Condition(lock, Semaphore(Context(lock.backend()), 0), Semaphore(Context(lock.backend()), 0),
                Semaphore(Context(lock.backend()), 0)) {}

Condition::Condition(const RLock& lock)
    : Condition(lock, Semaphore(Context(lock.backend()), 0), Semaphore(Context(lock.backend()), 0),
                Semaphore(Context(lock.backend()), 0)) {}

Condition::Condition(SemLock lock, Semaphore sleeping, Semaphore woken, Semaphore wait)
    : lock_(std::move(lock)),
      sleeping_count_(std::move(sleeping)),
      woken_count_(std::move(woken)),
      wait_semaphore_(std::move(wait)) {}

bool Condition::wait(Timeout timeout) {
    if (!lock_.is_mine())
        throw ValueError("must acquire() condition before using wait()");  // Python's text
    // Indicate that this thread is going to sleep, then release the lock
    // as many times as it is held.
    sleeping_count_.release();
    int count = lock_.count();
    for (int i = 0; i < count; ++i) lock_.release();
    bool woken = false;
    try {
        woken = wait_semaphore_.acquire(true, timeout);
    } catch (...) {
        woken_count_.release();
        for (int i = 0; i < count; ++i) lock_.acquire();
        throw;
    }
    // Indicate that this thread has woken, then take the lock back.
    woken_count_.release();
    for (int i = 0; i < count; ++i) lock_.acquire();
    return woken;
}

void Condition::notify(int n) {
    if (!lock_.is_mine()) throw ValueError("lock is not owned");  // Python's text
    if (wait_semaphore_.acquire(false))
        throw ProcessError("Condition: the wait semaphore was not zero (state corrupted)");
    // Settle sleepers that timed out or were woken earlier.
    while (woken_count_.acquire(false)) sleeping_count_.acquire(false);
    int sleepers = 0;
    while (sleepers < n && sleeping_count_.acquire(false)) {
        wait_semaphore_.release();  // wake one sleeper
        ++sleepers;
    }
    if (sleepers > 0) {
        // Wait for the sleepers woken to say so, then drop wake-ups no
        // sleeper took (it timed out meanwhile).
        for (int i = 0; i < sleepers; ++i) woken_count_.acquire();
        while (wait_semaphore_.acquire(false)) {
        }
    }
}

std::string Condition::repr() const {
    int waiters = sleeping_count_.get_value() - woken_count_.get_value();
    return fmt::format("<Condition({}, {})>", lock_.repr(), std::max(waiters, 0));
}

void codec<Condition>::encode(Encoder& e, const Condition& c) {
    e.begin_array(4);
    mproc::encode(e, c.lock_);
    mproc::encode(e, c.sleeping_count_);
    mproc::encode(e, c.woken_count_);
    mproc::encode(e, c.wait_semaphore_);
}

Condition codec<Condition>::decode(Decoder& d) {
    if (d.read_array() != 4) throw SerializationError("a Condition is an array of 4 items");
    auto lock = mproc::decode<SemLock>(d);
    if (lock.kind() == plugin::SemaphoreKind::counting)
        throw SerializationError("a Condition's lock is not a Lock or RLock");
    auto sleeping = mproc::decode<Semaphore>(d);
    auto woken = mproc::decode<Semaphore>(d);
    auto wait = mproc::decode<Semaphore>(d);
    return Condition(std::move(lock), std::move(sleeping), std::move(woken), std::move(wait));
}

// Event: a Condition over a Lock and a semaphore used as the flag.

Event::Event() : Event(get_context()) {}

Event::Event(const Context& ctx) : Event(Condition(Lock(ctx)), Semaphore(ctx, 0)) {}

std::string Event::repr() const {
    return fmt::format("<Event at {} {}>", static_cast<const void*>(this),
                       is_set() ? "set" : "unset");
}

bool Event::is_set() const {
    std::lock_guard g(cond_);
    if (flag_.acquire(false)) {
        flag_.release();
        return true;
    }
    return false;
}

void Event::set() {
    std::lock_guard g(cond_);
    flag_.acquire(false);
    flag_.release();
    cond_.notify_all();
}

void Event::clear() {
    std::lock_guard g(cond_);
    flag_.acquire(false);
}

bool Event::wait(Timeout timeout) {
    std::lock_guard g(cond_);
    if (flag_.acquire(false)) {
        flag_.release();
        return true;
    }
    cond_.wait(timeout);
    if (flag_.acquire(false)) {
        flag_.release();
        return true;
    }
    return false;
}

void codec<Event>::encode(Encoder& e, const Event& ev) {
    e.begin_array(2);
    mproc::encode(e, ev.cond_);
    mproc::encode(e, ev.flag_);
}

Event codec<Event>::decode(Decoder& d) {
    if (d.read_array() != 2) throw SerializationError("an Event is an array of 2 items");
    auto cond = mproc::decode<Condition>(d);
    auto flag = mproc::decode<Semaphore>(d);
    return Event(std::move(cond), std::move(flag));
}

}  // namespace mproc
