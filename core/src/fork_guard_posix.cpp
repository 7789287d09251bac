// The fork handlers behind ForkGuarded (see fork_guard.hpp).
#include "fork_guard.hpp"

#include <pthread.h>

#include <atomic>

namespace mproc::detail {
namespace {

struct Guarded {
    void* mutex;
    void (*lock)(void*);
    void (*unlock)(void*);
    void (*renew)(void*);
    Guarded* next;
};

// A list that only grows, pushed without a lock: a mutex may be made (and
// registered) while another guarded one is held, and a lock around the list
// would then order itself against them.
std::atomic<Guarded*> guarded{nullptr};
thread_local Guarded* forking = nullptr;  // the list as prepare() saw it

void prepare() {
    forking = guarded.load(std::memory_order_acquire);
    for (auto* g = forking; g != nullptr; g = g->next) g->lock(g->mutex);
}

void in_parent() {
    for (auto* g = forking; g != nullptr; g = g->next) g->unlock(g->mutex);
}

void in_child() {
    // Unlock (which a race detector sees), then make anew: a recursive
    // mutex's unlock fails here, as its owner was the parent's thread.
    for (auto* g = forking; g != nullptr; g = g->next) {
        g->unlock(g->mutex);
        g->renew(g->mutex);
    }
}

// Registered when libmproc loads, before any handler registered later
// (handlers that take a guarded mutex themselves then run before ours).
[[maybe_unused]] const int registered = ::pthread_atfork(&prepare, &in_parent, &in_child);

}  // namespace

void guard_across_fork(void* mutex, void (*lock)(void*), void (*unlock)(void*),
                       void (*renew)(void*)) {
    auto* g = new Guarded{mutex, lock, unlock, renew, guarded.load(std::memory_order_relaxed)};
    while (!guarded.compare_exchange_weak(g->next, g, std::memory_order_release,
                                          std::memory_order_relaxed)) {
    }
}

}  // namespace mproc::detail
