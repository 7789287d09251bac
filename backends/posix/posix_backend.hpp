// What the POSIX start methods share as a ContextBackend: connections are
// pipes over file descriptors.
#pragma once

#include <mproc/plugin/backend.hpp>
#include <mproc/plugin/fd_connection.hpp>

namespace mproc::posix {

/// Base of the fork, spawn and forkserver backends.
class PosixBackend : public plugin::ContextBackend {
  public:
    std::pair<std::unique_ptr<plugin::ConnectionImpl>, std::unique_ptr<plugin::ConnectionImpl>>
    make_pipe(bool duplex) override {
        return plugin::make_fd_pipe(duplex);
    }
};

}  // namespace mproc::posix
