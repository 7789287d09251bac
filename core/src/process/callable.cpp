// Functions registered by name, and the program spawn starts.
#include <mproc/callable.hpp>

#include <map>
#include <mutex>

#include "process/exec_child.hpp"
#include "base/fork_guard.hpp"

namespace mproc {

namespace detail {

Target::~Target() = default;

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
