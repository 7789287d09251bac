// A Queue's ring (internal to core/src/queue): a byte stream of entries in
// shared memory that producers and consumers take turns on, with the
// semaphores that wake them. Used by queue.cpp (put/get) and feeder.cpp.
//
// The ring is a byte stream of entries [u32 size][u32 kind][payload, padded
// to 8]; head and tail count bytes ever consumed and produced. Producers take
// turns under put_lock and consumers under get_lock, so a producer and a
// consumer never wait for each other: the producer publishes an entry by
// storing tail after it, the consumer frees one by storing head after it.
//
// An item larger than max_whole crosses as a `first` entry (which also
// carries the item's total size) and `middle` ones up to a `last`: its
// producer holds put_lock and its consumer get_lock from the first chunk to
// the last, so the chunks of one item are consecutive and read by one
// consumer. A consumer killed in the middle of an item leaves the rest of it
// in the ring: whoever comes next skips chunks of an item it did not start.
// A producer killed in the middle of an item leaves it unfinished: its
// consumer drops it once another producer takes put_lock over, or once it
// finds put_lock free.
//
// `items` wakes getters asleep on an empty ring (a hint: a getter that waits
// long re-checks the ring itself); `space` wakes a producer waiting for room;
// for a bounded queue `sem` counts room under maxsize, as in Python (qsize =
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <deque>
#include <optional>
#include <span>
#include <thread>
#include <vector>

#include <mproc/condition.hpp>
#include <mproc/lock.hpp>
#include <mproc/queue.hpp>
#include <mproc/semaphore.hpp>
#include <mproc/shared_block.hpp>

namespace mproc::detail {
using Clock = std::chrono::steady_clock;  // (internal to core/src/queue)

constexpr std::size_t ring_capacity = 2 * 1024 * 1024;  // memfd pages: used only as touched
constexpr std::size_t max_whole = ring_capacity / 8;    // larger items cross in chunks
constexpr std::size_t entry_header = 8, first_header = 16;
enum EntryKind : std::uint32_t { whole = 0, first = 1, middle = 2, last = 3 };
/// RingHeader::shut: open, shutdown(false), shutdown(true).
enum Shutdown : std::uint32_t { open = 0, draining = 1, immediate = 2 };
// Sleepers look again after first_nap, then after naps doubling up to recheck.
constexpr auto first_nap = std::chrono::milliseconds(1);
constexpr auto recheck = std::chrono::milliseconds(100);

struct RingHeader {
    // Producers' line (tail written under put_lock).
    alignas(64) std::atomic<std::uint64_t> tail;
    std::atomic<std::uint64_t> appended;  // unbounded queues: items put into the ring
    std::uint64_t head_seen;              // a recent head (under put_lock)
    std::atomic<std::int32_t> put_spin;   // producers' adaptive spin budget
    // Consumers' line (head written under get_lock).
    alignas(64) std::atomic<std::uint64_t> head;
    std::atomic<std::uint64_t> got;  // unbounded queues: items got (under get_lock)
    // Buffered by feeders, not yet in the ring (any producer, any time).
    alignas(64) std::atomic<std::uint64_t> buffered;
    // Sleepers' line.
    alignas(64) std::atomic<std::int32_t> item_waiters;  // getters asleep on `items`
    std::atomic<std::int32_t> space_waiters;             // producers asleep on `space`
    std::atomic<std::int32_t> get_spin;                  // getters' adaptive spin budget
    std::atomic<std::uint32_t> shut;                     // a Shutdown value
    std::uint32_t capacity;
};

inline std::size_t padded(std::size_t n) {
    return (n + 7) & ~std::size_t(7);
}

// Bytes of an entry's header: a first entry also carries the item's size.
inline std::size_t header_size(EntryKind kind) {
    return kind == first ? first_header : entry_header;
}

// Bytes an entry of this kind with a payload of n bytes takes in the ring.
inline std::size_t entry_size(EntryKind kind, std::size_t n) {
    return header_size(kind) + padded(n);
}

/// The deadline of a call that blocks (or not) up to timeout.
std::optional<Clock::time_point> deadline_of(bool block, Timeout timeout);
/// Time left until deadline (nullopt: none), never negative.
Timeout left(std::optional<Clock::time_point> deadline);
/// Takes a lock; one abandoned by a dead process is taken over (the ring's
/// state is only ever changed by single stores of head or tail after the
/// copy, so it stays whole). True if it was abandoned.
bool take(SemLock& lock);
/// Takes a lock if it is free now, or within timeout (abandoned locks are
/// found out only by waiting a little).
bool try_take(SemLock& lock, Timeout timeout = std::nullopt);

/// The state every process that uses a queue shares.
struct QueueCore::Shared {
    Shared(const Context& ctx, int maxsize_)
        : maxsize(maxsize_ <= 0 ? 0 : maxsize_),
          ring(SharedBlock::allocate(ctx.backend(), sizeof(RingHeader) + ring_capacity, 64)),
          put_lock(ctx),
          get_lock(ctx),
          items(ctx, 0),
          space(ctx, 0),
          sem(maxsize_ <= 0 ? Semaphore(ctx, 0) : BoundedSemaphore(ctx, maxsize_)) {
        auto* h = new (ring.data()) RingHeader{};
        h->capacity = std::uint32_t(ring_capacity);
    }
    Shared(int maxsize_, SharedBlock ring_, Lock put_lock_, Lock get_lock_, Semaphore items_,
           Semaphore space_, Semaphore sem_)
        : maxsize(maxsize_),
          ring(std::move(ring_)),
          put_lock(std::move(put_lock_)),
          get_lock(std::move(get_lock_)),
          items(std::move(items_)),
          space(std::move(space_)),
          sem(std::move(sem_)) {}

