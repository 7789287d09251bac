// The non-template parts of Value and Array.
#include <mproc/sharedctypes.hpp>

#include <fmt/format.h>

#include <mproc/errors.hpp>

namespace mproc::detail {

std::optional<SemLock> make_lock(const Context& ctx, const LockArg& lock) {
    if (auto* b = std::get_if<bool>(&lock)) {
        if (!*b) return std::nullopt;
        return RLock(ctx);
    }
    if (auto* l = std::get_if<Lock>(&lock)) return *l;
    return std::get<RLock>(lock);
}

SemLock& Synchronized::get_lock() const {
    if (!lock_) throw ValueError("this shared object was made with lock = false: it has no lock");
    return *lock_;
}

void check_fits(std::size_t have, std::size_t want) {
    // Python's text (a[start:start+n] = values with fewer than n elements there).
    if (want > have) throw ValueError("Can only assign sequence of same size");
}

}  // namespace mproc::detail
