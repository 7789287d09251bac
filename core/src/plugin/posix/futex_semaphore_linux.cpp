// Futex semaphores (see futex_semaphore.hpp).
#include <mproc/plugin/posix/futex_semaphore.hpp>

#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>

#include <fmt/format.h>

#include <mproc/errors.hpp>
#include "base/process_identity.hpp"

namespace mproc::posix {
namespace {

using detail::process_alive;
using detail::this_process_id;
using detail::this_process_start_time;
using detail::this_thread_id;
using plugin::AcquireStatus;
using plugin::SemaphoreKind;
using Clock = std::chrono::steady_clock;

constexpr std::uint32_t state_magic = 0x6d705331;  // "mpS1"
constexpr std::uint32_t tid_mask = 0x3fffffffu;    // tids are below 2^22 (pid_max)

// The shared state. Every field a peer reads concurrently is atomic; std::atomic
// of these sizes is lock-free and address-free, so it works across processes.
struct State {
    std::uint32_t magic;
    std::uint32_t kind;
    std::int32_t max_value;
    std::atomic<std::uint32_t> word;     // counting: the value; mutex: the holder's tid (0: free)
    std::atomic<std::uint32_t> waiters;  // acquirers asleep (or about to be) on word
    std::atomic<std::int32_t> holder_pid;
    std::atomic<std::uint64_t> holder_start;
    std::uint32_t depth;             // recursive mutex: times the holder holds it (holder only)
    std::atomic<std::int32_t> spin;  // acquirers' adaptive spin budget (looks before sleeping)
};
static_assert(sizeof(State) <= 48);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

// Sleeps while *word == expected, for at most timeout (nullopt: no limit).
// Returns on a wake-up, a changed value, a signal or the timeout alike.
void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                std::optional<Clock::duration> timeout) {
    timespec ts{};
    timespec* tsp = nullptr;
    if (timeout) {
        auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(*timeout).count();
        if (ns <= 0) return;
        ts.tv_sec = time_t(ns / 1000000000);
        ts.tv_nsec = long(ns % 1000000000);
        tsp = &ts;
    }
    ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAIT, expected, tsp,
              nullptr, 0);
}

void futex_wake(std::atomic<std::uint32_t>& word, int n) {
    ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE, n, nullptr, nullptr,
              0);
}

// Before it sleeps, an acquirer spins a little: a sleep and its wake-up
// cost two system calls and a context switch each (10-100 us on a VM), while
// locks are held and semaphores released within far less. The budget (in
// looks of about 20-40 ns) adapts to what the sleeps that followed a failed
// spin show: after a short one (a longer spin would have saved it) it
// doubles, after a long one it halves, so a semaphore that is waited on for
// long costs few looks. No spinning on one CPU, where the spinner would only
// delay the process it waits for.
constexpr std::int32_t min_spin = 16, max_spin = 8000;
constexpr auto short_sleep = std::chrono::microseconds(200);

template <class Ready>
bool spin_until(std::atomic<std::int32_t>& budget_word, Ready ready) {
    static const bool many_cpus = ::sysconf(_SC_NPROCESSORS_ONLN) > 1;
    if (!many_cpus) return false;
    std::int32_t budget = budget_word.load(std::memory_order_relaxed);
    budget = std::clamp(budget, min_spin, max_spin);
    for (std::int32_t i = 0; i < budget; ++i) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        asm volatile("yield");
#endif
        if (ready()) return true;
    }
    return false;
}

// Adapts the spin budget to a sleep (of `slept`) that followed a failed spin.
void learn_from_sleep(std::atomic<std::int32_t>& budget_word, Clock::duration slept) {
    std::int32_t budget =
        std::clamp(budget_word.load(std::memory_order_relaxed), min_spin, max_spin);
    budget = slept < short_sleep ? std::min(max_spin, budget * 2) : std::max(min_spin, budget / 2);
    budget_word.store(budget, std::memory_order_relaxed);
}

// The deadline of a timeout (nullopt: none).
std::optional<Clock::time_point> deadline_of(Timeout timeout) {
    if (!timeout) return std::nullopt;
    auto d = std::chrono::duration_cast<Clock::duration>(*timeout);
    if (d < Clock::duration::zero()) d = Clock::duration::zero();
    return Clock::now() + d;
}

class FutexSemaphore final : public plugin::SemaphoreImpl {
  public:
    explicit FutexSemaphore(State* s) : s_(s) {}

    // The uncontended cases here, in a small frame; waiting (a larger one:
    // deadlines, spinning, sleeps) out of line.
    AcquireStatus acquire(Timeout timeout) override {
        if (s_->kind == std::uint32_t(SemaphoreKind::counting)) {
            if (try_take()) return AcquireStatus::acquired;
            return acquire_counting(timeout);
        }
        const std::uint32_t me = this_thread_id();
        std::uint32_t v = 0;
        if (s_->word.compare_exchange_strong(v, me, std::memory_order_seq_cst,
                                             std::memory_order_relaxed))
            return took(AcquireStatus::acquired);
        return acquire_mutex(timeout, me, v);
    }