    bool bounded() const { return maxsize > 0; }
    Shutdown shut() const { return Shutdown(header().shut.load(std::memory_order_acquire)); }
    /// Wakes every getter asleep on `items` (after a shutdown).
    void wake_all_getters() {
        for (auto n = header().item_waiters.load(std::memory_order_seq_cst); n > 0; --n)
            items.release();
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

    // ------------------------------------------------------------ producers

    // Bytes free in the ring for tail (the caller holds put_lock); looks at
    // head, a consumer's line, only when the last look is not enough.
    std::size_t room(std::uint64_t tail, std::size_t need) const {
        auto& h = header();
        if (tail - h.head_seen + need > h.capacity)
            h.head_seen = h.head.load(std::memory_order_acquire);
        return h.capacity - std::size_t(tail - h.head_seen);
    }

    // Appends an entry if it fits (the caller holds put_lock). A first
    // entry's payload follows the item's total size.
    bool append(EntryKind kind, std::span<const std::byte> payload, std::uint64_t total = 0) {
        auto& h = header();
        std::uint64_t tail = h.tail.load(std::memory_order_relaxed);
        std::size_t need = entry_size(kind, payload.size());
        if (room(tail, need) < need) return false;
        std::size_t head_size = header_size(kind);
        std::uint32_t word[4] = {std::uint32_t(payload.size()), kind, std::uint32_t(total),
                                 std::uint32_t(total >> 32)};
        copy_in(tail, word, head_size);
        copy_in(tail + head_size, payload.data(), payload.size());
        if (kind == whole || kind == first)  // only producers write it, under put_lock
            h.appended.store(h.appended.load(std::memory_order_relaxed) + 1,
                             std::memory_order_relaxed);
        h.tail.store(tail + need, std::memory_order_release);
        // Ask for the next entry's cache lines now, so that the next put does
        // not stall for them (they are likely in a consumer's cache).
        std::size_t next = std::size_t((tail + need) % h.capacity);
        for (std::size_t off = 0; off < 512 && next + off < h.capacity; off += 64)
            __builtin_prefetch(data() + next + off, 1);
        return true;
    }

    // Puts one item of at most max_whole bytes if put_lock is free and the
    // ring has room now.
    bool try_put_whole(std::span<const std::byte> message) {
        for (bool spun = false;; spun = true) {
            if (!try_take(put_lock)) return false;
            bool ok = append(whole, message);
            put_lock.release();
            if (ok) {
                wake_getter();
                return true;
            }
            // Full: a consumer that is busy frees room within moments, and a
            // short wait costs less than handing the item to the feeder.
            if (spun || !spin_for_room(entry_size(whole, message.size()))) return false;
        }
    }

    // Spins a little for need bytes of room (see spin_for_entry), and some
    // more: a producer that writes as soon as one entry is free works on the
    // cache lines the consumer reads, and both slow down.
    bool spin_for_room(std::size_t need) const {
        auto& h = header();
        return spin(h.put_spin, [&] { return has_room(need + h.capacity / 16); });
    }

    // True if need bytes are free now (read without put_lock: a hint).
    bool has_room(std::size_t need) const {
        auto& h = header();
        return h.tail.load(std::memory_order_relaxed) - h.head.load(std::memory_order_acquire) +
                   need <=
               h.capacity;
    }

    // Moves items from the front of a buffer into the ring, as many small
    // ones as fit now (the caller holds put_lock); returns how many.
    std::size_t append_buffered(std::deque<std::vector<std::byte>>& items) {
        std::size_t n = 0;
        while (!items.empty() && items.front().size() <= max_whole &&
               append(whole, items.front())) {
            items.pop_front();
            ++n;
        }
        return n;
    }

    // Counts n buffered items as written, and wakes a getter for them.
    void buffered_written(std::size_t n) {
        header().buffered.fetch_sub(n, std::memory_order_relaxed);
        wake_getter();
    }

    // Puts one large item in chunks, waiting for room between them (the
    // caller holds put_lock).
    void put_chunked(std::span<const std::byte> message) {
        std::size_t done = 0;
        while (done < message.size()) {
            std::size_t n = std::min(max_whole, message.size() - done);
            EntryKind kind = done == 0 ? first : done + n == message.size() ? last : middle;
            if (append(kind, message.subspan(done, n), message.size())) {
                done += n;
                wake_getter();
            } else {
                wait_for_space(entry_size(kind, n));
            }
        }
    }

    // A getter that found the ring empty registers in item_waiters, looks
    // again, then sleeps on `items`; a producer wakes one only if more
    // registered than wake-ups are pending. Not one per item: a sleeper takes
    // a while to wake, and meanwhile each wake-up would cost the producer a
    // system call.
    //
    // No fence here, on the path of every item: the producer's load of
    // item_waiters may pass its store of tail, and so miss a getter that
    // registered in that instant (and did not see the item either). Such a
    // getter only naps (first_nap) before it looks again, and the same holds
    // for producers waiting for space.
    void wake_getter() { wake_one(items, header().item_waiters); }
    static void wake_one(Semaphore& sem, const std::atomic<std::int32_t>& waiters) {
        std::int32_t n = waiters.load(std::memory_order_relaxed);
        if (n > 0 && sem.get_value() < n) sem.release();
    }

    // Sleeps until need bytes are free (the caller holds put_lock or not).
    void wait_for_space(std::size_t need) {
        auto& h = header();
        h.space_waiters.fetch_add(1, std::memory_order_seq_cst);
        Clock::duration nap = first_nap;
        while (!has_room(need)) {
            if (space.acquire(true, nap)) continue;
            nap = std::min<Clock::duration>(nap * 2, recheck);
        }
        h.space_waiters.fetch_sub(1, std::memory_order_relaxed);
    }

    // ------------------------------------------------------------ consumers

    struct Entry {
        EntryKind kind;
        std::size_t size;     // of this entry's payload
        std::uint64_t total;  // first: of the whole item
        std::uint64_t at;     // where its payload starts
        std::uint64_t end;    // where the next entry starts
    };

    // The entry at head (the caller holds get_lock; the ring is not empty).
    Entry peek() const {
        std::uint64_t head = header().head.load(std::memory_order_relaxed);
        std::uint32_t word[4];
        copy_out(head, word, entry_header);
        Entry e{EntryKind(word[1]), word[0], 0, head + entry_header, 0};
        if (e.kind == first) {
            copy_out(head + entry_header, word + 2, 8);
            e.total = std::uint64_t(word[2]) | std::uint64_t(word[3]) << 32;
            e.at += 8;
        }
        e.end = e.at + padded(e.size);
        return e;
    }

    // Frees the entry ending at end (the caller holds get_lock) and wakes a
    // waiting producer once half the ring is free (not for every entry: it
    // then writes many at once).
    void consume(std::uint64_t end) {
        auto& h = header();
        h.head.store(end, std::memory_order_release);
        if (h.space_waiters.load(std::memory_order_relaxed) > 0 &&
            (h.tail.load(std::memory_order_relaxed) - end) * 2 <= h.capacity)
            wake_one(space, h.space_waiters);
    }

    bool ring_empty() const {
        auto& h = header();
        return h.head.load(std::memory_order_acquire) == h.tail.load(std::memory_order_acquire);
    }

    // Spins a little for an entry before sleeping: a bounded, adaptive
    // number of looks (more after spins that paid off, fewer after ones that
    // did not; none on a single CPU).
    bool spin_for_entry() const {
        return spin(header().get_spin, [&] { return !ring_empty(); });
    }

    template <class Ready>
    static bool spin(std::atomic<std::int32_t>& budget_word, Ready ready) {
        static const bool many_cpus = std::thread::hardware_concurrency() > 1;
        if (!many_cpus) return false;
        int budget = std::clamp(budget_word.load(std::memory_order_relaxed), min_spin, max_spin);
        for (int i = 0; i < budget; ++i) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
            if (ready()) {
                if (budget < max_spin)
                    budget_word.store(std::min(max_spin, budget * 2), std::memory_order_relaxed);
                return true;
            }
        }
        budget_word.store(std::max(min_spin, budget / 2), std::memory_order_relaxed);
        return false;
    }
    static constexpr int min_spin = 500, max_spin = 20000;

