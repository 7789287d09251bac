// Functions run when this process ends normally (internal to core): the
// main program at exit, every child after its target, after its children
// were joined. Plugins reach it through their Host table.
#pragma once

namespace mproc::detail {

/// Registers hook. A fork child inherits the registrations: a hook checks
/// who it runs in.
void at_process_exit(void (*hook)());

}  // namespace mproc::detail
