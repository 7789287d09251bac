// Shared memory for the POSIX start methods: an anonymous memfd, mapped
// MAP_SHARED. Nothing has a name, so nothing can leak: the memory goes when
// the last process holding the fd or a mapping ends.
#pragma once

#include <mproc/export.hpp>

#include <cstddef>
#include <memory>

#include <mproc/plugin/backend.hpp>

namespace mproc::posix {

/// New zero-filled shared memory (close-on-exec fd).
MPROC_API std::unique_ptr<plugin::SharedMemoryImpl> make_memfd_shared_memory(std::size_t size);

/// Maps a memfd received from another process (fd stays the caller's).
MPROC_API std::unique_ptr<plugin::SharedMemoryImpl> attach_memfd_shared_memory(int fd,
                                                                               std::size_t size);

}  // namespace mproc::posix