    // Waits until the ring holds an entry or deadline passes (false); with
    // stop_on_shutdown, also returns (false if empty) once shut down.
    bool wait_for_entry(std::optional<Clock::time_point> deadline, bool stop_on_shutdown = false) {
        if (!ring_empty()) return true;
        if (deadline && Clock::now() >= *deadline) return false;
        if (spin_for_entry()) return true;
        // Sleep until a producer wakes us, looking at the ring again after
        // naps from first_nap doubling up to `recheck`.
        auto& h = header();
        h.item_waiters.fetch_add(1, std::memory_order_seq_cst);
        bool got = true;
        std::chrono::duration<double> nap = first_nap;
        while (ring_empty()) {
            if (stop_on_shutdown && shut() != open) {
                got = false;
                break;
            }
            Timeout wait = left(deadline);
            if (!wait || *wait > nap) wait = nap;
            if (!items.acquire(true, wait))
                nap = std::min<std::chrono::duration<double>>(nap * 2, recheck);
            if (deadline && Clock::now() >= *deadline && ring_empty()) {
                got = false;
                break;
            }
        }
        h.item_waiters.fetch_sub(1, std::memory_order_relaxed);
        return got;
    }

    // Receives the rest of a chunked item whose first entry e is at head
    // (the caller holds get_lock). False if its producer died before the
    // end: what came of it is dropped.
    bool take_chunked(const Entry& e, std::vector<std::byte>& out) {
        out.resize(e.total);
        copy_out(e.at, out.data(), e.size);
        std::size_t done = e.size;
        consume(e.end);
        for (;;) {
            while (!wait_for_entry(Clock::now() + recheck)) {
                // No chunk for a while: the producer holds put_lock until the
                // last one, so a free (or abandoned) put_lock means it is gone.
                if (try_take(put_lock, std::chrono::milliseconds(10))) {
                    bool ended = ring_empty();
                    put_lock.release();
                    if (ended) return false;
                }
            }
            Entry next = peek();
            if (next.kind == whole || next.kind == first) return false;  // a new producer's
            if (done + next.size > out.size())
                throw SerializationError("a Queue item's chunks exceed its size");
            copy_out(next.at, out.data() + done, next.size);
            done += next.size;
            consume(next.end);
            if (next.kind == last) return true;
        }
    }

