// Writing to standard error without stdio (internal to core): safe in a
// fork child and before anything is set up.
#pragma once

#include <string_view>

namespace mproc::detail {

/// Writes all of msg to standard error, unbuffered.
void write_to_stderr(std::string_view msg);

}  // namespace mproc::detail
