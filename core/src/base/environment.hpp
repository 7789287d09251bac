// Every environment variable mproc reads is read here (and listed in
// docs/environment.md).
#pragma once

#include <optional>
#include <string>

namespace mproc::env {

/// MPROC_PLUGIN_PATH: extra plugin directories, separated by
/// path_list_separator() (':' on POSIX, ';' on Windows), searched
/// after those added in code.
std::optional<std::string> plugin_path();
/// MPROC_PLUGIN_SYSTEM_PATH: when set (even empty), replaces the built-in
/// directories (build tree, next to the executable, next to libmproc,
/// install dir). Tests set it empty to blank the system path.
std::optional<std::string> plugin_system_path();
/// MPROC_START_METHOD: the default start method.
std::optional<std::string> start_method();
/// MPROC_SERIALIZER: the default serializer.
std::optional<std::string> serializer();
/// TMPDIR: where a Listener's private directory for a default AF_UNIX
/// address goes (else /tmp), as Python's tempfile.
std::optional<std::string> tmpdir();
/// MPROC_MANAGER_SPIN_US: how long a manager client waits for a reply, and a
/// server thread for the next request, polling before it sleeps.
std::optional<std::string> manager_spin_us();

/// MPROC_EXEC_CHILD: set by mproc in programs it starts as exec children.
bool exec_child();
/// Removes MPROC_EXEC_CHILD (once this program has bootstrapped).
void clear_exec_child();

// Platform parts (environment_linux.cpp).

/// What separates directories in a list of them (':' on POSIX, ';' on
/// Windows, where ':' is part of a drive letter).
char path_list_separator() noexcept;
/// Removes a variable from this process's environment.
void unset(const char* name);
/// A path that starts this very program again (/proc/self/exe on Linux).
std::string own_executable();

}  // namespace mproc::env
