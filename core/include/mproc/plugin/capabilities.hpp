// What a start method's processes can do and share (part of the plugin ABI,
// see backend.hpp).
#pragma once

#include <mproc/export.hpp>

#include <cstdint>
#include <initializer_list>

namespace mproc::plugin {

/// What a start method's processes can do and share. The core checks these
/// and refuses, naming the start method, an object that needs one the
/// backend lacks (a Lock where processes share no memory).
enum class Capability : std::uint32_t {
    /// Any callable (lambdas with captures, std::function) can be a target:
    /// the child is a copy of the parent (fork).
    runs_closures = 1u << 0,
    /// make_shared_memory works: the processes share memory (Value, Array,
    /// Queue's ring, the state of locks).
    shared_memory = 1u << 1,
    /// make_semaphore works: process-shared semaphores (Lock, RLock,
    /// Semaphore, Condition, Event, Barrier; Queue).
    shared_semaphores = 1u << 2,
    /// Native handles are POSIX file descriptors (Listener connections and
    /// sockets can be used with this backend's processes).
    fd_handles = 1u << 3,
    /// ProcessHandle::sentinel() can be waited on with mproc::wait.
    pollable_sentinels = 1u << 4,
    /// OS handles (connections, shared memory) cross into children: by
    /// inheritance or by passing them (fd passing, DuplicateHandle).
    handle_passing = 1u << 5,
};

/// A set of Capability values.
class MPROC_API Capabilities {
  public:
    constexpr Capabilities() noexcept = default;
    constexpr Capabilities(std::initializer_list<Capability> caps) noexcept {
        for (auto c : caps) bits_ |= std::uint32_t(c);
    }
    /// True if c is in the set.
    constexpr bool has(Capability c) const noexcept { return (bits_ & std::uint32_t(c)) != 0; }
    /// The set as bits (Capability values or-ed).
    constexpr std::uint32_t bits() const noexcept { return bits_; }

  private:
    std::uint32_t bits_ = 0;
};

/// The capabilities of a POSIX start method whose processes share memory,
/// semaphores and file descriptors (spawn, forkserver; fork adds runs_closures).
inline constexpr Capabilities posix_capabilities{
    Capability::shared_memory, Capability::shared_semaphores, Capability::fd_handles,
    Capability::pollable_sentinels, Capability::handle_passing};

}  // namespace mproc::plugin
