// Plugin discovery and validation on Boost.DLL. Plugins stay loaded for the
// life of the program: objects they made may live until exit.
#include "plugin/plugin_registry.hpp"

#include <algorithm>
#include <atomic>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>

#include <mproc/errors.hpp>

#include "base/environment.hpp"
#include "base/fork_guard.hpp"

namespace mproc::detail {

namespace fs = std::filesystem;

namespace {

ForkGuarded<std::recursive_mutex> registry_mutex;

std::map<std::pair<plugin::PluginKind, std::string>, LoadedPlugin>& loaded_plugins() {
    static auto* m = new std::map<std::pair<plugin::PluginKind, std::string>, LoadedPlugin>();
    return *m;
}

std::vector<fs::path>& user_dirs() {
    static auto* v = new std::vector<fs::path>();
    return *v;
}

void append_path_list(std::vector<fs::path>& out, const std::string& list) {
    std::stringstream ss(list);
    std::string item;
    while (std::getline(ss, item, env::path_list_separator()))
        if (!item.empty()) out.emplace_back(item);
}

// The plugin directories of the build tree libmproc was loaded from: meson
// writes them, one a line, into a file beside the build tree's libmproc,
// which is not installed (an installed libmproc holds no build-tree path).
void append_build_tree_directories(std::vector<fs::path>& dirs, const fs::path& libdir) {
    std::ifstream in(libdir / "mproc-build-plugin-dirs.txt");
    std::string line;
    while (std::getline(in, line))
        if (!line.empty()) dirs.emplace_back(line);
}

std::string kind_name(plugin::PluginKind kind) {
    return kind == plugin::PluginKind::start_method ? "start method" : "serializer";
}

// Plugins linked into the program with MPROC_LINK_PLUGIN: a list whose head
// is constant-initialised, so that link_plugin works before any static
// object of libmproc is made.
constinit std::atomic<plugin::LinkedPlugin*> linked_head{nullptr};

// Is libmproc linked into the executable itself (a static build)? Then a
// plugin file, which links libmproc.so, would bring a second core.
bool core_is_static() {
    static const bool is_static = [] {
        boost::dll::fs::error_code ec1, ec2;
        auto here = boost::dll::this_line_location(ec1);
        auto exe = boost::dll::program_location(ec2);
        std::error_code ec;
        return !ec1 && !ec2 && fs::equivalent(here, exe, ec);
    }();
    return is_static;
}

// Checks a descriptor against what is asked for; on refusal says why.
bool check_descriptor(const plugin::PluginInfo* info, plugin::PluginKind kind,
                      std::string_view name, std::string& why) {
    if (info == nullptr) {
        why = "mproc_plugin_entry returned no descriptor";
        return false;
    }
    if (info->abi_version != plugin::abi_version) {
        why = fmt::format("has plugin ABI version {}, this libmproc expects {}", info->abi_version,
                          plugin::abi_version);
        return false;
    }
    if (std::string_view(info->toolchain) != MPROC_TOOLCHAIN_TAG) {
        why = fmt::format("was built with toolchain '{}', this libmproc with '{}'", info->toolchain,
                          MPROC_TOOLCHAIN_TAG);
        return false;
    }
    if (info->kind != kind) {
        why = fmt::format("is not a {} plugin", kind_name(kind));
        return false;
    }
    if (std::string_view(info->name) != name) {
        why = fmt::format("declares the name '{}' but its file name says '{}'", info->name, name);
        return false;
    }
    if (info->factory == nullptr) {
        why = "has no factory";
        return false;
    }
    return true;
}

// Loads and validates one candidate; on refusal returns nullopt and says why.
std::optional<LoadedPlugin> try_load(const fs::path& file, plugin::PluginKind kind,
                                     std::string_view name, std::string& why) {
    if (core_is_static()) {
        why =
            "cannot be loaded: mproc is linked statically into this program (link the plugin "
            "in instead: MPROC_LINK_PLUGIN, docs/plugins.md)";
        return std::nullopt;
    }
    auto lib = std::make_unique<boost::dll::shared_library>();
    boost::dll::fs::error_code ec;
    lib->load(file, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local, ec);
    if (ec) {
        why = "cannot be loaded: " + ec.message();
        return std::nullopt;
    }
    if (!lib->has("mproc_plugin_entry")) {
        why = "has no mproc_plugin_entry symbol (not an mproc plugin)";
        return std::nullopt;
    }
    auto& entry = lib->get_alias<plugin::EntryFunction>("mproc_plugin_entry");
    const plugin::PluginInfo* info = entry();
    if (!check_descriptor(info, kind, name, why)) return std::nullopt;
    void* instance = info->factory(plugin_host());
    if (instance == nullptr) {
        why = "its factory returned nothing";
        return std::nullopt;
    }
    // Never unloaded: objects the plugin made may live until exit.
    static auto* resident = new std::vector<std::unique_ptr<boost::dll::shared_library>>();
    resident->push_back(std::move(lib));
    return LoadedPlugin{file, info, instance};
}

// A plugin in the program: built into libmproc, or linked in by it.
struct InProgram {
    const plugin::PluginInfo* info;
    const char* origin;
};

// The plugins in the program, built-ins first (the caller holds
// registry_mutex).
std::vector<InProgram> in_program_plugins() {
    std::vector<InProgram> out;
    for (auto* entry : builtin_plugin_entries()) out.push_back({entry(), "built in"});
    std::vector<InProgram> linked;
    for (auto* p = linked_head.load(std::memory_order_acquire); p != nullptr; p = p->next)
        linked.push_back({p->entry(), "linked in"});
    // link_plugin pushes at the head: the program's order is the reverse.
    out.insert(out.end(), linked.rbegin(), linked.rend());
    return out;
}

// The plugin in the program of this kind and name, if any.
const plugin::PluginInfo* in_program(plugin::PluginKind kind, std::string_view name,
                                     const char** origin = nullptr) {
    for (const auto& p : in_program_plugins()) {
        if (p.info != nullptr && p.info->kind == kind && std::string_view(p.info->name) == name) {
            if (origin != nullptr) *origin = p.origin;
            return p.info;
        }
    }
    return nullptr;
}

// The plugin files of a kind in one directory, sorted by name, each with
// the plugin name its file name gives.
std::vector<std::pair<std::string, fs::path>> plugin_files_in(const fs::path& dir,
                                                              plugin::PluginKind kind) {
    std::vector<std::pair<std::string, fs::path>> out;
    auto prefix = plugin_file_prefix(kind);
    auto suffix = plugin_file_suffix();
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
        auto f = e.path().filename().string();
        if (f.size() > prefix.size() + suffix.size() && f.starts_with(prefix) &&
            f.ends_with(suffix))
            out.emplace_back(f.substr(prefix.size(), f.size() - prefix.size() - suffix.size()),
                             e.path());
    }
    std::sort(out.begin(), out.end());
    return out;
}

// Candidate names of a kind found on the search path, in order.
std::vector<std::string> candidate_names(plugin::PluginKind kind) {
    std::vector<std::string> names;
    for (const auto& dir : plugin_search_path())
        for (auto& [n, file] : plugin_files_in(dir, kind))
            if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
    return names;
}

}  // namespace

