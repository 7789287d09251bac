// Plugins in the program: linking one in (MPROC_LINK_PLUGIN, from
// <mproc/plugin/abi.hpp>), and listing what this program has: the plugins
// built into libmproc or linked into the program, and the plugin files on
// the search path, with why each one that is not used is not
// (docs/plugins.md, "Linking plugins in").
//
//   #include <mproc/plugins.hpp>
//   MPROC_LINK_PLUGIN(start_method, "mine")  // mine.cpp is linked in too
//
//   for (const auto& p : mp::list_plugins())
//       fmt::print("{} {} {} {}\n", p.kind, p.name,
//                  p.builtin() ? p.origin : p.file.string(), p.refused);
#pragma once

#include <mproc/export.hpp>
#include <mproc/plugin/abi.hpp>  // MPROC_LINK_PLUGIN

#include <filesystem>
#include <string>
#include <vector>

namespace mproc {

/// One plugin this program has or found on its plugin path.
struct PluginListing {
    std::string kind;    ///< "start method" or "serializer"
    std::string name;    ///< what get_context() or get_serializer() take
    std::string origin;  ///< "built in" (libmproc), "linked in" (the program), or "" (a file)
    std::filesystem::path file;  ///< the plugin file (empty for a built-in)
    std::string refused;         ///< why this one is not used; empty if it is
    /// True for a plugin in the program (built in or linked in), not a file.
    bool builtin() const { return file.empty(); }
};

/// The plugins built into libmproc and linked into the program (in that
/// order), then every plugin file on the search path (plugin_directories()),
/// in search order. A file whose name is that of a plugin in the program is
/// refused ("a built-in start method named 'fork' exists"); listing loads
/// the other files to check them, as get_all_start_methods() does.
MPROC_API std::vector<PluginListing> list_plugins();

}  // namespace mproc
