// Semaphores and locks on Linux futexes, with their state in shared memory:
// what the POSIX start methods return from make_semaphore.
//
// Counting kind: the futex word is the value. Mutex kinds: the word is the
// holder's thread id (sleepers count themselves beside it); the holder's pid and process
// start time sit beside it, so a waiter that has slept a while checks
// whether the holding process still lives (a dead or zombie holder, or a
// reused pid, means abandoned) and takes the lock over.
#pragma once

#include <mproc/export.hpp>

#include <cstddef>
#include <memory>
#include <span>

#include <mproc/plugin/backend.hpp>

namespace mproc::posix {

/// Bytes of state one futex semaphore needs.
MPROC_API std::size_t futex_semaphore_state_size() noexcept;

/// Initialises state (zeroed shared memory) and returns the semaphore.
MPROC_API std::unique_ptr<plugin::SemaphoreImpl> make_futex_semaphore(std::span<std::byte> state,
                                                                      plugin::SemaphoreKind kind,
                                                                      int value, int max_value);

/// A semaphore made by make_futex_semaphore in another process.
MPROC_API std::unique_ptr<plugin::SemaphoreImpl> attach_futex_semaphore(std::span<std::byte> state);

}  // namespace mproc::posix
