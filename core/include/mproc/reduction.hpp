// Passing OS handles between processes (Python: multiprocessing.reduction's
// send_handle, recv_handle and DupFd).
//
//   // parent                                   // child (conn: its end of a duplex Pipe)
//   auto [a, b] = mproc::Pipe();                 std::intptr_t fd = mproc::recv_handle(conn);
//   ... start a child with b ...                 mproc::Connection c(fd);  // or read/write fd
//   mproc::send_handle(a, fd, p.pid());
//
//   mproc::DupFd df(sock);                       // a copy of a socket or any fd
//   mproc::Process q(work, df);                  // crosses as a Process argument
//   a.send(df);                                  // ... or inside a message
//   void work(mproc::DupFd df) { int fd = int(df.detach()); ... }
//
// send_handle writes Python's form (one byte with the descriptor attached,
// SCM_RIGHTS) on a Unix socket: a duplex Pipe, or an AF_UNIX Listener/Client
// connection, also with a Python peer. The receiver owns the new descriptor.
#pragma once

#include <mproc/export.hpp>

#include <cstdint>
#include <memory>

#include <mproc/codec.hpp>
#include <mproc/connection.hpp>

namespace mproc {

/// Sends a duplicate of handle (a file descriptor) over conn, which must be
/// a writable Unix stream socket (std::system_error ENOTSOCK otherwise).
/// destination_pid is unused on POSIX, as in Python.
MPROC_API void send_handle(Connection& conn, std::intptr_t handle, long destination_pid = 0);

/// Receives a handle sent with send_handle (by mproc or Python): a new
/// close-on-exec descriptor the caller owns. EOFError at end of stream,
/// ProcessError if what came carried no handle.
MPROC_API std::intptr_t recv_handle(Connection& conn);

/// An owned duplicate of a file descriptor (a socket, a pipe, a file) that
/// crosses into children as a Process argument and over connections, as
/// Python's DupFd / a pickled socket. Copies share the one descriptor, which
/// closes when the last copy goes unless detach() took it.
class MPROC_API DupFd {
  public:
    /// No descriptor.
    DupFd() = default;
    /// Duplicates fd (close-on-exec); the caller keeps fd. std::system_error
    /// if fd is not open.
    explicit DupFd(std::intptr_t fd);

    /// Gives the descriptor to the caller, who closes it (Python's
    /// detach()); ClosedError if there is none (never given, or detached).
    std::intptr_t detach();
    /// The descriptor, still owned here; ClosedError if there is none.
    std::intptr_t fileno() const;
    /// True while a descriptor is held.
    explicit operator bool() const noexcept;

  private:
    struct Owned;
    std::shared_ptr<Owned> fd_;
    friend struct codec<DupFd>;
    static DupFd adopt(std::intptr_t fd);
};

/// A DupFd crosses as an out-of-band handle (Process arguments under spawn
/// and forkserver), inherited under fork, and by the resource sharer inside
/// a message (the sender must still run when it is received).
template <>
struct MPROC_API codec<DupFd> {
    /// Writes the handle.
    static void encode(Encoder& e, const DupFd& fd);
    /// Takes the handle received.
    static DupFd decode(Decoder& d);
};

}  // namespace mproc
