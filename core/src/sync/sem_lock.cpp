// SemLock and its kinds: Lock, RLock, Semaphore, BoundedSemaphore.
#include <mproc/sem_lock.hpp>

#include <climits>

#include <fmt/format.h>

#include <mproc/context.hpp>
#include <mproc/errors.hpp>
#include <mproc/lock.hpp>
#include <mproc/plugin/backend.hpp>
#include <mproc/semaphore.hpp>

#include "plugin/capability_check.hpp"

namespace mproc {

using plugin::SemaphoreKind;

namespace {

SemLock checked(SemLock s, SemaphoreKind kind, const char* what) {
    if (s.kind() != kind)
        throw SerializationError(fmt::format("the object received is not a {}", what));
    return s;
}

}  // namespace

SemLock::SemLock(const Context& ctx, SemaphoreKind kind, int value, int max_value) {
    auto& backend = ctx.backend();
    detail::require_capability(backend, plugin::Capability::shared_semaphores,
                               kind == SemaphoreKind::counting ? "a Semaphore"
                               : kind == SemaphoreKind::mutex  ? "a Lock"
                                                               : "an RLock");
    block_ = SharedBlock::allocate(backend, backend.semaphore_state_size(), 8);
    impl_ = backend.make_semaphore({block_.data(), block_.size()}, kind, value, max_value);
}

void SemLock::abandoned() const {
    throw AbandonedLock(
        "the lock was acquired from a process that died holding it: the caller now holds "
        "it, and what it guards may be inconsistent");
}

std::string SemLock::repr() const {
    switch (kind()) {
        case SemaphoreKind::mutex: {
            std::string owner = is_mine()                       ? current_process().name()
                                : get_value() == 1              ? std::string("None")
                                : impl_->held_in_this_process() ? std::string("SomeOtherThread")
                                                                : std::string("SomeOtherProcess");
            return fmt::format("<Lock(owner={})>", owner);
        }
        case SemaphoreKind::recursive_mutex: {
            if (is_mine()) return fmt::format("<RLock({}, {})>", current_process().name(), count());
            if (get_value() == 1) return "<RLock(None, 0)>";
            if (impl_->held_in_this_process()) return "<RLock(SomeOtherThread, nonzero)>";
            return "<RLock(SomeOtherProcess, nonzero)>";
        }
        case SemaphoreKind::counting:
            break;
    }
    if (impl_->max_value() == INT_MAX) return fmt::format("<Semaphore(value={})>", get_value());
    return fmt::format("<BoundedSemaphore(value={}, maxvalue={})>", get_value(),
                       impl_->max_value());
}

void codec<SemLock>::encode(Encoder& e, const SemLock& s) {
    mproc::encode(e, s.block_);
}

SemLock codec<SemLock>::decode(Decoder& d) {
    auto block = mproc::decode<SharedBlock>(d);
    auto impl = block.backend().attach_semaphore({block.data(), block.size()});
    return SemLock(std::move(block), std::move(impl));
}

Lock::Lock() : Lock(get_context()) {}
Lock::Lock(const Context& ctx) : SemLock(ctx, SemaphoreKind::mutex, 1, 1) {}
Lock::Lock(SemLock s) : SemLock(checked(std::move(s), SemaphoreKind::mutex, "Lock")) {}

RLock::RLock() : RLock(get_context()) {}
RLock::RLock(const Context& ctx) : SemLock(ctx, SemaphoreKind::recursive_mutex, 1, 1) {}
RLock::RLock(SemLock s) : SemLock(checked(std::move(s), SemaphoreKind::recursive_mutex, "RLock")) {}

Semaphore::Semaphore(int value) : Semaphore(get_context(), value) {}
Semaphore::Semaphore(const Context& ctx, int value) : Semaphore(ctx, value, INT_MAX) {}
Semaphore::Semaphore(const Context& ctx, int value, int max_value)
    : SemLock(ctx, SemaphoreKind::counting, value, max_value) {}
Semaphore::Semaphore(SemLock s)
    : SemLock(checked(std::move(s), SemaphoreKind::counting, "Semaphore")) {}

BoundedSemaphore::BoundedSemaphore(int value) : BoundedSemaphore(get_context(), value) {}
BoundedSemaphore::BoundedSemaphore(const Context& ctx, int value) : Semaphore(ctx, value, value) {}
BoundedSemaphore::BoundedSemaphore(SemLock s) : Semaphore(std::move(s)) {}

}  // namespace mproc
