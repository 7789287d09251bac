// Barrier: threading.Barrier's algorithm over a Condition, its state (phase
// and count) in shared memory, as CPython's multiprocessing does.
#include <mproc/barrier.hpp>

#include <fmt/format.h>

#include <mproc/errors.hpp>

#include <mproc/function.hpp>

namespace mproc {

namespace {
constexpr int filling = 0, draining = 1, resetting = -1, broken_state = -2;
}

Barrier::Barrier(const Context& ctx, int parties, Timeout timeout)
    : parties_(parties), timeout_(timeout), cond_(Condition(ctx)) {
    if (parties < 1) throw ValueError(fmt::format("a Barrier needs parties >= 1, not {}", parties));
    block_ = SharedBlock::allocate(ctx.backend(), sizeof(State), alignof(State));
    new (block_.data()) State{filling, 0};
}

int Barrier::wait(Timeout timeout) {
    if (!timeout) timeout = timeout_;
    std::lock_guard g(*cond_);
    enter();  // blocks while the barrier drains or resets
    auto& s = shared();
    int index = s.count;
    ++s.count;
    try {
        if (index + 1 == parties_)
            release_all();  // the last one in: run the action, release the others
        else
            wait_for_release(timeout);
    } catch (...) {
        --s.count;
        exit_barrier();
        throw;
    }
    --s.count;
    exit_barrier();
    return index;
}

void Barrier::enter() {
    auto& s = shared();
    while (s.state == draining || s.state == resetting) cond_->wait();
    if (s.state < 0) throw BrokenBarrierError("the barrier is broken");
}

void Barrier::release_all() {
    try {
        if (action_) action_();
        shared().state = draining;
        cond_->notify_all();
    } catch (...) {
        break_barrier();  // an action that throws breaks the barrier
        throw;
    }
}

void Barrier::wait_for_release(Timeout timeout) {
    auto& s = shared();
    if (!cond_->wait_for([&] { return s.state != filling; }, timeout)) {
        break_barrier();
        throw BrokenBarrierError("the barrier timed out and is now broken");
    }
    if (s.state < 0) throw BrokenBarrierError("the barrier was broken or reset while waiting");
}

void Barrier::exit_barrier() {
    auto& s = shared();
    if (s.count == 0 && (s.state == resetting || s.state == draining)) {
        s.state = filling;
        cond_->notify_all();
    }
}

void Barrier::reset() {
    std::lock_guard g(*cond_);
    auto& s = shared();
    if (s.count > 0) {
        if (s.state == filling || s.state == broken_state) s.state = resetting;
        // else draining: it becomes filling when the last one leaves
    } else {
        s.state = filling;
    }
    cond_->notify_all();
}

void Barrier::abort() {
    std::lock_guard g(*cond_);
    break_barrier();
}

void Barrier::break_barrier() {
    shared().state = broken_state;
    cond_->notify_all();
}

int Barrier::n_waiting() const {
    std::lock_guard g(*cond_);
    auto& s = shared();
    return s.state == filling ? s.count : 0;
}

bool Barrier::broken() const {
    std::lock_guard g(*cond_);
    return shared().state == broken_state;
}

void codec<Barrier>::encode(Encoder& e, const Barrier& b) {
    e.begin_array(5);
    e.write_int(b.parties_);
    mproc::encode(e, b.timeout_ ? std::optional<double>(b.timeout_->count()) : std::nullopt);
    if (!b.action_) {
        e.write_nil();
    } else if (b.plain_action_ == nullptr) {
        throw ValueError(
            "the Barrier's action is a capturing lambda or a function object, which cannot cross "
            "exec; use a plain function (or the fork start method)");
    } else {
        mproc::encode(e, b.plain_action_);  // where its code is (<mproc/function.hpp>)
    }
    mproc::encode(e, *b.cond_);
    mproc::encode(e, b.block_);
}

Barrier codec<Barrier>::decode(Decoder& d) {
    if (d.read_array() != 5) throw SerializationError("a Barrier is an array of 5 items");
    Barrier b;
    b.parties_ = int(d.read_int());
    if (b.parties_ < 1) throw SerializationError("a Barrier needs parties >= 1");
    auto timeout = mproc::decode<std::optional<double>>(d);
    if (timeout) b.timeout_ = std::chrono::duration<double>(*timeout);
    if (d.peek() == ValueKind::nil) {
        d.read_nil();
    } else {
        b.plain_action_ = mproc::decode<void (*)()>(d);
        b.action_ = b.plain_action_;
    }
    b.cond_ = mproc::decode<Condition>(d);
    b.block_ = mproc::decode<SharedBlock>(d);
    if (b.block_.size() < sizeof(Barrier::State))
        throw SerializationError("a Barrier's shared state is too small");
    return b;
}

}  // namespace mproc