    void release() override {
        if (s_->kind == std::uint32_t(SemaphoreKind::counting))
            release_counting();
        else
            release_mutex();
    }

    int value() const override {
        std::uint32_t w = s_->word.load(std::memory_order_acquire);
        if (s_->kind == std::uint32_t(SemaphoreKind::counting)) return int(w);
        return (w & tid_mask) == 0 ? 1 : 0;
    }

    bool is_mine() const override {
        if (s_->kind == std::uint32_t(SemaphoreKind::counting)) return false;
        return (s_->word.load(std::memory_order_acquire) & tid_mask) == this_thread_id();
    }

    bool held_in_this_process() const override {
        if (s_->kind == std::uint32_t(SemaphoreKind::counting)) return false;
        auto tid = int(s_->word.load(std::memory_order_acquire) & tid_mask);
        if (tid == 0) return false;
        if (std::uint32_t(tid) == this_thread_id()) return true;
        // A signal 0 to a thread of our own thread group succeeds only if the
        // holder is one of our threads.
        return ::syscall(SYS_tgkill, ::getpid(), tid, 0) == 0;
    }

    int count() const override {
        if (!is_mine()) return 0;
        return s_->kind == std::uint32_t(SemaphoreKind::recursive_mutex) ? int(s_->depth) : 1;
    }

    SemaphoreKind kind() const override { return SemaphoreKind(s_->kind); }
    int max_value() const override { return s_->max_value; }

  private:
    // try_take() failed once.
    [[gnu::noinline]] AcquireStatus acquire_counting(Timeout timeout) {
        auto deadline = deadline_of(timeout);
        if (deadline && Clock::now() >= *deadline) return AcquireStatus::timed_out;
        if (spin_until(s_->spin, [&] { return try_take(); })) return AcquireStatus::acquired;
        auto slept_from = Clock::now();
        s_->waiters.fetch_add(1, std::memory_order_seq_cst);
        AcquireStatus result = AcquireStatus::timed_out;
        for (;;) {
            if (try_take()) {
                result = AcquireStatus::acquired;
                learn_from_sleep(s_->spin, Clock::now() - slept_from);
                break;
            }
            std::optional<Clock::duration> left;
            if (deadline) {
                left = *deadline - Clock::now();
                if (*left <= Clock::duration::zero()) break;
            }
            futex_wait(s_->word, 0, left);
        }
        s_->waiters.fetch_sub(1, std::memory_order_relaxed);
        return result;
    }

    bool try_take() {
        std::uint32_t v = s_->word.load(std::memory_order_relaxed);
        while (v > 0) {
            if (s_->word.compare_exchange_weak(v, v - 1, std::memory_order_seq_cst,
                                               std::memory_order_relaxed))
                return true;
        }
        return false;
    }

    void release_counting() {
        std::uint32_t v = s_->word.load(std::memory_order_relaxed);
        do {
            if (v >= std::uint32_t(s_->max_value))
                throw ValueError("semaphore or lock released too many times");
        } while (!s_->word.compare_exchange_weak(v, v + 1, std::memory_order_seq_cst,
                                                 std::memory_order_relaxed));
        if (s_->waiters.load(std::memory_order_seq_cst) > 0) futex_wake(s_->word, 1);
    }

    // The exchange of a free word for me failed: the word was v.
    [[gnu::noinline]] AcquireStatus acquire_mutex(Timeout timeout, std::uint32_t me,
                                                  std::uint32_t v) {
        bool recursive = s_->kind == std::uint32_t(SemaphoreKind::recursive_mutex);
        if (recursive && (v & tid_mask) == me) {
            ++s_->depth;
            return AcquireStatus::acquired;
        }
        auto spin_take = [&] {
            if (s_->word.load(std::memory_order_relaxed) != 0) return false;
            std::uint32_t free = 0;
            return s_->word.compare_exchange_strong(free, me, std::memory_order_seq_cst,
                                                    std::memory_order_relaxed);
        };
        if (spin_until(s_->spin, spin_take)) return took(AcquireStatus::acquired);
        auto deadline = deadline_of(timeout);
        auto slept_from = Clock::now();
        // Sleepers count themselves in `waiters` (seq_cst): a release wakes
        // one only if someone sleeps (see release_mutex for the one race).
        s_->waiters.fetch_add(1, std::memory_order_seq_cst);
        AcquireStatus result = AcquireStatus::timed_out;
        // Between sleeps that last this long, check that the holder lives.
        auto check_every = std::chrono::milliseconds(1);
        for (;;) {
            v = 0;
            if (s_->word.compare_exchange_strong(v, me, std::memory_order_seq_cst,
                                                 std::memory_order_relaxed)) {
                result = took(AcquireStatus::acquired);
                learn_from_sleep(s_->spin, Clock::now() - slept_from);
                break;
            }
            std::optional<Clock::duration> left;
            if (deadline) {
                left = *deadline - Clock::now();
                if (*left <= Clock::duration::zero()) break;
            }
            std::optional<Clock::duration> nap = check_every;
            if (left && *left < *nap) nap = left;
            auto before = Clock::now();
            futex_wait(s_->word, v, nap);
            if (Clock::now() - before >= check_every) {
                if (take_over_from_dead(v, me)) {
                    result = AcquireStatus::abandoned;
                    break;
                }
                if (check_every < std::chrono::milliseconds(128)) check_every *= 2;
            }
        }
        s_->waiters.fetch_sub(1, std::memory_order_relaxed);
        return result;
    }

