// Timeouts as std::chrono durations, following Python's rules.
//
//   p.join();          // no timeout (Python: None)
//   p.join(250ms);     // any std::chrono duration
//   conn.poll(-1s);    // negative means "do not wait", as in Python
#pragma once

#include <chrono>
#include <optional>

namespace mproc {

/// An optional timeout in (fractional) seconds; std::nullopt waits forever.
using Timeout = std::optional<std::chrono::duration<double>>;

}  // namespace mproc
