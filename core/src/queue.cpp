// Queues (see <mproc/queue.hpp>): a ring buffer in shared memory for small
// items, a pipe for large ones, and a per-process feeder thread for what
// cannot go into the ring at once.
//
// The ring is a byte stream of entries [u32 size][u32 kind][payload, padded
// to 8]; head and tail count bytes ever consumed and produced. Producers and
// consumers take turns under ring_lock. A "piped" entry says the next
// message on the pipe is this item: its producer holds pipe_wlock from adding
// the entry until the body is written, and its consumer takes pipe_rlock
// before it lets go of ring_lock, so bodies are read in entry order.
//
// `items` counts entries (a hint: a getter that waits long re-checks the
// ring itself, so a consumer killed between taking a unit and the entry
// cannot strand one); `space` wakes a feeder waiting for room; `sem` counts
// room under maxsize, as in Python (qsize = maxsize - its value).
#include <mproc/queue.hpp>

#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include <mproc/condition.hpp>
#include <mproc/connection.hpp>
#include <mproc/lock.hpp>
#include <mproc/plugin/backend.hpp>
#include <mproc/semaphore.hpp>
#include <mproc/shared_block.hpp>

#include "fork_guard.hpp"

namespace mproc::detail {

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t ring_capacity = 2 * 1024 * 1024;  // memfd pages: used only as touched
constexpr std::size_t max_inline = ring_capacity / 4;   // larger items go by pipe
constexpr std::uint32_t inline_entry = 0, piped_entry = 1;
constexpr auto recheck = std::chrono::milliseconds(100);

struct RingHeader {
    std::atomic<std::uint64_t> head;
    std::atomic<std::uint64_t> tail;
    std::atomic<std::int32_t> space_waiters;  // feeders asleep on `space`
    std::uint32_t capacity;
    alignas(64) std::atomic<std::int32_t> item_waiters;  // getters asleep on `items`
    std::atomic<std::int32_t> spin;                      // getters' adaptive spin budget
};

std::size_t padded(std::size_t n) {
    return (n + 7) & ~std::size_t(7);
}

// Forks so far in this process's line: a Local made before a fork is the
// parent's, not the child's.
std::atomic<unsigned> fork_generation{0};
[[maybe_unused]] const int registered_fork_count =
    ::pthread_atfork(nullptr, nullptr, [] { fork_generation.fetch_add(1); });

std::optional<Clock::time_point> deadline_of(bool block, Timeout timeout) {
    if (!block) return Clock::now();
    if (!timeout) return std::nullopt;
    auto d = std::chrono::duration_cast<Clock::duration>(*timeout);
    return Clock::now() + std::max(d, Clock::duration::zero());
}

// Time left until deadline (nullopt: none), never negative.
Timeout left(std::optional<Clock::time_point> deadline) {
    if (!deadline) return std::nullopt;
    return std::max(std::chrono::duration<double>(*deadline - Clock::now()),
                    std::chrono::duration<double>(0));
}

// Takes a lock; one abandoned by a dead process is taken over (the ring's
// state is only ever changed by single stores of head or tail after the
// copy, so it stays whole).
void take(SemLock& lock) {
    try {
        lock.acquire();
    } catch (const AbandonedLock&) {
    }
}

}  // namespace

struct QueueCore::Shared {
    Shared(const Context& ctx, int maxsize_)
        : maxsize(maxsize_ <= 0 ? INT_MAX : maxsize_),
          ring(SharedBlock::allocate(ctx.backend(), sizeof(RingHeader) + ring_capacity, 64)),
          ring_lock(ctx),
          items(ctx, 0),
          space(ctx, 0),
          sem(maxsize_ <= 0 ? Semaphore(ctx, INT_MAX) : BoundedSemaphore(ctx, maxsize_)),
          pipe_rlock(ctx),
          pipe_wlock(ctx) {
        auto [r, w] = ctx.Pipe(false);
        reader = std::move(r);
        writer = std::move(w);
        auto* h = new (ring.data()) RingHeader{};
        h->capacity = std::uint32_t(ring_capacity);
        h->spin.store(min_spin);
        prepare();
    }
    Shared(int maxsize_, SharedBlock ring_, Lock ring_lock_, Semaphore items_, Semaphore space_,
           Semaphore sem_, Connection reader_, Connection writer_, Lock rlock, Lock wlock)
        : maxsize(maxsize_),
          ring(std::move(ring_)),
          ring_lock(std::move(ring_lock_)),
          items(std::move(items_)),
          space(std::move(space_)),
          sem(std::move(sem_)),
          reader(std::move(reader_)),
          writer(std::move(writer_)),
          pipe_rlock(std::move(rlock)),
          pipe_wlock(std::move(wlock)) {
        prepare();
    }