std::string_view plugin_file_prefix(plugin::PluginKind kind) {
    return kind == plugin::PluginKind::start_method ? "mproc-backend-" : "mproc-serializer-";
}

std::string_view plugin_file_suffix() {
    static const std::string s = boost::dll::shared_library::suffix().string();
    return s;
}

void add_user_plugin_directory(const fs::path& dir) {
    std::lock_guard lock(registry_mutex);
    user_dirs().insert(user_dirs().begin(), dir);
}

std::vector<fs::path> loaded_plugin_directories() {
    std::lock_guard lock(registry_mutex);
    std::vector<fs::path> dirs;
    for (const auto& [key, p] : loaded_plugins()) {
        if (p.file.empty()) continue;  // built in or linked in
        auto dir = p.file.parent_path();
        if (std::find(dirs.begin(), dirs.end(), dir) == dirs.end()) dirs.push_back(dir);
    }
    return dirs;
}

std::vector<fs::path> user_plugin_directories() {
    std::lock_guard lock(registry_mutex);
    return user_dirs();
}

namespace {

// The directories named by the program and MPROC_PLUGIN_PATH, in order.
std::vector<fs::path> named_directories() {
    std::vector<fs::path> dirs;
    {
        std::lock_guard lock(registry_mutex);
        dirs = user_dirs();
    }
    if (auto p = env::plugin_path()) append_path_list(dirs, *p);
    return dirs;
}

// The directories searched after those: MPROC_PLUGIN_SYSTEM_PATH, or the
// build tree's (when libmproc runs from it), the program's and libmproc's.
std::vector<fs::path> default_directories() {
    std::vector<fs::path> dirs;
    if (auto sys = env::plugin_system_path()) {
        append_path_list(dirs, *sys);
        return dirs;
    }
    boost::dll::fs::error_code ec;
    fs::path libdir = boost::dll::this_line_location(ec).parent_path();
    if (!ec) append_build_tree_directories(dirs, libdir);
    fs::path exe = boost::dll::program_location(ec);
    if (!ec) dirs.push_back(exe.parent_path() / "mproc-plugins");
    if (!libdir.empty()) dirs.push_back(libdir / "mproc" / "plugins");
    dirs.emplace_back(MPROC_PLUGIN_INSTALL_DIR);
    return dirs;
}

}  // namespace

