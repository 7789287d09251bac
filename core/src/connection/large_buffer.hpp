// Large receive buffers (issue 13 item 11): a fresh 64 MiB buffer costs
// 16 384 zero-fill page faults (several microseconds each on a VM), more than
// copying the bytes through the pipe. Asking for transparent huge pages on the
// buffer makes that 32 faults.
#pragma once

#include <cstddef>

namespace mproc::detail {

/// From this size on, a receive buffer is worth advising.
inline constexpr std::size_t large_buffer_size = std::size_t(4) << 20;

/// Advises the kernel that [p, p + n), memory not yet touched, will all be
/// written soon (huge pages where the system allows them on request). Only a
/// hint: does nothing where unsupported.
void advise_large_buffer(void* p, std::size_t n) noexcept;

}  // namespace mproc::detail
