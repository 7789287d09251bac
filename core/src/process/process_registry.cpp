#include "process/process_registry.hpp"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <new>

#include "base/record_pool.hpp"

namespace mproc {

namespace {

using detail::ProcessState;

struct Registry {
    std::mutex mutex;
    std::atomic<int> counter{0};    // the last process number given
    ProcessState* first = nullptr;  // started children, oldest first
    ProcessState* last = nullptr;
    // Objects that keep a running child whose Process object was destroyed.
    std::vector<std::unique_ptr<Process>> detached;

    void link(ProcessState& s, Process& owner) {
        s.registry = this;
        s.owner = &owner;
        s.prev = last;
        s.next = nullptr;
        (last ? last->next : first) = &s;
        last = &s;
    }
    void unlink(ProcessState& s) {
        (s.prev ? s.prev->next : first) = s.next;
        (s.next ? s.next->prev : last) = s.prev;
        s.registry = nullptr;
        s.owner = nullptr;
        s.prev = s.next = nullptr;
    }
    bool lists(const ProcessState& s) const { return s.registry == this; }
};

// Never destroyed (used until the very end of exit), and in the record pool:
// a fork parent that starts and joins a process writes the pool's page
// anyway (the records), so the registry costs it no page of its own.
Registry* registry_ = new (detail::record_allocate(sizeof(Registry))) Registry();
// Set in a new child: the registry holds the parent's children. Replaced on
// first write only, so a child that starts no process writes no page for it
// (each page a fork child writes is copied). The parent's children stay
// linked in the parent's registry, which the child never touches again.
bool inherited = false;

Registry* fresh() {
    if (inherited) {
        for (auto& p : registry_->detached) (void)p.release();  // the parent's, not ours
        registry_ = new (detail::record_allocate(sizeof(Registry))) Registry();
        inherited = false;
    }
    return registry_;
}

}  // namespace

int ProcessRegistry::next_number() {
    return ++fresh()->counter;
}

void ProcessRegistry::add(Process& p) {
    auto* registry = fresh();
    std::lock_guard lock(registry->mutex);
    registry->link(*p.state_, p);
}

void ProcessRegistry::moved(Process& from, Process& to) {
    if (inherited) return;
    auto* registry = registry_;
    std::lock_guard lock(registry->mutex);
    auto& s = *to.state_;
    if (registry->lists(s) && s.owner == &from) s.owner = &to;
}

void ProcessRegistry::destroying(Process& p) {
    if (inherited) return;
    auto* registry = registry_;
    auto& s = *p.state_;
    {
        std::lock_guard lock(registry->mutex);
        if (!registry->lists(s) || s.owner != &p) return;
    }
    std::unique_ptr<Process> keeper;
    if (s.handle && !s.handle->poll()) keeper.reset(new Process(Process::DetachedTag{}, p.state_));
    std::lock_guard lock(registry->mutex);
    if (!registry->lists(s) || s.owner != &p) return;  // discarded meanwhile
    if (!keeper) {                                     // ended: nothing to keep
        registry->unlink(s);
        return;
    }
    s.owner = keeper.get();
    registry->detached.push_back(std::move(keeper));
}

void ProcessRegistry::discard(const detail::ProcessState& cs) {
    if (inherited) return;
    auto* registry = registry_;
    auto& s = const_cast<ProcessState&>(cs);
    std::unique_ptr<Process> gone;
    std::lock_guard lock(registry->mutex);
    if (registry->lists(s)) registry->unlink(s);
    auto& d = registry->detached;
    auto it = std::find_if(d.begin(), d.end(), [&](auto& p) { return p->state_.get() == &s; });
    if (it != d.end()) {
        gone = std::move(*it);
        d.erase(it);
        gone->state_.reset();  // its destructor must not come back here
    }
}

[[gnu::hot]] std::vector<Process*> ProcessRegistry::active() {
    if (inherited) return {};
    auto* registry = registry_;
    std::vector<Process*> all;
    {
        std::lock_guard lock(registry->mutex);
        for (auto* s = registry->first; s != nullptr; s = s->next) all.push_back(s->owner);
    }
    std::vector<Process*> running;
    for (auto* p : all) {
        if (!p->state_->handle) continue;  // being started by another thread
        if (!p->state_->handle->poll())
            running.push_back(p);
        else
            discard(*p->state_);
    }
    return running;
}

[[gnu::hot]] void ProcessRegistry::reset_in_child() {
    // The parent's bookkeeping is meaningless here; it is leaked (not
    // destroyed) on first write, as destructors would act on its children.
    inherited = true;
}

[[gnu::hot]] std::vector<Process*> active_children() {
    return ProcessRegistry::active();
}

}  // namespace mproc
