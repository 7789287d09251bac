// Barriers across processes (Python: multiprocessing.Barrier).
//
//   mproc::Barrier b(3);                 // three parties
//   int index = b.wait();                // 0, 1, 2 in order of arrival
//   mproc::Barrier timed(2, nullptr, 1s);
//   try { timed.wait(); } catch (const mproc::BrokenBarrierError&) { }
//
// An action runs in the last process to arrive, before any is released. It
// may be any callable under fork; to cross into spawn and forkserver
// children it must be a plain function (or a lambda without captures).
#pragma once

#include <mproc/export.hpp>

#include <functional>
#include <type_traits>

#include <mproc/callable.hpp>
#include <mproc/condition.hpp>
#include <mproc/context.hpp>
#include <mproc/shared_block.hpp>

namespace mproc {

/// A barrier for a fixed number of parties.
class MPROC_API Barrier {
  public:
    /// A barrier of the default context for parties (>= 1) waiters; action
    /// (may be empty) runs once per cycle; timeout is wait()'s default.
    template <class F = std::nullptr_t>
    explicit Barrier(int parties, F&& action = nullptr, Timeout timeout = std::nullopt)
        : Barrier(get_context(), parties, std::forward<F>(action), timeout) {}
    /// The same, made by ctx's start method.
    template <class F = std::nullptr_t>
    Barrier(const Context& ctx, int parties, F&& action = nullptr, Timeout timeout = std::nullopt)
        : Barrier(ctx, parties, timeout) {
        if constexpr (!std::is_same_v<std::decay_t<F>, std::nullptr_t>) {
            if constexpr (detail::PlainFunction<F>)
                plain_action_ = reinterpret_cast<void (*)()>(+action);
            action_ = std::forward<F>(action);
        }
    }

    /// Waits until every party has called wait(); returns this party's index
    /// (0 .. parties-1, in order of arrival). Throws BrokenBarrierError if
    /// the barrier is or becomes broken, or timeout (default: the barrier's)
    /// passes, which breaks it.
    int wait(Timeout timeout = std::nullopt);
    /// Returns the barrier to its empty state; waiters get BrokenBarrierError.
    void reset();
    /// Breaks the barrier: waiters, now and later, get BrokenBarrierError.
    void abort();
    /// The number of parties.
    int parties() const noexcept { return parties_; }
    /// How many are waiting now.
    int n_waiting() const;
    /// True when broken.
    bool broken() const;

  private:
    friend struct codec<Barrier>;
    Barrier(const Context& ctx, int parties, Timeout timeout);
    Barrier() = default;

    struct State {
        int state;  // 0 filling, 1 draining, -1 resetting, -2 broken
        int count;
    };
    State& shared() const { return *reinterpret_cast<State*>(block_.data()); }
    void enter();
    void release_all();
    void wait_for_release(Timeout timeout);
    void exit_barrier();
    void break_barrier();

    int parties_ = 0;
    Timeout timeout_;
    std::function<void()> action_;
    void (*plain_action_)() = nullptr;  // set when action_ can cross exec
    mutable std::optional<Condition> cond_;
    SharedBlock block_;
};

template <>
struct MPROC_API codec<Barrier> {
    static void encode(Encoder& e, const Barrier& b);
    static Barrier decode(Decoder& d);
};

}  // namespace mproc
