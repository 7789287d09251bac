// Lock and RLock across processes (Python: multiprocessing.Lock, RLock).
//
//   mproc::Lock lock;                                  // the default context's
//   { std::lock_guard g(lock); fmt::print("hello world {}\n", i); }
//   if (lock.acquire(true, 500ms)) lock.release();
//   auto r = ctx.RLock();                              // re-entrant, per thread
//
// Python's rules: a Lock may be released by any thread or process, but not
// while unlocked (ValueError); an RLock only by the thread that holds it
// (ValueError otherwise). Beyond Python, a process that dies holding either
// does not hang the others: the next acquirer gets it together with an
// AbandonedLock exception (it holds the lock; see errors.hpp). A waiter
// notices the death within about 130 ms.
#pragma once

#include <mproc/export.hpp>

#include <mproc/sem_lock.hpp>

namespace mproc {

/// A non-recursive lock shared by threads and processes.
class MPROC_API Lock : public SemLock {
  public:
    /// A new lock of the default context.
    Lock();
    /// A new lock made by ctx's start method.
    explicit Lock(const Context& ctx);
    /// A received SemLock; throws SerializationError unless it is a Lock.
    explicit Lock(SemLock s);
    /// True while some thread or process holds it (Python 3.14's locked()).
    bool locked() const { return get_value() == 0; }
};

/// A recursive lock: the holding thread may take it again and must release
/// it as often.
class MPROC_API RLock : public SemLock {
  public:
    /// A new recursive lock of the default context.
    RLock();
    /// A new recursive lock made by ctx's start method.
    explicit RLock(const Context& ctx);
    /// A received SemLock; throws SerializationError unless it is an RLock.
    explicit RLock(SemLock s);
    /// True while some thread or process holds it (Python 3.14's locked()).
    bool locked() const { return get_value() == 0; }
};

template <>
struct MPROC_API codec<Lock> : detail::SemLockCodec<Lock> {};
template <>
struct MPROC_API codec<RLock> : detail::SemLockCodec<RLock> {};

}  // namespace mproc
