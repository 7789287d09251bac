// mproc::util::Finalize: the registry of exit hooks with priorities (see
// <mproc/util.hpp>), run by exit_function at a process's normal end.
#include <mproc/util.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <map>
#include <mutex>
#include <tuple>
#include <vector>

#include <fmt/format.h>

#include <mproc/logging.hpp>

#include "base/fork_guard.hpp"
#include "process/process_state.hpp"

namespace mproc::util {

namespace detail {

struct FinalizerState {
    std::function<void()> callback;
    std::optional<int> priority;
    std::uint64_t order = 0;  // registration order in its process
    int pid = 0;              // the process that made it
    bool registered = true;   // under the registry's mutex
};

}  // namespace detail

namespace {

using detail::FinalizerState;

// Python's _finalizer_registry. The map's key sorts as Python sorts its
// keys: by priority, then registration order; unprioritised ones first.
struct Registry {
    ::mproc::detail::ForkGuardedMutex mutex;
    std::map<std::tuple<bool, int, std::uint64_t>, std::shared_ptr<FinalizerState>> entries;
    std::uint64_t counter = 0;
    int pid = 0;  // the process the entries belong to

    // A fork child starts with an empty registry (Python clears it in
    // _bootstrap); done on the child's first use, not at every fork.
    void own() {
        int me = ::mproc::detail::current_pid();
        if (pid == me) return;
        for (auto& [k, s] : entries) s->registered = false;
        entries.clear();
        pid = me;
    }
    static auto key(const FinalizerState& s) {
        return std::tuple{s.priority.has_value(), s.priority.value_or(0), s.order};
    }
};

Registry& registry() {
    static auto* r = new Registry();  // used at exit: never destroyed
    return *r;
}

// Unregisters s; true if it was registered (so the caller may run it).
bool unregister(FinalizerState& s) {
    auto& r = registry();
    std::lock_guard lock(r.mutex);
    r.own();
    if (!s.registered) return false;
    s.registered = false;
    r.entries.erase(Registry::key(s));
    return true;
}

void run_one(FinalizerState& s) {
    auto cb = std::move(s.callback);
    s.callback = nullptr;
    if (s.pid != ::mproc::detail::current_pid()) {
        get_logger().subdebug("finalizer ignored because different process");
        return;
    }
    try {
        if (cb) cb();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "Error in finalizer (exitpriority=%s): %s\n",
                     s.priority ? std::to_string(*s.priority).c_str() : "None", e.what());
    } catch (...) {
        std::fprintf(stderr, "Error in finalizer: unknown exception\n");
    }
}

}  // namespace

Finalize::Finalize(std::function<void()> callback, std::optional<int> exitpriority)
    : state_(std::make_shared<FinalizerState>()) {
    state_->callback = std::move(callback);
    state_->priority = exitpriority;
    state_->pid = ::mproc::detail::current_pid();
    {
        auto& r = registry();
        std::lock_guard lock(r.mutex);
        r.own();
        state_->order = r.counter++;
        r.entries.emplace(Registry::key(*state_), state_);
    }
    if (exitpriority) ::mproc::detail::ensure_exit_handler();
}

void Finalize::operator()() {
    if (unregister(*state_))
        run_one(*state_);
    else
        get_logger().subdebug("finalizer no longer registered");
}

void Finalize::cancel() {
    if (unregister(*state_)) state_->callback = nullptr;
}

bool Finalize::still_active() const {
    auto& r = registry();
    std::lock_guard lock(r.mutex);
    r.own();
    return state_->registered;
}

std::optional<int> Finalize::exitpriority() const {
    return state_->priority;
}

std::string Finalize::repr() const {
    if (!still_active()) return "<Finalize object, dead>";
    if (!state_->priority) return "<Finalize object>";
    return fmt::format("<Finalize object, exitpriority={}>", *state_->priority);
}

void run_finalizers(std::optional<int> minpriority) {
    auto& r = registry();
    std::vector<std::shared_ptr<FinalizerState>> due;
    {
        std::lock_guard lock(r.mutex);
        r.own();
        for (auto it = r.entries.rbegin(); it != r.entries.rend(); ++it) {
            const auto& s = *it->second;
            if (!s.priority) break;  // the unprioritised ones sort first
            if (minpriority && *s.priority < *minpriority) break;
            due.push_back(it->second);
        }
    }
    for (auto& s : due) {
        if (!unregister(*s)) continue;  // run or cancelled meanwhile
        get_logger().subdebug("calling <Finalize object, exitpriority={}>", *s->priority);
        run_one(*s);
    }
    if (!minpriority) {
        std::lock_guard lock(r.mutex);
        for (auto& [k, s] : r.entries) s->registered = false;
        r.entries.clear();
    }
}

}  // namespace mproc::util
