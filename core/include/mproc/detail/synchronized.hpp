// Internal to <mproc/sharedctypes.hpp>: the lock part of Value and Array.
#pragma once

#include <mproc/export.hpp>

#include <optional>
#include <utility>

#include <mproc/sem_lock.hpp>

namespace mproc {

namespace detail {
/// The lock part of Value and Array.
class MPROC_API Synchronized {
  public:
    /// The lock (throws ValueError if made with lock = false).
    SemLock& get_lock() const;
    /// Takes and releases the lock (no-ops without one).
    void acquire() const {
        if (lock_) lock_->acquire();
    }
    void release() const {
        if (lock_) lock_->release();
    }
    bool has_lock() const noexcept { return lock_.has_value(); }
    const std::optional<SemLock>& lock_object() const noexcept { return lock_; }

  protected:
    Synchronized() = default;
    explicit Synchronized(std::optional<SemLock> lock) : lock_(std::move(lock)) {}
    mutable std::optional<SemLock> lock_;
};

/// Holds the lock of a Synchronized for a scope.
struct MPROC_API Held {
    explicit Held(const Synchronized& s) : s_(s) { s_.acquire(); }
    ~Held() { s_.release(); }
    Held(const Held&) = delete;
    Held& operator=(const Held&) = delete;
    const Synchronized& s_;
};
}  // namespace detail

}  // namespace mproc
