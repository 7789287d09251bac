// A Queue's feeder (internal to core/src/queue): what one process knows of
// a queue, and the thread that writes into the ring what a put could not
// write at once. Feeders are joined at process exit, as Python's are.
#pragma once

#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "base/fork_guard.hpp"
#include "queue/ring.hpp"

namespace mproc::detail {

struct QueueCore::Local {
    unsigned generation = detail::fork_generation();
    std::mutex mutex;
    std::condition_variable wake;
    std::deque<std::vector<std::byte>> buffer;  // waiting for the feeder
    std::size_t in_flight = 0;                  // taken by the feeder, not yet written
    std::thread feeder;
    bool feeding = false;  // the feeder thread runs
    std::atomic<bool> closed{false};
    bool cancel_join = false;
    std::exception_ptr failure;  // of the feeder, thrown by the next put
    // Something is buffered, in flight or failed: puts must take the slow
    // path (under mutex) to keep their order. Read without the mutex.
    std::atomic<bool> backlog{false};

    // Updates backlog (the caller holds mutex).
    void note_backlog() {
        backlog.store(!buffer.empty() || in_flight != 0 || failure != nullptr,
                      std::memory_order_release);
    }

    /// Feeds the buffer into the queue until it is empty, then ends (the
    /// feeder thread's body).
    void feed(std::shared_ptr<Shared> shared);
    /// Writes what is buffered into the ring, as far as it fits now, from the
    /// putting thread (the caller holds mutex).
    void flush_buffer(Shared& s);
    /// Writes batch into the ring, waiting for room as needed; pops what it
    /// wrote (what is left was not written).
    static void write(Shared& s, std::deque<std::vector<std::byte>>& batch);
};

/// Remembers a Local whose feeder started, to join it at exit.
void remember_feeder(const std::shared_ptr<QueueCore::Local>& l);
/// Joins this process's feeders that have ended (a finished thread keeps
/// its stack until joined) and forgets them.
void join_ended_feeders();
/// Guards the making of a QueueCore's Local.
ForkGuardedMutex& local_mutex();

}  // namespace mproc::detail
