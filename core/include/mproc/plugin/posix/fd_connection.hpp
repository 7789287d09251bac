// Connections over POSIX file descriptors, exported by libmproc for the
// POSIX start-method backends (fork, spawn, forkserver) and for Listener.
//
//   auto [a, b] = mproc::plugin::make_fd_pipe(true);
#pragma once

#include <mproc/export.hpp>

#include <cstddef>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include <mproc/plugin/backend.hpp>

namespace mproc::plugin {

/// A connection end reading rfd and writing wfd (either may be -1; they may
/// be the same socket). Takes ownership of the descriptors.
MPROC_API std::unique_ptr<ConnectionImpl> make_fd_connection(int rfd, int wfd);

/// A connected pair: a pipe, or when duplex a Unix stream socket pair, as
/// Python's Pipe (handles can cross it with send_handle, and it moves large
/// messages faster than two pipes; pipes move small ones faster). All
/// descriptors are close-on-exec.
MPROC_API std::pair<std::unique_ptr<ConnectionImpl>, std::unique_ptr<ConnectionImpl>> make_fd_pipe(
    bool duplex);

/// True if a handle (fd) is readable within timeout (Python's rules:
/// nullopt waits forever, negative means zero).
MPROC_API bool poll_handle(NativeHandle handle, Timeout timeout);

/// Most descriptors send_with_handles / recv_with_handles carry at once.
inline constexpr std::size_t max_passed_handles = 64;

/// Sends data (at least one byte) with descriptors attached (SCM_RIGHTS)
/// over a Unix socket; returns the bytes sent (sendmsg's result, -1 with
/// errno on failure). Never raises SIGPIPE.
MPROC_API long send_with_handles(int socket, std::span<const std::byte> data,
                                 std::span<const int> handles);

/// Receives into data with any attached descriptors appended to handles
/// (close-on-exec); returns recvmsg's result (-1 with errno on failure).
MPROC_API long recv_with_handles(int socket, std::span<std::byte> data,
                                 std::vector<NativeHandle>& handles);

/// Sets SIGPIPE to SIG_IGN if it is SIG_DFL (once), as Python does, so that
/// writing to a closed pipe is an error instead of death.
MPROC_API void ignore_sigpipe_once();

}  // namespace mproc::plugin
