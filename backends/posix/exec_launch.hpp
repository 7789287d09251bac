// Starting this program (or set_executable's) as a new process with only the
// descriptors it is given, via clone(CLONE_VM | CLONE_VFORK) and execve:
// shared by spawn and forkserver.
#pragma once

#include <sys/types.h>

#include <span>
#include <string>
#include <vector>

#include <mproc/plugin/backend.hpp>
#include <mproc/plugin/host.hpp>

namespace mproc::posix {

/// Starts the child program (host.child_executable()) with argv = {program, extra_args...}; the fds
/// in `pass` appear in the child at 3, 4, ... in order; stdin is /dev/null,
/// stdout and stderr are inherited, every other descriptor is closed. The
/// child's environment has MPROC_EXEC_CHILD set, and it starts with every
/// signal blocked (libmproc unblocks them before main). Returns the pid.
pid_t spawn_program(const plugin::Host& host, const std::vector<std::string>& extra_args,
                    std::span<const int> pass);

/// Writes all of buf to fd (EINTR-safe); throws std::system_error.
void write_all(int fd, std::span<const std::byte> buf);

}  // namespace mproc::posix
