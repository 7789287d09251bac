// Counting semaphores across processes (Python: multiprocessing.Semaphore,
// BoundedSemaphore).
//
//   mproc::Semaphore sem(3);          // three at a time
//   { std::lock_guard g(sem); ... }
//   mproc::BoundedSemaphore b(1);     // a release above 1 is a ValueError
#pragma once

#include <mproc/export.hpp>

#include <mproc/sem_lock.hpp>

namespace mproc {

/// A counting semaphore; release() may raise it without bound (up to INT_MAX).
class MPROC_API Semaphore : public SemLock {
  public:
    /// A new semaphore of the default context with this value (>= 0).
    explicit Semaphore(int value = 1);
    /// A new semaphore made by ctx's start method.
    Semaphore(const Context& ctx, int value = 1);
    /// A received SemLock; throws SerializationError unless it is a Semaphore.
    explicit Semaphore(SemLock s);

  protected:
    Semaphore(const Context& ctx, int value, int max_value);
};

/// A semaphore that may not be released above its initial value.
class MPROC_API BoundedSemaphore : public Semaphore {
  public:
    /// A new bounded semaphore of the default context.
    explicit BoundedSemaphore(int value = 1);
    /// A new bounded semaphore made by ctx's start method.
    BoundedSemaphore(const Context& ctx, int value = 1);
    /// A received SemLock; throws SerializationError unless it is bounded.
    explicit BoundedSemaphore(SemLock s);
};

template <>
struct MPROC_API codec<Semaphore> : detail::SemLockCodec<Semaphore> {};
template <>
struct MPROC_API codec<BoundedSemaphore> : detail::SemLockCodec<BoundedSemaphore> {};

}  // namespace mproc