std::vector<fs::path> plugin_search_path() {
    auto dirs = named_directories();
    for (auto& d : default_directories()) dirs.push_back(std::move(d));
    return dirs;
}

namespace {

// The plugin of this kind and name if one loads; records why candidates were
// refused. The caller holds registry_mutex.
const LoadedPlugin* find_and_load(plugin::PluginKind kind, std::string_view name,
                                  std::vector<std::string>& refusals) {
    auto key = std::make_pair(kind, std::string(name));
    if (auto it = loaded_plugins().find(key); it != loaded_plugins().end()) return &it->second;
    // A plugin in the program wins over any file of the same name, which is
    // not even looked at.
    if (const char* origin = nullptr; auto* info = in_program(kind, name, &origin)) {
        std::string why;
        if (!check_descriptor(info, kind, name, why)) {
            refusals.push_back(fmt::format("the {} {} {}", origin, kind_name(kind), why));
            return nullptr;
        }
        void* instance = info->factory(plugin_host());
        if (instance == nullptr) {
            refusals.push_back(
                fmt::format("the {} {}'s factory returned nothing", origin, kind_name(kind)));
            return nullptr;
        }
        return &loaded_plugins().emplace(key, LoadedPlugin{{}, info, instance}).first->second;
    }
    if (name.empty() || name.find('/') != std::string_view::npos) return nullptr;
    auto file_name = std::string(plugin_file_prefix(kind)) + std::string(name) +
                     std::string(plugin_file_suffix());
    // The named directories first, and the default ones only if needed: a
    // spawned child, told where its parent's plugins are, then looks nowhere
    // else (each place looked at costs system calls).
    auto try_in = [&](const std::vector<fs::path>& dirs) -> const LoadedPlugin* {
        for (const auto& dir : dirs) {
            auto file = dir / file_name;
            std::error_code ec;
            if (!fs::exists(file, ec)) continue;
            std::string why;
            if (auto p = try_load(file, kind, name, why))
                return &loaded_plugins().emplace(key, *p).first->second;
            refusals.push_back(fmt::format("{} {}", file.string(), why));
        }
        return nullptr;
    };
    if (auto* p = try_in(named_directories())) return p;
    if (auto* p = try_in(default_directories())) return p;
    return nullptr;
}

}  // namespace

