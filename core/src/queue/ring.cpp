// A Queue's ring: the helpers out of line (see ring.hpp).
#include "queue/ring.hpp"

#include <mproc/errors.hpp>

namespace mproc::detail {

std::optional<Clock::time_point> deadline_of(bool block, Timeout timeout) {
    if (!block) return Clock::now();
    if (!timeout) return std::nullopt;
    auto d = std::chrono::duration_cast<Clock::duration>(*timeout);
    return Clock::now() + std::max(d, Clock::duration::zero());
}

Timeout left(std::optional<Clock::time_point> deadline) {
    if (!deadline) return std::nullopt;
    return std::max(std::chrono::duration<double>(*deadline - Clock::now()),
                    std::chrono::duration<double>(0));
}

bool take(SemLock& lock) {
    try {
        lock.acquire();
        return false;
    } catch (const AbandonedLock&) {
        return true;
    }
}

bool try_take(SemLock& lock, Timeout timeout) {
    try {
        return timeout ? lock.acquire(true, timeout) : lock.acquire(false);
    } catch (const AbandonedLock&) {
        return true;
    }
}

}  // namespace mproc::detail
