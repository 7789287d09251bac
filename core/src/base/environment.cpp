// Reading the environment (see environment.hpp); what differs by platform is
// in environment_linux.cpp.
#include "base/environment.hpp"

#include <cstdlib>

#include <mproc/plugin/exec_protocol.hpp>

namespace mproc::env {

namespace {
std::optional<std::string> get(const char* name) {
    const char* v = std::getenv(name);
    if (v == nullptr) return std::nullopt;
    return std::string(v);
}
std::optional<std::string> get_nonempty(const char* name) {
    auto v = get(name);
    if (v && v->empty()) return std::nullopt;
    return v;
}
}  // namespace

std::optional<std::string> plugin_path() {
    return get_nonempty("MPROC_PLUGIN_PATH");
}
std::optional<std::string> plugin_system_path() {
    return get("MPROC_PLUGIN_SYSTEM_PATH");
}
std::optional<std::string> start_method() {
    return get_nonempty("MPROC_START_METHOD");
}
std::optional<std::string> serializer() {
    return get_nonempty("MPROC_SERIALIZER");
}
std::optional<std::string> tmpdir() {
    return get_nonempty("TMPDIR");
}
std::optional<std::string> manager_spin_us() {
    return get_nonempty("MPROC_MANAGER_SPIN_US");
}

bool exec_child() {
    return get(plugin::exec_child_env).has_value();
}
void clear_exec_child() {
    unset(plugin::exec_child_env);
}

}  // namespace mproc::env
