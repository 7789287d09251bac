// The fork handlers behind ForkGuarded (see fork_guard.hpp).
#include "fork_guard.hpp"

#include <pthread.h>

#include <vector>

namespace mproc::detail {
namespace {

struct Guarded {
    void* mutex;
    void (*lock)(void*);
    void (*unlock)(void*);
    void (*renew)(void*);
};

struct Guards {
    std::mutex mutex;  // over the list; taken first before a fork
    std::vector<Guarded> all;
};

Guards& guards() {
    static auto* g = new Guards();  // leaked: used by forks until the end
    return *g;
}

void prepare() {
    auto& g = guards();
    g.mutex.lock();
    for (auto& m : g.all) m.lock(m.mutex);
}

void in_parent() {
    auto& g = guards();
    for (auto it = g.all.rbegin(); it != g.all.rend(); ++it) it->unlock(it->mutex);
    g.mutex.unlock();
}

void in_child() {
    auto& g = guards();
    for (auto& m : g.all) m.renew(m.mutex);
    new (&g.mutex) std::mutex();
}

// Registered when libmproc loads, before any handler registered later
// (handlers that take a guarded mutex themselves then run before ours).
[[maybe_unused]] const int registered =
    (guards(), ::pthread_atfork(&prepare, &in_parent, &in_child));

}  // namespace

void guard_across_fork(void* mutex, void (*lock)(void*), void (*unlock)(void*),
                       void (*renew)(void*)) {
    auto& g = guards();
    std::lock_guard l(g.mutex);
    g.all.push_back({mutex, lock, unlock, renew});
}

}  // namespace mproc::detail
