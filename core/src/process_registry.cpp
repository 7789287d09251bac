#include "process_registry.hpp"

#include <algorithm>
#include <map>
#include <mutex>

namespace mproc {

namespace {

struct Registry {
    std::mutex mutex;
    std::map<const detail::ProcessState*, Process*> children;
    // Objects that keep a running child whose Process object was destroyed.
    std::vector<std::unique_ptr<Process>> detached;
};

Registry* registry_ = new Registry();  // leaked: used until the very end of exit
// Set in a new child: the registry holds the parent's children. Replaced on
// first write only, so a child that starts no process writes no page for it
// (each page a fork child writes is copied).
bool inherited = false;

Registry* fresh() {
    if (inherited) {
        for (auto& p : registry_->detached) (void)p.release();  // the parent's, not ours
        registry_ = new Registry();
        inherited = false;
    }
    return registry_;
}

}  // namespace

void ProcessRegistry::add(Process& p) {
    auto* registry = fresh();
    std::lock_guard lock(registry->mutex);
    registry->children[p.state_.get()] = &p;
}

void ProcessRegistry::moved(Process& from, Process& to) {
    if (inherited) return;
    auto* registry = registry_;
    std::lock_guard lock(registry->mutex);
    auto it = registry->children.find(to.state_.get());
    if (it != registry->children.end() && it->second == &from) it->second = &to;
}

void ProcessRegistry::destroying(Process& p) {
    if (inherited) return;
    auto* registry = registry_;
    std::unique_ptr<Process> keeper;
    {
        std::lock_guard lock(registry->mutex);
        auto it = registry->children.find(p.state_.get());
        if (it == registry->children.end() || it->second != &p) return;
        registry->children.erase(it);
    }
    if (!p.state_->handle || p.state_->handle->poll()) return;  // ended: nothing to keep
    keeper.reset(new Process(Process::DetachedTag{}, p.state_));
    std::lock_guard lock(registry->mutex);
    registry->children[keeper->state_.get()] = keeper.get();
    registry->detached.push_back(std::move(keeper));
}

void ProcessRegistry::discard(const detail::ProcessState& s) {
    if (inherited) return;
    auto* registry = registry_;
    std::unique_ptr<Process> gone;
    std::lock_guard lock(registry->mutex);
    registry->children.erase(&s);
    auto& d = registry->detached;
    auto it = std::find_if(d.begin(), d.end(), [&](auto& p) { return p->state_.get() == &s; });
    if (it != d.end()) {
        gone = std::move(*it);
        d.erase(it);
        gone->state_.reset();  // its destructor must not come back here
    }
}

std::vector<Process*> ProcessRegistry::active() {
    if (inherited) return {};
    auto* registry = registry_;
    std::vector<Process*> all;
    {
        std::lock_guard lock(registry->mutex);
        for (auto& [s, p] : registry->children) all.push_back(p);
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

void ProcessRegistry::reset_in_child() {
    // The parent's bookkeeping is meaningless here; it is leaked (not
    // destroyed) on first write, as destructors would act on its children.
    inherited = true;
}

std::vector<Process*> active_children() {
    return ProcessRegistry::active();
}

}  // namespace mproc
