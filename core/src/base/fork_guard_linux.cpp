// What libmproc does around every fork(): the handlers behind ForkGuarded
// (see fork_guard.hpp), and in the child, emptying the process identity
// caches before anything else runs.
//
// A fork child pays a page fault (tens of microseconds on some virtual
// machines) for every page of code it runs and every page it writes first:
// the child-side code here is [[gnu::hot]], which the linker places together
// with the rest of the fork child's path (process.cpp).
#include "base/fork_guard.hpp"

#include <pthread.h>
#include <sys/single_threaded.h>

#include <atomic>

#include "base/process_identity.hpp"

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
// The list as prepare() saw it (initial-exec: no __tls_get_addr call).
thread_local Guarded* forking __attribute__((tls_model("initial-exec"))) = nullptr;

std::atomic<unsigned> generation{0};

// With one thread (the forking one, which holds none of them) no mutex can
// be held: nothing to take, and after the fork nothing to release or renew,
// which spares the parent and the child a page each.
void prepare() {
    Guarded* list = __libc_single_threaded ? nullptr : guarded.load(std::memory_order_acquire);
    if (forking != list) forking = list;  // no write when unchanged: a page less to copy
    for (auto* g = forking; g != nullptr; g = g->next) g->lock(g->mutex);
}

void in_parent() {
    for (auto* g = forking; g != nullptr; g = g->next) g->unlock(g->mutex);
}

[[gnu::hot]] void in_child() {
    detail::identity::forget();
    generation.fetch_add(1, std::memory_order_relaxed);
    for (auto* g = forking; g != nullptr; g = g->next) {
#if defined(__SANITIZE_THREAD__)
        // Unlocked first so that the race detector sees it released (a
        // recursive mutex's unlock fails here: its owner was the parent's
        // thread).
        g->unlock(g->mutex);
#endif
        g->renew(g->mutex);
    }
}

// Registered when libmproc loads, before any handler registered later
// (handlers that take a guarded mutex themselves then run before ours).
[[maybe_unused]] const int registered = ::pthread_atfork(&prepare, &in_parent, &in_child);

}  // namespace

unsigned fork_generation() noexcept {
    return generation.load(std::memory_order_relaxed);
}

void guard_across_fork(void* mutex, void (*lock)(void*), void (*unlock)(void*),
                       void (*renew)(void*)) {
    auto* g = new Guarded{mutex, lock, unlock, renew, guarded.load(std::memory_order_relaxed)};
    while (!guarded.compare_exchange_weak(g->next, g, std::memory_order_release,
                                          std::memory_order_relaxed)) {
    }
}

}  // namespace mproc::detail
