// A Queue's feeder threads, and their joining at exit (see feeder.hpp).
#include "queue/feeder.hpp"

#include <algorithm>

#include "process/exit_hooks.hpp"

namespace mproc::detail {

// Feeds the buffer into the queue until it is empty, then ends. Takes
// what is buffered in batches: small items go into the ring as many at
// a time as fit under one hold of put_lock.
void QueueCore::Local::feed(std::shared_ptr<Shared> shared) {
    std::unique_lock lock(mutex);
    std::deque<std::vector<std::byte>> batch;
    while (!buffer.empty()) {
        batch.swap(buffer);
        in_flight = batch.size();
        note_backlog();
        lock.unlock();
        try {
            write(*shared, batch);
        } catch (...) {
            lock.lock();
            failure = std::current_exception();
            // What was not written is lost.
            shared->header().buffered.fetch_sub(batch.size() + buffer.size(),
                                                std::memory_order_relaxed);
            buffer.clear();
            break;
        }
        lock.lock();
        in_flight = 0;
        batch.clear();
    }
    in_flight = 0;
    note_backlog();
    feeding = false;
    wake.notify_all();
}

// Writes what is buffered into the ring, as far as it fits now, from the
// putting thread (the caller holds mutex): once the ring has room again
// the producer needs its feeder no more. Not while the feeder writes.
void QueueCore::Local::flush_buffer(Shared& s) {
    if (in_flight != 0 || buffer.empty() || !try_take(s.put_lock)) return;
    std::size_t n = s.append_buffered(buffer);
    s.put_lock.release();
    if (n > 0) {
        note_backlog();
        s.buffered_written(n);
    }
}

// Writes batch into the ring, waiting for room as needed; pops what it
// wrote (what is left was not written).
void QueueCore::Local::write(Shared& s, std::deque<std::vector<std::byte>>& batch) {
    while (!batch.empty()) {
        take(s.put_lock);
        if (s.shut() == immediate) {
            // Shut down at once: what is left is dropped, as what was in the
            // ring. (Looked at under put_lock: shutdown() takes it before it
            // drains the ring, so an item is either drained or dropped here.)
            s.put_lock.release();
            std::size_t n = batch.size();
            batch.clear();
            s.header().buffered.fetch_sub(n, std::memory_order_relaxed);
            if (s.bounded())
                for (std::size_t i = 0; i < n; ++i) s.sem.release();
            drop_tasks(s, n);
            return;
        }
        if (batch.front().size() > max_whole) {
            try {
                s.put_chunked(batch.front());
            } catch (...) {
                s.put_lock.release();
                throw;
            }
            s.put_lock.release();
            batch.pop_front();
            s.header().buffered.fetch_sub(1, std::memory_order_relaxed);
            continue;
        }
        std::size_t n = s.append_buffered(batch);
        s.put_lock.release();
        if (n > 0) {
            s.buffered_written(n);
        } else {
            s.wait_for_space(entry_size(whole, batch.front().size()));
        }
    }
}

namespace {

// Every Local that ever started a feeder in this process: joined at exit.
struct Feeders {
    ForkGuardedMutex mutex;
    std::vector<std::shared_ptr<QueueCore::Local>> all;
};

Feeders& feeders() {
    static auto* f = new Feeders();  // leaked: used at exit
    return *f;
}

void join_feeders_at_exit() {
    std::vector<std::shared_ptr<QueueCore::Local>> all;
    {
        auto& f = feeders();
        std::lock_guard lock(f.mutex);
        all = f.all;
    }
    unsigned generation = detail::fork_generation();
    for (auto& l : all) {
        if (l->generation != generation) continue;  // a parent's
        std::unique_lock lock(l->mutex);
        if (!l->feeder.joinable()) continue;
        if (l->cancel_join) {
            l->feeder.detach();  // what it did not write is lost
            continue;
        }
        lock.unlock();
        l->feeder.join();
    }
}

void join_ended_feeders(Feeders& f) {
    unsigned generation = detail::fork_generation();
    std::erase_if(f.all, [&](const std::shared_ptr<QueueCore::Local>& l) {
        if (l->generation != generation) return false;
        std::unique_lock lock(l->mutex, std::try_to_lock);
        if (!lock.owns_lock() || l->feeding) return false;
        if (l->feeder.joinable()) l->feeder.join();
        return true;
    });
}

}  // namespace

void join_ended_feeders() {
    auto& f = feeders();
    std::lock_guard lock(f.mutex);
    join_ended_feeders(f);
}

void remember_feeder(const std::shared_ptr<QueueCore::Local>& l) {
    static const bool registered = (detail::at_process_exit(&join_feeders_at_exit), true);
    (void)registered;
    auto& f = feeders();
    std::lock_guard lock(f.mutex);
    join_ended_feeders(f);
    if (std::find(f.all.begin(), f.all.end(), l) == f.all.end()) f.all.push_back(l);
}

ForkGuardedMutex& local_mutex() {
    static auto* m = new ForkGuardedMutex();
    return *m;
}

}  // namespace mproc::detail