    // Takes the next item into out; false if there is none now (the caller
    // holds get_lock). Skips the rest of an item a killed consumer began.
    bool take_item(std::vector<std::byte>& out, std::size_t& size) {
        for (;;) {
            if (ring_empty()) return false;
            Entry e = peek();
            if (e.kind == middle || e.kind == last) {
                consume(e.end);  // an orphan
                continue;
            }
            if (e.kind == whole) {
                if (out.size() < e.size) out.resize(e.size);  // grows only: no clearing per item
                copy_out(e.at, out.data(), e.size);
                size = e.size;
                consume(e.end);
            } else if (take_chunked(e, out)) {
                size = out.size();
            } else {
                continue;  // dropped: its producer died
            }
            auto& got = header().got;  // only consumers write it, under get_lock
            got.store(got.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
            return true;
        }
    }

    int maxsize;  // 0: unbounded
    SharedBlock ring;
    Lock put_lock, get_lock;
    Semaphore items;
    Semaphore space;
    Semaphore sem;  // bounded queues: room under maxsize
    // JoinableQueue only.
    std::optional<Semaphore> unfinished;
    std::optional<Condition> cond;
};

/// Counts n items dropped by a shutdown(immediate) as done (JoinableQueue).
void drop_tasks(QueueCore::Shared& s, std::size_t n);

}  // namespace mproc::detail
