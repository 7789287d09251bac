// The Host table: the services the core hands every plugin's factory (see
// <mproc/plugin/host.hpp>). The plugin registry passes it on; it is made
// here, in the process layer, where the services live.
#include <mproc/plugin/host.hpp>

#include <string>

#include <mproc/callable.hpp>
#include <mproc/context.hpp>
#include <mproc/plugin/backend.hpp>
#include <mproc/serializer.hpp>

#include "base/environment.hpp"
#include "plugin/plugin_registry.hpp"
#include "process/exec_child.hpp"
#include "process/exit_hooks.hpp"

namespace mproc {

int plugin::ContextBackend::run_helper(int, char**) {
    throw ValueError(std::string("start method '") + std::string(name()) + "' has no helper mode");
}

namespace detail {
namespace {

int run_exec_child_service(std::span<const std::byte> payload,
                           std::span<const plugin::NativeHandle> handles) {
    return run_exec_child(payload, handles);
}

// The program's named directories, then those its plugins were found in: a
// child looks there first, and mostly nowhere else.
std::string child_plugin_path() {
    const char sep = env::path_list_separator();
    std::string out;
    for (const auto& d : user_plugin_directories()) out += d.string() + sep;
    if (auto p = env::plugin_path()) out += *p + sep;
    for (const auto& d : loaded_plugin_directories()) out += d.string() + sep;
    if (!out.empty() && out.back() == sep) out.pop_back();
    return out;
}

std::string child_executable() {
    auto exe = get_executable();
    if (!exe.empty()) return exe.string();
    return env::own_executable();
}

}  // namespace

const plugin::Host& plugin_host() {
    static const plugin::Host host = {
        &at_process_exit,        &child_plugin_path,      &child_executable,
        &run_exec_child_service, &get_forkserver_preload, &default_serializer,
    };
    return host;
}

}  // namespace detail
}  // namespace mproc