const LoadedPlugin& load_plugin(plugin::PluginKind kind, std::string_view name) {
    std::lock_guard lock(registry_mutex);
    std::vector<std::string> refusals;
    if (auto* p = find_and_load(kind, name, refusals)) return *p;
    auto available = loadable_plugins(kind);
    std::string msg = fmt::format(
        "no {} named '{}' could be loaded; available: {}", kind_name(kind), name,
        available.empty() ? std::string("none") : fmt::format("{}", fmt::join(available, ", ")));
    auto built =
        kind == plugin::PluginKind::start_method ? built_start_methods() : built_serializers();
    if (in_program(kind, name) == nullptr)
        msg +=
            fmt::format("; '{}' is not built into this program (this mproc was built with {}s: {})",
                        name, kind_name(kind), built.empty() ? "none" : built);
    for (const auto& r : refusals) msg += "; refused: " + r;
    if (refusals.empty()) {
        std::vector<std::string> dirs;
        for (const auto& d : plugin_search_path()) dirs.push_back(d.string());
        msg += fmt::format(
            "; no file {}{}{} on the plugin path ({})", plugin_file_prefix(kind), name,
            plugin_file_suffix(),
            dirs.empty()
                ? std::string("which is empty")
                : fmt::format("{}", fmt::join(dirs, std::string(1, env::path_list_separator()))));
    }
    throw PluginError(msg);
}

std::vector<std::string> loadable_plugins(plugin::PluginKind kind) {
    std::lock_guard lock(registry_mutex);
    std::vector<std::string> out;
    auto names = candidate_names(kind);
    auto in_prog = in_program_plugins();
    for (auto it = in_prog.rbegin(); it != in_prog.rend(); ++it) {
        if (it->info == nullptr || it->info->kind != kind) continue;
        std::string n = it->info->name;
        std::erase(names, n);
        names.insert(names.begin(), n);
    }
    for (const auto& n : names) {
        std::vector<std::string> ignored;
        if (find_and_load(kind, n, ignored)) out.push_back(n);
    }
    return out;
}

}  // namespace mproc::detail

namespace mproc::detail {

std::vector<PluginCatalogEntry> plugin_catalog() {
    std::lock_guard lock(registry_mutex);
    std::vector<PluginCatalogEntry> out;
    for (const auto& p : in_program_plugins()) {
        if (p.info == nullptr) continue;
        PluginCatalogEntry e{p.info->kind, p.info->name, p.origin, {}, {}};
        std::vector<std::string> refusals;
        if (find_and_load(p.info->kind, e.name, refusals) == nullptr)
            e.refused = refusals.empty() ? "cannot be loaded" : refusals.front();
        out.push_back(std::move(e));
    }
    for (auto kind : {plugin::PluginKind::start_method, plugin::PluginKind::serializer}) {
        for (const auto& dir : plugin_search_path()) {
            for (const auto& [name, file] : plugin_files_in(dir, kind)) {
                PluginCatalogEntry e{kind, name, {}, file, {}};
                if (const char* origin = nullptr; in_program(kind, e.name, &origin)) {
                    bool builtin = origin == std::string_view("built in");
                    e.refused =
                        fmt::format("a {} {} named '{}' exists ({}): this file is not loaded",
                                    builtin ? "built-in" : "linked-in", kind_name(kind), e.name,
                                    builtin ? "compiled into libmproc" : "linked into the program");
                } else {
                    std::vector<std::string> refusals;
                    auto* p = find_and_load(kind, e.name, refusals);
                    if (p == nullptr) {
                        e.refused = "cannot be loaded";
                        for (const auto& r : refusals)
                            if (r.starts_with(file.string() + " "))
                                e.refused = r.substr(file.string().size() + 1);
                    } else if (std::error_code ec; !fs::equivalent(p->file, file, ec)) {
                        e.refused =
                            fmt::format("not used: {} of the same name is", p->file.string());
                    }
                }
                out.push_back(std::move(e));
            }
        }
    }
    return out;
}

}  // namespace mproc::detail

namespace mproc::plugin {

void link_plugin(LinkedPlugin& plugin) noexcept {
    auto* head = detail::linked_head.load(std::memory_order_relaxed);
    do {
        plugin.next = head;
    } while (!detail::linked_head.compare_exchange_weak(head, &plugin, std::memory_order_release,
                                                        std::memory_order_relaxed));
}

}  // namespace mproc::plugin