    void prepare() {
        // Several processes take turns reading: no read-ahead.
        if (auto* impl = reader.impl()) impl->set_read_ahead(false);
    }

    RingHeader& header() const { return *reinterpret_cast<RingHeader*>(ring.data()); }
    std::byte* data() const { return ring.data() + sizeof(RingHeader); }

    void copy_in(std::uint64_t at, const void* src, std::size_t n) const {
        if (n == 0) return;  // src may be null
        std::size_t cap = header().capacity, off = std::size_t(at % cap);
        std::size_t first = std::min(n, cap - off);
        std::memcpy(data() + off, src, first);
        std::memcpy(data(), static_cast<const std::byte*>(src) + first, n - first);
    }
    void copy_out(std::uint64_t at, void* dst, std::size_t n) const {
        if (n == 0) return;
        std::size_t cap = header().capacity, off = std::size_t(at % cap);
        std::size_t first = std::min(n, cap - off);
        std::memcpy(dst, data() + off, first);
        std::memcpy(static_cast<std::byte*>(dst) + first, data(), n - first);
    }

    // Appends an entry if it fits (the caller holds ring_lock).
    bool append(std::uint32_t kind, std::span<const std::byte> payload) {
        auto& h = header();
        std::uint64_t tail = h.tail.load(std::memory_order_relaxed);
        std::uint64_t head = h.head.load(std::memory_order_acquire);
        std::size_t need = 8 + padded(payload.size());
        if (tail - head + need > h.capacity) return false;
        std::uint32_t word[2] = {std::uint32_t(payload.size()), kind};
        copy_in(tail, word, 8);
        copy_in(tail + 8, payload.data(), payload.size());
        h.tail.store(tail + need, std::memory_order_release);
        return true;
    }

    // Puts one small item into the ring if there is room now.
    bool try_put_inline(std::span<const std::byte> message) {
        take(ring_lock);
        bool ok = append(inline_entry, message);
        ring_lock.release();
        if (ok) wake_getter();
        return ok;
    }

    // A getter that found the ring empty registers in item_waiters, looks
    // again, then sleeps on `items`; a producer wakes one only if some
    // registered (seq_cst on both sides: one of them sees the other).
    void wake_getter() {
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (header().item_waiters.load(std::memory_order_seq_cst) > 0) items.release();
    }

    // Puts one large item: an entry in the ring, then its body on the pipe.
    void put_piped(std::span<const std::byte> message) {
        take(pipe_wlock);
        try {
            for (;;) {
                take(ring_lock);
                bool ok = append(piped_entry, {});
                ring_lock.release();
                if (ok) break;
                wait_for_space();
            }
            wake_getter();
            writer.send_bytes(message);
        } catch (...) {
            pipe_wlock.release();
            throw;
        }
        pipe_wlock.release();
    }

    void wait_for_space() {
        auto& h = header();
        h.space_waiters.fetch_add(1, std::memory_order_seq_cst);
        (void)space.acquire(true, recheck);
        h.space_waiters.fetch_sub(1, std::memory_order_relaxed);
    }

    // Takes the oldest entry into out (the caller holds ring_lock; the ring
    // is not empty). A piped one is read from the pipe. Releases ring_lock.
    std::span<const std::byte> take_entry(std::vector<std::byte>& out) {
        auto& h = header();
        std::uint64_t head = h.head.load(std::memory_order_relaxed);
        std::uint32_t word[2];
        copy_out(head, word, 8);
        std::size_t size = word[0];
        if (word[1] == inline_entry) {
            if (out.size() < size) out.resize(size);  // grows only: no clearing per item
            copy_out(head + 8, out.data(), size);
            h.head.store(head + 8 + padded(word[0]), std::memory_order_release);
            ring_lock.release();
        } else {
            take(pipe_rlock);  // before the next consumer may take the next entry
            h.head.store(head + 8, std::memory_order_release);
            ring_lock.release();
            try {
                out = reader.recv_bytes();
                size = out.size();
            } catch (...) {
                pipe_rlock.release();
                throw;
            }
            pipe_rlock.release();
        }
        // Wake a waiting feeder once half the ring is free (not for every
        // entry: it then writes many at once).
        if (h.space_waiters.load(std::memory_order_seq_cst) > 0 &&
            (h.tail.load(std::memory_order_relaxed) - h.head.load(std::memory_order_relaxed)) * 2 <=
                h.capacity)
            space.release();
        return {out.data(), size};
    }

