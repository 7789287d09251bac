// Queues (see <mproc/queue.hpp>): a ring buffer in shared memory
// (ring.hpp), and a per-process feeder thread (feeder.hpp) for what cannot
// go into the ring at once.
#include <mproc/queue.hpp>

#include <algorithm>
#include <climits>
#include <optional>
#include <utility>

#include <fmt/format.h>

#include <mproc/condition.hpp>
#include <mproc/lock.hpp>
#include <mproc/semaphore.hpp>
#include <mproc/shared_block.hpp>

#include "queue/feeder.hpp"
#include "queue/ring.hpp"

namespace mproc::detail {

QueueCore::QueueCore(const Context& ctx, int maxsize)
    : shared_(std::make_shared<Shared>(ctx, maxsize)) {}

QueueCore::QueueCore(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}

QueueCore::~QueueCore() {
    // A feeder still writing goes on (it holds what it needs) and is joined
    // at exit; one that has ended is joined now.
    if (local_ == nullptr || local_->generation != detail::fork_generation()) return;
    join_ended_feeders();
}

QueueCore::Local& QueueCore::local() const {
    auto* l = local_ptr_.load(std::memory_order_acquire);
    if (l != nullptr && l->generation == detail::fork_generation()) return *l;
    std::lock_guard lock(local_mutex());
    if (!local_ || local_->generation != detail::fork_generation()) {
        // Made anew in a fork child: the parent's (its feeder) stays the parent's.
        if (local_) (void)new std::shared_ptr<Local>(std::move(local_));  // never destroyed here
        local_ = std::make_shared<Local>();
        local_ptr_.store(local_.get(), std::memory_order_release);
    }
    return *local_;
}

namespace {

// Python's text: "Queue <multiprocessing.queues.Queue object at 0x7f...> is closed".
[[noreturn]] void throw_closed(const QueueCore* q) {
    throw ClosedError(fmt::format("Queue <mproc::Queue object at {}> is closed", fmt::ptr(q)));
}

}  // namespace

void QueueCore::put(std::span<const std::byte> message, bool block, Timeout timeout) {
    auto& l = local();
    if (l.closed) throw_closed(this);
    auto& s = *shared_;
    if (s.shut() != open) throw ShutDown("put() on a Queue that was shut down");
    if (s.bounded() && !s.sem.acquire(false)) {
        auto deadline = deadline_of(block, timeout);
        for (;;) {
            // Naps of at most `recheck`, so that a shutdown wakes a blocked put.
            Timeout wait = left(deadline);
            if (!wait || *wait > recheck) wait = recheck;
            if (s.sem.acquire(true, wait)) break;
            if (s.shut() != open) throw ShutDown("put() on a Queue that was shut down");
            if (deadline && Clock::now() >= *deadline) throw Full("the Queue is full");
        }
        if (s.shut() != open) {
            s.sem.release();
            throw ShutDown("put() on a Queue that was shut down");
        }
    }
    // The fast path keeps each thread's order: only when nothing of this
    // process waits in the buffer or the feeder (items of other threads may
    // be, and need not come first).
    if (!l.backlog.load(std::memory_order_acquire) && message.size() <= max_whole &&
        s.try_put_whole(message)) {
        if (s.unfinished) s.unfinished->release();
        return;
    }
    std::unique_lock lock(l.mutex);
    if (l.failure) {
        if (s.bounded()) s.sem.release();
        auto failure = std::exchange(l.failure, nullptr);
        l.note_backlog();
        std::rethrow_exception(failure);
    }
    l.flush_buffer(s);
    if (l.buffer.empty() && l.in_flight == 0 && message.size() <= max_whole &&
        s.try_put_whole(message)) {
        if (s.unfinished) s.unfinished->release();
        return;
    }
    l.buffer.emplace_back(message.begin(), message.end());
    l.note_backlog();
    s.header().buffered.fetch_add(1, std::memory_order_relaxed);
    if (s.unfinished) s.unfinished->release();
    if (!l.feeding) {
        if (l.feeder.joinable()) l.feeder.join();  // an earlier one, ended
        l.feeding = true;
        l.feeder = std::thread(&Local::feed, local_.get(), shared_);
        lock.unlock();
        remember_feeder(local_);
    }
}

std::span<const std::byte> QueueCore::get(bool block, Timeout timeout) {
    auto message = try_get(block, timeout);
    if (!message) throw Empty("the Queue is empty");
    return *message;
}

std::optional<std::span<const std::byte>> QueueCore::try_get(bool block, Timeout timeout) {
    thread_local std::vector<std::byte> buffer;
    if (local().closed) throw_closed(this);
    auto& s = *shared_;
    auto deadline = deadline_of(block, timeout);
    for (;;) {
        if (auto shut = s.shut(); shut != open) {
            // Python: ShutDown once shut down immediately, or shut down and
            // empty (items still on their way from a feeder count).
            if (shut == immediate ||
                (s.ring_empty() && s.header().buffered.load(std::memory_order_acquire) == 0))
                throw ShutDown("get() on a Queue that was shut down");
        }
        // Once shut down (but not yet empty of what feeders still bring),
        // wait in short naps so that the checks above decide again.
        bool shut = s.shut() != open;
        auto until = deadline;
        if (shut) {
            auto nap = Clock::now() + first_nap;
            if (!until || *until > nap) until = nap;
        }
        if (!s.wait_for_entry(until, !shut)) {
            if (s.shut() != open && !(deadline && Clock::now() >= *deadline)) continue;
            return std::nullopt;
        }
        take(s.get_lock);
        std::size_t size = 0;
        bool got = false;
        try {
            got = s.take_item(buffer, size);
        } catch (...) {
            s.get_lock.release();
            throw;
        }
        s.get_lock.release();
        if (got) {
            if (s.bounded()) s.sem.release();
            return std::span<const std::byte>(buffer.data(), size);
        }
        // Another getter took it, or an unfinished item was dropped.
        if (deadline && Clock::now() >= *deadline) return std::nullopt;
    }
}

int QueueCore::qsize() const {
    auto& s = *shared_;
    if (s.bounded()) return s.maxsize - s.sem.get_value();
    auto& h = s.header();
    auto got = h.got.load(std::memory_order_relaxed);
    auto put =
        h.appended.load(std::memory_order_relaxed) + h.buffered.load(std::memory_order_relaxed);
    return put > got ? int(std::min<std::uint64_t>(put - got, INT_MAX)) : 0;
}

bool QueueCore::closed() const {
    return local().closed;
}

bool QueueCore::is_shutdown() const {
    return shared_->shut() != open;
}

void QueueCore::shutdown(bool now) {
    auto& s = *shared_;
    auto& h = s.header();
    std::uint32_t want = now ? immediate : draining;
    std::uint32_t was = h.shut.load(std::memory_order_acquire);
    while (was < want && !h.shut.compare_exchange_weak(was, want, std::memory_order_acq_rel)) {
    }
    if (now) {
        // Drop what is in the ring; a JoinableQueue counts each dropped item
        // done (Python's shutdown(immediate=True)). Feeders look at `shut`
        // under put_lock: once this thread has had put_lock, every item is
        // either in the ring (and drained below) or dropped by its feeder. A
        // large item being put is drained as it comes (which gives its
        // producer room to finish).
        std::size_t dropped = 0;
        auto drain = [&] {
            thread_local std::vector<std::byte> buffer;
            std::size_t size = 0;
            take(s.get_lock);
            try {
                while (s.take_item(buffer, size)) {
                    ++dropped;
                    if (s.bounded()) s.sem.release();
                }
            } catch (...) {
                s.get_lock.release();
                throw;
            }
            s.get_lock.release();
        };
        for (;;) {
            drain();
            if (try_take(s.put_lock, std::chrono::milliseconds(10))) {
                s.put_lock.release();
                drain();
                break;
            }
        }
        drop_tasks(s, dropped);
    }
    s.wake_all_getters();
}

bool QueueCore::empty() const {
    return shared_->ring_empty();
}

bool QueueCore::full() const {
    return shared_->bounded() && shared_->sem.get_value() == 0;
}

void QueueCore::close() {
    auto& l = local();
    std::lock_guard lock(l.mutex);
    l.closed = true;
}

void QueueCore::join_thread() {
    auto& l = local();
    std::unique_lock lock(l.mutex);
    if (!l.closed) throw ValueError("join_thread() before close()");
    l.wake.wait(lock, [&] { return !l.feeding; });
    if (l.feeder.joinable()) l.feeder.join();
}

void QueueCore::cancel_join_thread() {
    auto& l = local();
    std::lock_guard lock(l.mutex);
    l.cancel_join = true;
}

void QueueCore::enable_tasks() {
    auto ctx = Context(shared_->ring.backend());
    shared_->unfinished.emplace(ctx, 0);
    shared_->cond.emplace(Lock(ctx));
}

void drop_tasks(QueueCore::Shared& s, std::size_t n) {
    if (n == 0 || !s.unfinished) return;
    std::lock_guard g(*s.cond);
    for (; n > 0; --n) (void)s.unfinished->acquire(false);
    if (s.unfinished->get_value() == 0) s.cond->notify_all();
}

void QueueCore::task_done() {
    auto& s = *shared_;
    std::lock_guard g(*s.cond);
    if (!s.unfinished->acquire(false)) throw ValueError("task_done() called too many times");
    if (s.unfinished->get_value() == 0) s.cond->notify_all();
}

void QueueCore::join() {
    auto& s = *shared_;
    std::lock_guard g(*s.cond);
    while (s.unfinished->get_value() != 0) s.cond->wait();
}

void QueueCore::encode(Encoder& e, const std::shared_ptr<QueueCore>& q) {
    auto& s = *q->shared_;
    e.begin_array(9);
    e.write_int(s.maxsize);
    mproc::encode(e, s.ring);
    mproc::encode(e, s.put_lock);
    mproc::encode(e, s.get_lock);
    mproc::encode(e, s.items);
    mproc::encode(e, s.space);
    mproc::encode(e, s.sem);
    mproc::encode(e, s.unfinished);
    mproc::encode(e, s.cond);
}

std::shared_ptr<QueueCore> QueueCore::decode(Decoder& d) {
    if (d.read_array() != 9) throw SerializationError("a Queue is an array of 9 items");
    int maxsize = int(d.read_int());
    auto ring = mproc::decode<SharedBlock>(d);
    if (ring.size() < sizeof(RingHeader) + ring_capacity)
        throw SerializationError("a Queue's ring is too small");
    auto put_lock = mproc::decode<Lock>(d);
    auto get_lock = mproc::decode<Lock>(d);
    auto items = mproc::decode<Semaphore>(d);
    auto space = mproc::decode<Semaphore>(d);
    auto sem = mproc::decode<Semaphore>(d);
    auto shared =
        std::make_shared<Shared>(maxsize, std::move(ring), std::move(put_lock), std::move(get_lock),
                                 std::move(items), std::move(space), std::move(sem));
    shared->unfinished = mproc::decode<std::optional<Semaphore>>(d);
    shared->cond = mproc::decode<std::optional<Condition>>(d);
    return std::make_shared<QueueCore>(std::move(shared));
}

Encoder& thread_encoder() {
    thread_local auto e = default_serializer().make_encoder();
    return *e;
}

Decoder& thread_decoder(std::span<const std::byte> message) {
    thread_local auto d = default_serializer().make_decoder();
    d->reset(message);
    return *d;
}

}  // namespace mproc::detail