    // The lock was held as `seen` for a whole nap: if its holder process is
    // gone, take it. Only one waiter wins the exchange.
    bool take_over_from_dead(std::uint32_t seen, std::uint32_t me) {
        if (s_->word.load(std::memory_order_seq_cst) != seen) return false;
        int pid = s_->holder_pid.load(std::memory_order_seq_cst);
        std::uint64_t start = s_->holder_start.load(std::memory_order_seq_cst);
        if (pid == 0) {
            // Held, but the holder died before it wrote its pid (or is about
            // to): judge by its thread, which cannot have released it.
            if (process_alive(int(seen & tid_mask), 0)) return false;
        } else if (process_alive(pid, start)) {
            return false;
        }
        if (s_->word.load(std::memory_order_seq_cst) != seen) return false;
        std::uint32_t expected = seen;
        if (!s_->word.compare_exchange_strong(expected, me, std::memory_order_seq_cst))
            return false;
        took(AcquireStatus::abandoned);
        return true;
    }

    AcquireStatus took(AcquireStatus how) {
        s_->depth = 1;
        s_->holder_pid.store(this_process_id(), std::memory_order_relaxed);
        s_->holder_start.store(this_process_start_time(), std::memory_order_relaxed);
        return how;
    }

    void release_mutex() {
        std::uint32_t v = s_->word.load(std::memory_order_relaxed);
        if (s_->kind == std::uint32_t(SemaphoreKind::recursive_mutex)) {
            if ((v & tid_mask) != this_thread_id())
                throw ValueError("attempt to release recursive lock not owned by thread");
            if (--s_->depth > 0) return;
        } else if ((v & tid_mask) == 0) {
            throw ValueError("semaphore or lock released too many times");
        }
        // Clear the holder first: a waiter that sees the word still held and
        // a cleared pid does not judge the holder. (The release store below
        // publishes it: whoever sees the next holder's word sees it.)
        s_->holder_pid.store(0, std::memory_order_relaxed);
        s_->holder_start.store(0, std::memory_order_relaxed);
        // A plain store, not an atomic exchange: on x86 an exchange waits
        // until every earlier store (say, an item just copied into a queue)
        // has reached the cache, which costs more than the rest of a release.
        // So the load of `waiters` below may miss a waiter that registered a
        // moment ago; that waiter then finds the word free in FUTEX_WAIT
        // (which compares it in the kernel, long after), or at worst sleeps
        // its first nap (1 ms) and looks again (see acquire_mutex).
        s_->word.store(0, std::memory_order_release);
        if (s_->waiters.load(std::memory_order_relaxed) > 0) futex_wake(s_->word, 1);
    }

    State* s_;
};

State* state_of(std::span<std::byte> state) {
    if (state.size() < sizeof(State) ||
        reinterpret_cast<std::uintptr_t>(state.data()) % alignof(State) != 0)
        throw ProcessError("semaphore state: too small or misaligned");
    return reinterpret_cast<State*>(state.data());
}

}  // namespace

std::size_t futex_semaphore_state_size() noexcept {
    return sizeof(State);  // with core's block header, one 64-byte unit
}

std::unique_ptr<plugin::SemaphoreImpl> make_futex_semaphore(std::span<std::byte> state,
                                                            SemaphoreKind kind, int value,
                                                            int max_value) {
    if (kind != SemaphoreKind::counting && kind != SemaphoreKind::mutex &&
        kind != SemaphoreKind::recursive_mutex)
        throw ValueError(fmt::format("unknown semaphore kind {}", int(kind)));
    if (value < 0) throw ValueError("semaphore initial value must be >= 0");
    if (max_value < 0 || value > max_value)
        throw ValueError(
            fmt::format("semaphore value {} is above its maximum {}", value, max_value));
    if (kind != SemaphoreKind::counting && (value != 1 || max_value != 1))
        throw ValueError("a lock starts unlocked with maximum 1");
    auto* s = new (state_of(state)) State{};
    s->kind = std::uint32_t(kind);
    s->max_value = max_value;
    s->word.store(kind == SemaphoreKind::counting ? std::uint32_t(value) : 0u,
                  std::memory_order_relaxed);
    s->magic = state_magic;
    std::atomic_thread_fence(std::memory_order_release);
    return std::make_unique<FutexSemaphore>(s);
}

std::unique_ptr<plugin::SemaphoreImpl> attach_futex_semaphore(std::span<std::byte> state) {
    auto* s = state_of(state);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (s->magic != state_magic || s->kind > 2)
        throw ProcessError("semaphore state: not a semaphore made by a POSIX mproc backend");
    return std::make_unique<FutexSemaphore>(s);
}

}  // namespace mproc::posix
