// Contexts: the default start method and the per-method backends.
#include <mproc/context.hpp>

#include <algorithm>
#include <mutex>

#include <fmt/format.h>

#include <mproc/plugin/abi.hpp>
#include <mproc/plugin/backend.hpp>
#include <mproc/plugins.hpp>

#include "base/environment.hpp"
#include "base/fork_guard.hpp"
#include "base/record_pool.hpp"
#include "plugin/plugin_registry.hpp"
#include "process/exec_child.hpp"
#include "process/process_state.hpp"

namespace mproc {

namespace plugin {
ContextBackend::~ContextBackend() = default;
ProcessHandle::~ProcessHandle() = default;

// A start method's handles come from the process record pool.
void* ProcessHandle::operator new(std::size_t size) {
    return detail::record_allocate(size);
}
void ProcessHandle::operator delete(void* p) {
    detail::record_deallocate(p);
}
ConnectionImpl::~ConnectionImpl() = default;

void ConnectionImpl::encode(Encoder&) const {
    throw ProcessError("this connection has no carrier of its own to encode it");
}

std::unique_ptr<ConnectionImpl> ContextBackend::attach_connection(Decoder&) {
    throw SerializationError(fmt::format(
        "start method '{}' does not carry connections its own way, but one arrived for it",
        name()));
}
}  // namespace plugin

namespace {

detail::ForkGuardedMutex default_mutex;
std::optional<std::string> actual_default;  // set once the default is fixed

// Applies the start method a fork child was started with by a concrete
// context (Python's _force_start_method in _bootstrap), once, on first use:
// the child itself only wrote a pointer.
void apply_inherited_method() {
    if (const auto* b = detail::inherited_start_method) {
        detail::inherited_start_method = nullptr;
        actual_default = std::string(b->name());
    }
}

std::string platform_default() {
    // Python's default on Linux (up to 3.13) is fork.
    return env::start_method().value_or("fork");
}

}  // namespace

std::string_view Context::get_start_method() const {
    return backend_->name();
}

std::pair<Connection, Connection> Context::Pipe(bool duplex) const {
    auto [a, b] = backend_->make_pipe(duplex);
    return {Connection(std::move(a), true, duplex), Connection(std::move(b), duplex, true)};
}

std::pair<Connection, Connection> Pipe(bool duplex) {
    return get_context().Pipe(duplex);
}

Context get_context(std::optional<std::string_view> method) {
    detail::check_bootstrapped();
    if (!method) return get_context(*get_start_method(false));
    const detail::LoadedPlugin* p = nullptr;
    try {
        p = &detail::load_plugin(plugin::PluginKind::start_method, *method);
    } catch (const PluginError& e) {
        throw PluginError(fmt::format("cannot find context for '{}': {}", *method, e.what()));
    }
    return Context(*static_cast<plugin::ContextBackend*>(p->instance));
}

Context Context::get_context(std::optional<std::string_view> method) const {
    if (!method) return *this;
    return ::mproc::get_context(method);
}

void set_start_method(std::string_view method, bool force) {
    std::unique_lock lock(default_mutex);
    apply_inherited_method();
    if (actual_default && !force) throw ValueError("context has already been set");
    lock.unlock();
    get_context(method);  // loads it, or throws naming what is available
    lock.lock();
    actual_default = std::string(method);
}

void detail::set_default_start_method(std::string name) {
    std::lock_guard lock(default_mutex);
    inherited_start_method = nullptr;
    actual_default = std::move(name);
}

std::optional<std::string> get_start_method(bool allow_none) {
    std::lock_guard lock(default_mutex);
    apply_inherited_method();
    if (!actual_default) {
        if (allow_none) return std::nullopt;
        actual_default = platform_default();
    }
    return actual_default;
}

std::vector<std::string> get_all_start_methods() {
    auto names = detail::loadable_plugins(plugin::PluginKind::start_method);
    std::string def;
    {
        std::lock_guard lock(default_mutex);
        apply_inherited_method();
        def = actual_default.value_or(platform_default());
    }
    // Python's order (its _concrete_contexts), the default moved first.
    auto rank = [&](const std::string& n) {
        if (n == def) return 0;
        if (n == "fork") return 1;
        if (n == "spawn") return 2;
        if (n == "forkserver") return 3;
        return 4;
    };
    std::stable_sort(names.begin(), names.end(),
                     [&](const std::string& a, const std::string& b) { return rank(a) < rank(b); });
    return names;
}

namespace {
std::vector<std::string>& preload_list() {
    static auto* v = new std::vector<std::string>();
    return *v;
}
}  // namespace

void set_forkserver_preload(std::vector<std::string> libraries) {
    std::lock_guard lock(default_mutex);
    preload_list() = std::move(libraries);
}

std::vector<std::string> get_forkserver_preload() {
    std::lock_guard lock(default_mutex);
    return preload_list();
}

void add_plugin_directory(const std::filesystem::path& dir) {
    detail::add_user_plugin_directory(dir);
}

std::vector<std::filesystem::path> plugin_directories() {
    return detail::plugin_search_path();
}

// Issue 17: built-in and linked-in plugins beside the files.
std::vector<PluginListing> list_plugins() {
    std::vector<PluginListing> out;
    for (auto& e : detail::plugin_catalog())
        out.push_back({e.kind == plugin::PluginKind::start_method ? "start method" : "serializer",
                       std::move(e.name), std::move(e.origin), std::move(e.file),
                       std::move(e.refused)});
    return out;
}

}  // namespace mproc
