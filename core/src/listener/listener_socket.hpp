// The platform half of Listener and Client: bound sockets, accept, connect
// (internal to core; listener_linux.cpp on POSIX).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <mproc/listener.hpp>

namespace mproc::connection::detail {

/// A bound, listening socket.
class SocketListener {
  public:
    /// Binds address (an empty one gets an arbitrary address of family) and
    /// listens.
    SocketListener(const Address& address, Family family, int backlog);
    ~SocketListener();
    SocketListener(const SocketListener&) = delete;
    SocketListener& operator=(const SocketListener&) = delete;

    /// The next connected client and its address; nullopt if none came
    /// within timeout.
    std::optional<std::pair<Connection, Address>> accept(Timeout timeout);
    /// Closes the socket; the creating process also removes the socket file
    /// and any private directory.
    void close() noexcept;
    /// True once closed.
    bool closed() const noexcept { return fd_ < 0; }
    /// The bound address.
    const Address& address() const noexcept { return address_; }
    /// The family.
    Family family() const noexcept { return family_; }
    /// The listening socket.
    int fileno() const noexcept { return fd_; }

  private:
    int fd_ = -1;
    Family family_;
    Address address_;
    std::string unlink_path_;  // the socket file to remove on close
    std::string private_dir_;  // the directory to remove on close
    int owner_pid_ = 0;        // only the creating process removes files
};

/// A connected socket to address.
Connection connect_socket(const Address& address, Family family);

/// Bounds each blocking read of a socket connection (SO_RCVTIMEO; nullopt:
/// no bound), so that a client that stops in the middle of a handshake
/// message cannot hold accept(): the read fails with EAGAIN.
void set_receive_timeout(const Connection& conn, Timeout timeout);

}  // namespace mproc::connection::detail
