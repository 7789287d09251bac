// Finding, validating and loading plugins (internal to core).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <mproc/plugin/abi.hpp>
#include <mproc/plugin/host.hpp>

namespace mproc::detail {

/// A loaded, validated plugin. Never unloaded.
struct LoadedPlugin {
    std::filesystem::path file;
    const plugin::PluginInfo* info;
    void* instance;  ///< what info->factory() returned
};

/// The services every plugin's factory is given (made by the process
/// layer: core/src/process/host.cpp).
const plugin::Host& plugin_host();

/// The plugin of this kind and name, loading it on first use; throws
/// PluginError listing what exists and why each candidate was refused.
const LoadedPlugin& load_plugin(plugin::PluginKind kind, std::string_view name);
/// Names of the plugins of this kind that load, in search order.
std::vector<std::string> loadable_plugins(plugin::PluginKind kind);

/// The file name prefix for a kind: "mproc-backend-" or "mproc-serializer-".
std::string_view plugin_file_prefix(plugin::PluginKind kind);
/// Plugin search directories, in order (see docs/plugins.md).
std::vector<std::filesystem::path> plugin_search_path();
/// Directories given with add_plugin_directory, first of all.
void add_user_plugin_directory(const std::filesystem::path& dir);
/// The directories given with add_plugin_directory, first first.
std::vector<std::filesystem::path> user_plugin_directories();
/// The directories the plugins loaded so far came from (each once).
std::vector<std::filesystem::path> loaded_plugin_directories();
/// The file extension of shared libraries here (".so").
std::string_view plugin_file_suffix();

}  // namespace mproc::detail
