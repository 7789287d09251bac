// How a program is started as an exec child or a backend helper: the
// command-line flags and the environment variable the core and the
// exec-based backends agree on.
#pragma once

namespace mproc::plugin {

/// argv[1] of a program started as an exec child: argv[2] is the fd of the
/// bootstrap message, argv[3] the number of handles, at the fds after it.
inline constexpr const char* exec_child_flag = "--mproc-exec-child";
/// argv[1] of a program started as a backend helper (see
/// ContextBackend::run_helper): argv[2] is the backend's name.
inline constexpr const char* helper_flag = "--mproc-helper";
/// Set in the environment of every program started as an exec child or
/// helper: an mproc call before freeze_support() then fails clearly instead
/// of running main() again (a fork bomb).
inline constexpr const char* exec_child_env = "MPROC_EXEC_CHILD";

}  // namespace mproc::plugin