    // Spins a little for an entry before sleeping: a bounded, adaptive
    // number of looks (more after spins that paid off, fewer after ones that
    // did not; none on a single CPU).
    bool spin_for_entry() const {
        static const bool many_cpus = std::thread::hardware_concurrency() > 1;
        if (!many_cpus) return false;
        auto& h = header();
        int budget = h.spin.load(std::memory_order_relaxed);
        for (int i = 0; i < budget; ++i) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
            if (!ring_empty()) {
                if (budget < max_spin)
                    h.spin.store(std::min(max_spin, budget * 2 + 16), std::memory_order_relaxed);
                return true;
            }
        }
        h.spin.store(std::max(min_spin, budget / 2), std::memory_order_relaxed);
        return false;
    }
    static constexpr int min_spin = 200, max_spin = 20000;

    bool ring_empty() const {
        auto& h = header();
        return h.head.load(std::memory_order_acquire) == h.tail.load(std::memory_order_acquire);
    }

    int maxsize;
    SharedBlock ring;
    Lock ring_lock;
    Semaphore items;
    Semaphore space;
    Semaphore sem;
    Connection reader, writer;
    Lock pipe_rlock, pipe_wlock;
    // JoinableQueue only.
    std::optional<Semaphore> unfinished;
    std::optional<Condition> cond;
};

// What one process knows of a queue: its feeder and what waits for it.
struct QueueCore::Local {
    unsigned generation = fork_generation.load();
    std::mutex mutex;
    std::condition_variable wake;
    std::deque<std::vector<std::byte>> buffer;  // waiting for the feeder
    std::size_t in_flight = 0;                  // taken by the feeder, not yet written
    std::thread feeder;
    bool feeding = false;  // the feeder thread runs
    bool closed = false;
    bool cancel_join = false;
    std::exception_ptr failure;  // of the feeder, thrown by the next put

    // Feeds the buffer into the queue until it is empty, then ends. Takes
    // what is buffered in batches: small items go into the ring as many at
    // a time as fit under one hold of ring_lock.
    void feed(std::shared_ptr<Shared> shared) {
        std::unique_lock lock(mutex);
        std::deque<std::vector<std::byte>> batch;
        while (!buffer.empty()) {
            batch.swap(buffer);
            in_flight = batch.size();
            lock.unlock();
            try {
                write(*shared, batch);
            } catch (...) {
                lock.lock();
                failure = std::current_exception();
                buffer.clear();
                break;
            }
            lock.lock();
            batch.clear();
        }
        in_flight = 0;
        feeding = false;
        wake.notify_all();
    }

    static void write(Shared& s, std::deque<std::vector<std::byte>>& batch) {
        std::size_t i = 0;
        while (i < batch.size()) {
            if (batch[i].size() > max_inline) {
                s.put_piped(batch[i++]);
                continue;
            }
            take(s.ring_lock);
            std::size_t first = i;
            while (i < batch.size() && batch[i].size() <= max_inline &&
                   s.append(inline_entry, batch[i]))
                ++i;
            s.ring_lock.release();
            if (i > first)
                s.wake_getter();
            else
                s.wait_for_space();
        }
    }
};

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
    unsigned generation = fork_generation.load();
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

// Joins feeders that have ended (a finished thread keeps its stack until
// joined) and forgets them.
void join_ended_feeders(Feeders& f) {
    unsigned generation = fork_generation.load();
    std::erase_if(f.all, [&](const std::shared_ptr<QueueCore::Local>& l) {
        if (l->generation != generation) return false;
        std::unique_lock lock(l->mutex, std::try_to_lock);
        if (!lock.owns_lock() || l->feeding) return false;
        if (l->feeder.joinable()) l->feeder.join();
        return true;
    });
}

void remember_feeder(const std::shared_ptr<QueueCore::Local>& l) {
    static std::once_flag once;
    std::call_once(once, [] { plugin::at_process_exit(&join_feeders_at_exit); });
    auto& f = feeders();
    std::lock_guard lock(f.mutex);
    join_ended_feeders(f);
    if (std::find(f.all.begin(), f.all.end(), l) == f.all.end()) f.all.push_back(l);
}

ForkGuardedMutex& local_mutex() {
    static auto* m = new ForkGuardedMutex();
    return *m;
}

}  // namespace

QueueCore::QueueCore(const Context& ctx, int maxsize)
    : shared_(std::make_shared<Shared>(ctx, maxsize)) {}

QueueCore::QueueCore(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}

QueueCore::~QueueCore() {
    // A feeder still writing goes on (it holds what it needs) and is joined
    // at exit; one that has ended is joined now.
    if (local_ == nullptr || local_->generation != fork_generation.load()) return;
    auto& f = feeders();
    std::lock_guard lock(f.mutex);
    join_ended_feeders(f);
}

