// fork() for the POSIX start methods, exported by libmproc.
//
//   int pid = mproc::plugin::fork_and_run(req);  // in the parent
//
// The child runs req.child_main and exits with its result without running a
// line of the backend's code: a fork child pays a page fault for every page
// of code it runs, and libmproc keeps its whole child path together.
#pragma once

#include <mproc/export.hpp>
#include <mproc/plugin/backend.hpp>

namespace mproc::plugin {

/// Forks; the child calls req.child_main(req.child_arg) and _exits with its
/// result. Returns the child's pid; throws std::system_error if fork fails.
MPROC_API int fork_and_run(const LaunchRequest& req);

}  // namespace mproc::plugin
