// Memory shared between processes as a start method makes it (part of the
// plugin ABI, see backend.hpp).
#pragma once

#include <mproc/export.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>

#include <mproc/plugin/host.hpp>

namespace mproc::plugin {

/// A block of memory shared between processes (memfd on Linux, a file
/// mapping on Windows). Mapped for the object's life; the memory itself is
/// released by the OS when the last process unmaps it and closes its handle.
class MPROC_API SharedMemoryImpl {
  public:
    virtual ~SharedMemoryImpl();
    /// The mapped bytes (zero-filled when made).
    virtual std::span<std::byte> data() const = 0;
    /// The handle that crosses into a child (see ContextBackend::attach_shared_memory).
    virtual NativeHandle native_handle() const = 0;
    /// Two numbers equal for every mapping of the same memory, in any
    /// process (on Linux the device and inode of the memfd): how the core
    /// finds that memory received twice is mapped already.
    virtual std::pair<std::uint64_t, std::uint64_t> identity() const = 0;
};

}  // namespace mproc::plugin