QueueCore::Local& QueueCore::local() const {
    auto* l = local_ptr_.load(std::memory_order_acquire);
    if (l != nullptr && l->generation == fork_generation.load(std::memory_order_relaxed)) return *l;
    std::lock_guard lock(local_mutex());
    if (!local_ || local_->generation != fork_generation.load()) {
        // Made anew in a fork child: the parent's (its feeder) stays the parent's.
        if (local_) (void)new std::shared_ptr<Local>(std::move(local_));  // never destroyed here
        local_ = std::make_shared<Local>();
        local_ptr_.store(local_.get(), std::memory_order_release);
    }
    return *local_;
}

void QueueCore::put(std::span<const std::byte> message, bool block, Timeout timeout) {
    auto& l = local();
    if (l.closed) throw ValueError("put() on a closed Queue");
    if (!shared_->sem.acquire(block, timeout)) throw Full("the Queue is full");
    std::unique_lock lock(l.mutex);
    if (l.failure) {
        shared_->sem.release();
        std::rethrow_exception(std::exchange(l.failure, nullptr));
    }
    // The fast path keeps each producer's order: only when nothing waits in
    // the buffer.
    if (l.buffer.empty() && l.in_flight == 0 && message.size() <= max_inline &&
        shared_->try_put_inline(message)) {
        if (shared_->unfinished) shared_->unfinished->release();
        return;
    }
    l.buffer.emplace_back(message.begin(), message.end());
    if (shared_->unfinished) shared_->unfinished->release();
    if (!l.feeding) {
        if (l.feeder.joinable()) l.feeder.join();  // an earlier one, ended
        l.feeding = true;
        l.feeder = std::thread(&Local::feed, local_.get(), shared_);
        lock.unlock();
        remember_feeder(local_);
    }
}

std::span<const std::byte> QueueCore::get(bool block, Timeout timeout) {
    thread_local std::vector<std::byte> buffer;
    if (local().closed) throw ValueError("get() on a closed Queue");
    auto& s = *shared_;
    auto deadline = deadline_of(block, timeout);
    for (;;) {
        if (s.ring_empty() && !s.spin_for_entry()) {
            // Sleep until a producer wakes us, looking at the ring again at
            // least every `recheck`.
            auto& h = s.header();
            h.item_waiters.fetch_add(1, std::memory_order_seq_cst);
            while (s.ring_empty()) {
                Timeout wait = left(deadline);
                if (!wait || *wait > recheck) wait = recheck;
                (void)s.items.acquire(true, wait);
                if (deadline && Clock::now() >= *deadline && s.ring_empty()) {
                    h.item_waiters.fetch_sub(1, std::memory_order_relaxed);
                    throw Empty("the Queue is empty");
                }
            }
            h.item_waiters.fetch_sub(1, std::memory_order_relaxed);
        }
        take(s.ring_lock);
        if (s.ring_empty()) {
            s.ring_lock.release();  // another getter took it
            if (deadline && Clock::now() >= *deadline) throw Empty("the Queue is empty");
            continue;
        }
        auto out = s.take_entry(buffer);
        s.sem.release();
        return out;
    }
}

int QueueCore::qsize() const {
    return shared_->maxsize - shared_->sem.get_value();
}

bool QueueCore::empty() const {
    return shared_->ring_empty();
}

bool QueueCore::full() const {
    return shared_->sem.get_value() == 0;
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
    e.begin_array(12);
    e.write_int(s.maxsize);
    mproc::encode(e, s.ring);
    mproc::encode(e, s.ring_lock);
    mproc::encode(e, s.items);
    mproc::encode(e, s.space);
    mproc::encode(e, s.sem);
    mproc::encode(e, s.reader);
    mproc::encode(e, s.writer);
    mproc::encode(e, s.pipe_rlock);
    mproc::encode(e, s.pipe_wlock);
    mproc::encode(e, s.unfinished);
    mproc::encode(e, s.cond);
}

std::shared_ptr<QueueCore> QueueCore::decode(Decoder& d) {
    if (d.read_array() != 12) throw SerializationError("a Queue is an array of 12 items");
    int maxsize = int(d.read_int());
    auto ring = mproc::decode<SharedBlock>(d);
    if (ring.size() < sizeof(RingHeader) + ring_capacity)
        throw SerializationError("a Queue's ring is too small");
    auto ring_lock = mproc::decode<Lock>(d);
    auto items = mproc::decode<Semaphore>(d);
    auto space = mproc::decode<Semaphore>(d);
    auto sem = mproc::decode<Semaphore>(d);
    auto reader = mproc::decode<Connection>(d);
    auto writer = mproc::decode<Connection>(d);
    auto rlock = mproc::decode<Lock>(d);
    auto wlock = mproc::decode<Lock>(d);
    auto shared = std::make_shared<Shared>(
        maxsize, std::move(ring), std::move(ring_lock), std::move(items), std::move(space),
        std::move(sem), std::move(reader), std::move(writer), std::move(rlock), std::move(wlock));
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
