// Functions registered by name, and the program spawn starts.
#include <mproc/callable.hpp>

#include <map>
#include <mutex>

#include "base/fork_guard.hpp"
#include "base/record_pool.hpp"
#include "process/exec_child.hpp"

namespace mproc {

namespace detail {

Target::~Target() = default;

// Targets come from the process record pool (made in a program's code,
// deleted in libmproc or there).
void* Target::operator new(std::size_t size) {
    return record_allocate(size);
}
void Target::operator delete(void* p) {
    record_deallocate(p);
}

namespace {

struct Registered {
    ForkGuardedMutex mutex;
    std::map<std::string, ExecTarget, std::less<>> by_name;
    std::map<void*, std::string> by_function;
    std::filesystem::path executable;
};

Registered& registered() {
    static auto* r = new Registered();
    return *r;
}

}  // namespace

bool register_exec_function(const char* name, void* function, ExecTrampoline trampoline) {
    auto& r = registered();
    std::lock_guard lock(r.mutex);
    r.by_name[name] = ExecTarget{trampoline, function};
    r.by_function[function] = name;
    return true;
}

std::optional<std::string> registered_name(void* function) {
    auto& r = registered();
    std::lock_guard lock(r.mutex);
    auto it = r.by_function.find(function);
    if (it == r.by_function.end()) return std::nullopt;
    return it->second;
}

std::optional<ExecTarget> registered_function(std::string_view name) {
    auto& r = registered();
    std::lock_guard lock(r.mutex);
    auto it = r.by_name.find(name);
    if (it == r.by_name.end()) return std::nullopt;
    return it->second;
}

}  // namespace detail

void set_executable(const std::filesystem::path& program) {
    auto& r = detail::registered();
    std::lock_guard lock(r.mutex);
    r.executable = program;
}

std::filesystem::path get_executable() {
    auto& r = detail::registered();
    std::lock_guard lock(r.mutex);
    return r.executable;
}

}  // namespace mproc
