// What the logger needs of the process layer above it (internal to core):
// the current process's name for each record, and a call when logging to
// stderr begins (so that the exit messages are logged). The process layer
// sets them when libmproc loads (core/src/process/process.cpp).
#pragma once

#include <string>

namespace mproc::detail {

struct LoggingHooks {
    std::string (*process_name)();  ///< the calling process's name
    void (*logging_enabled)();      ///< log_to_stderr was called
};

/// The hooks (defaults: "MainProcess", nothing).
LoggingHooks& logging_hooks();

}  // namespace mproc::detail
