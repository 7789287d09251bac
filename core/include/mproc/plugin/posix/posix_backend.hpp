// What the POSIX start methods share as a ContextBackend: connections are
// pipes over file descriptors, semaphores are futexes in memfd shared memory.
#pragma once

#include <mproc/export.hpp>

#include <mproc/plugin/backend.hpp>
#include <mproc/plugin/posix/fd_connection.hpp>

#include <mproc/plugin/posix/futex_semaphore.hpp>
#include <mproc/plugin/posix/memfd_shared_memory.hpp>

namespace mproc::posix {

/// Base of the fork, spawn and forkserver backends.
class MPROC_API PosixBackend : public plugin::ContextBackend {
  public:
    std::pair<std::unique_ptr<plugin::ConnectionImpl>, std::unique_ptr<plugin::ConnectionImpl>>
    make_pipe(bool duplex) override {
        return plugin::make_fd_pipe(duplex);
    }
    std::unique_ptr<plugin::SharedMemoryImpl> make_shared_memory(std::size_t size) override {
        return make_memfd_shared_memory(size);
    }
    std::unique_ptr<plugin::SharedMemoryImpl> attach_shared_memory(plugin::NativeHandle handle,
                                                                   std::size_t size) override {
        return attach_memfd_shared_memory(int(handle), size);
    }
    std::size_t semaphore_state_size() const override { return futex_semaphore_state_size(); }
    std::unique_ptr<plugin::SemaphoreImpl> make_semaphore(std::span<std::byte> state,
                                                          plugin::SemaphoreKind kind, int value,
                                                          int max_value) override {
        return make_futex_semaphore(state, kind, value, max_value);
    }
    std::unique_ptr<plugin::SemaphoreImpl> attach_semaphore(std::span<std::byte> state) override {
        return attach_futex_semaphore(state);
    }
};

}  // namespace mproc::posix
