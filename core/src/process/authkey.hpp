// Random bytes from the kernel's CSPRNG (internal to core).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace mproc::detail {

/// n bytes from getrandom(2); throws std::system_error if it fails.
std::vector<std::byte> random_bytes(std::size_t n);

/// A random 64-bit number (8 of random_bytes).
inline std::uint64_t random_u64() {
    const auto bytes = random_bytes(sizeof(std::uint64_t));
    std::uint64_t r = 0;
    std::memcpy(&r, bytes.data(), sizeof r);
    return r;
}

}  // namespace mproc::detail
