// Waiting on file descriptors with Python's timeout rules (internal).
#pragma once

#include <span>
#include <vector>

#include <mproc/timeout.hpp>

namespace mproc::detail {

/// True if fd is readable (or at end of stream / hung up) within timeout.
bool poll_readable(int fd, Timeout timeout);
/// Indexes of the fds that are readable within timeout (empty on timeout).
std::vector<std::size_t> poll_readable(std::span<const int> fds, Timeout timeout);

}  // namespace mproc::detail
