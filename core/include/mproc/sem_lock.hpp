// The common base of Lock, RLock, Semaphore and BoundedSemaphore (Python's
// SemLock): a semaphore made by the context's start method, its state in
// shared memory. Copies refer to the same semaphore; pass one to a child as a
// Process argument (every start method) and both use the same semaphore.
//
// Every SemLock is a C++ Lockable and TimedLockable:
//   std::lock_guard g(lock);  std::unique_lock u(sem, 100ms);  std::scoped_lock s(a, b);
#pragma once

#include <mproc/export.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <type_traits>

#include <fmt/format.h>

#include <mproc/codec.hpp>
#include <mproc/plugin/semaphore.hpp>
#include <mproc/shared_block.hpp>
#include <mproc/timeout.hpp>

namespace mproc {

class Context;

/// A semaphore or lock in shared memory.
class MPROC_API SemLock {
  public:
    /// Takes it (Python: acquire(block=True, timeout=None)). block = false
    /// only tries; a negative timeout counts as zero; nullopt waits for
    /// ever. Returns false if it was not taken in time. Throws
    /// AbandonedLock, holding it, if a holder process died holding it.
    bool acquire(bool block = true, Timeout timeout = std::nullopt) {
        // No timeout: a constant, which the call loads. For a temporary
        // std::nullopt GCC stores one byte and reloads a word, a load that
        // must wait for the store (no store forwarding): 40% of an
        // uncontended acquire+release.
        static constexpr Timeout forever{};
        if (block && !timeout) return took(impl_->acquire(forever));
        return took(impl_->acquire(!block ? Timeout(0.0) : clamp(timeout)));
    }
    /// acquire(true, timeout).
    bool acquire(Timeout timeout) { return acquire(true, timeout); }
    /// Gives it back; throws ValueError if that is not allowed (see the kinds).
    void release() { impl_->release(); }

    /// The value (Lock/RLock: 1 when free, 0 when held).
    int get_value() const { return impl_->value(); }
    /// True when the calling thread holds it (Lock, RLock).
    bool is_mine() const { return impl_->is_mine(); }
    /// How many times the calling thread holds it (RLock depth; Lock 0 or 1).
    int count() const { return impl_->count(); }
    /// Its kind.
    plugin::SemaphoreKind kind() const { return impl_->kind(); }
    /// The start method that made it.
    plugin::ContextBackend& backend() const { return block_.backend(); }

    /// Lockable: acquire(), try_lock() = acquire(false), unlock() = release().
    void lock() { acquire(); }
    bool try_lock() { return acquire(false); }
    void unlock() { release(); }
    template <class Rep, class Period>
    bool try_lock_for(std::chrono::duration<Rep, Period> d) {
        return acquire(true, std::chrono::duration<double>(d));
    }
    template <class Clock, class Duration>
    bool try_lock_until(std::chrono::time_point<Clock, Duration> t) {
        return try_lock_for(t - Clock::now());
    }

    /// Python's printable form: <Lock(owner=MainProcess)>, <RLock(None, 0)>,
    /// <Semaphore(value=2)>, <BoundedSemaphore(value=1, maxvalue=1)>. Also
    /// what fmt prints for it.
    std::string repr() const;

    /// Same semaphore.
    friend bool operator==(const SemLock& a, const SemLock& b) noexcept {
        return a.block_.data() == b.block_.data();
    }

  protected:
    /// A new semaphore made by ctx's start method.
    SemLock(const Context& ctx, plugin::SemaphoreKind kind, int value, int max_value);
    /// Refers to a semaphore already made (decoding).
    SemLock(SharedBlock block, std::shared_ptr<plugin::SemaphoreImpl> impl)
        : block_(std::move(block)), impl_(std::move(impl)) {}

  private:
    friend struct codec<SemLock>;
    static Timeout clamp(Timeout t) {
        if (t && t->count() < 0) return Timeout(0.0);
        return t;
    }
    bool took(plugin::AcquireStatus s) const {
        if (s == plugin::AcquireStatus::acquired) return true;
        if (s == plugin::AcquireStatus::timed_out) return false;
        abandoned();
    }
    [[noreturn]] void abandoned() const;

    SharedBlock block_;
    std::shared_ptr<plugin::SemaphoreImpl> impl_;
};

/// Crosses into spawn and forkserver children as a Process argument.
template <>
struct MPROC_API codec<SemLock> {
    static void encode(Encoder& e, const SemLock& s);
    /// The semaphore; the caller checks its kind.
    static SemLock decode(Decoder& d);
};

namespace detail {
/// codec for a SemLock subclass of one kind (Lock, RLock, ...).
template <class T>
struct SemLockCodec {
    static void encode(Encoder& e, const T& s) { codec<SemLock>::encode(e, s); }
    static T decode(Decoder& d) { return T(codec<SemLock>::decode(d)); }
};
}  // namespace detail

}  // namespace mproc

/// fmt prints a Lock, RLock, Semaphore or BoundedSemaphore as its repr().
template <class T>
requires std::is_base_of_v<mproc::SemLock, T>
struct fmt::formatter<T> : fmt::formatter<std::string_view> {
    template <class Ctx>
    auto format(const T& s, Ctx& ctx) const {
        return fmt::formatter<std::string_view>::format(s.repr(), ctx);
    }
};
