// Handles sent inside messages (a Connection sent over a Connection): the
// sender keeps duplicates until the receiver fetches them from it (internal
// to core; Python's resource_sharer).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace mproc::detail {

/// Where and under which key a receiver fetches shared handles.
struct SharedHandles {
    std::string address;
    std::vector<std::byte> key;
};

/// Duplicates the handles and keeps them until a process fetches them with
/// the returned key (or this process ends).
SharedHandles share_handles(std::span<const std::intptr_t> handles);

/// Fetches `count` handles shared by another process; throws ProcessError if
/// it is gone or refuses.
std::vector<std::intptr_t> fetch_handles(const SharedHandles& from, std::size_t count);

}  // namespace mproc::detail
