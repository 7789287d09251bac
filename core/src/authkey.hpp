// Random bytes from a CSPRNG (OpenSSL; internal to core).
#pragma once

#include <cstddef>
#include <vector>

namespace mproc::detail {

/// n bytes from OpenSSL RAND_bytes; throws ProcessError if it fails.
std::vector<std::byte> random_bytes(std::size_t n);

}  // namespace mproc::detail
