// Random bytes from the kernel's CSPRNG (internal to core).
#pragma once

#include <cstddef>
#include <vector>

namespace mproc::detail {

/// n bytes from getrandom(2); throws std::system_error if it fails.
std::vector<std::byte> random_bytes(std::size_t n);

}  // namespace mproc::detail
