// Process-shared semaphores as a start method makes them (part of the
// plugin ABI, see backend.hpp): what Lock, RLock, Semaphore and the rest are
// built on.
#pragma once

#include <mproc/export.hpp>

#include <cstdint>

#include <mproc/timeout.hpp>

namespace mproc::plugin {

/// How a semaphore behaves (Python's SemLock kinds, plus a plain mutex).
enum class SemaphoreKind : std::uint32_t {
    counting = 0,         ///< Semaphore / BoundedSemaphore: no owner
    mutex = 1,            ///< Lock: one holder, which anyone may release
    recursive_mutex = 2,  ///< RLock: one holding thread, re-entrant
};

/// What an acquire came to.
enum class AcquireStatus : std::uint32_t {
    timed_out = 0,  ///< not acquired within the timeout
    acquired = 1,   ///< acquired
    abandoned = 2,  ///< acquired from a holder process that died holding it
};

/// A semaphore whose state lives in shared memory given by core (see
/// ContextBackend::make_semaphore). Safe from any thread of any process that
/// maps the state. For the mutex kinds the holder is a thread; a holder
/// *process* that dies holding it is detected by the next acquirer, which
/// gets AcquireStatus::abandoned.
class MPROC_API SemaphoreImpl {
  public:
    virtual ~SemaphoreImpl();
    /// Takes one unit (the lock); a timeout of zero only tries, nullopt
    /// waits for ever. A recursive mutex held by the caller is taken again.
    virtual AcquireStatus acquire(Timeout timeout) = 0;
    /// Gives one unit back. Throws ValueError when that would exceed the
    /// maximum (a lock released while unlocked), or for a recursive mutex
    /// the calling thread does not hold.
    virtual void release() = 0;
    /// The current value (mutex kinds: 1 when free, 0 when held).
    virtual int value() const = 0;
    /// Mutex kinds: the calling thread holds it. Counting: false.
    virtual bool is_mine() const = 0;
    /// Mutex kinds: a thread of the calling process holds it, the calling
    /// one or another (a lock's repr says SomeOtherThread, as Python's).
    /// Counting: false.
    virtual bool held_in_this_process() const = 0;
    /// How many times the calling thread holds it (recursive: depth; mutex:
    /// 0 or 1; counting: 0).
    virtual int count() const = 0;
    /// Its kind and maximum value, as made.
    virtual SemaphoreKind kind() const = 0;
    virtual int max_value() const = 0;
};

}  // namespace mproc::plugin
