// Connection and Pipe: message-oriented byte streams between processes
// (Python: multiprocessing.Pipe and multiprocessing.connection.Connection).
//
//   auto [parent_conn, child_conn] = mproc::Pipe();
//   mproc::Process p([](mproc::Connection c) { c.send(std::string("hi")); c.close(); },
//                    child_conn);
//   p.start();
//   child_conn.close();                       // the parent's copy of the child's end
//   std::string s = parent_conn.recv<std::string>();
//
// A Connection is a shared handle: copies refer to the same end, and the end
// closes when close() is called or the last copy goes. Messages use Python's
// framing (4-byte big-endian length; -1 then an 8-byte length past 2 GiB).
// Not thread-safe, as in Python: use one end from one thread at a time.
//
// Read-ahead: a receiving end reads up to 64 KiB at a time, so one system
// call serves many small messages. poll() and mproc::wait count what was read
// ahead, a Connection passed to a child takes it along, and a fork child
// inherits it; but a select()/poll() of your own on fileno() does not see
// it: use poll() or mproc::wait. As in Python, two processes must not read
// one end at the same time.
//
// Gotcha: a write to a pipe whose reader is gone would raise SIGPIPE and kill
// the process; like the Python interpreter, mproc sets SIGPIPE to SIG_IGN
// when it is still SIG_DFL, and send() then throws std::system_error(EPIPE).
#pragma once

#include <mproc/export.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include <mproc/codec.hpp>
#include <mproc/errors.hpp>
#include <mproc/serializer.hpp>
#include <mproc/timeout.hpp>

namespace mproc {

namespace plugin {
class ConnectionImpl;
}

/// One end of a connection.
class MPROC_API Connection {
  public:
    /// A closed connection (placeholder).
    Connection() = default;
    /// Wraps a backend's connection end.
    Connection(std::unique_ptr<plugin::ConnectionImpl> impl, bool readable, bool writable);
    /// Takes over an open descriptor (a pipe end or a connected stream
    /// socket, e.g. one received with recv_handle) and speaks Python's
    /// framing on it (Python: Connection(handle, readable, writable)).
    /// ValueError for a negative handle or neither direction.
    explicit Connection(std::intptr_t handle, bool readable = true, bool writable = true);

    /// Sends an object, encoded with the connection's serializer.
    template <class T>
    void send(const T& obj);
    /// Receives one object sent with send<T> (or a compatible type); throws
    /// EOFError when the peer closed, SerializationError on bad data.
    template <class T>
    T recv();

    /// Sends size bytes of buf starting at offset (all that follow by
    /// default); ValueError with Python's texts ("buffer length < offset",
    /// "buffer length < offset + size", "offset is negative" for a negative
    /// int converted) for a range outside buf.
    void send_bytes(std::span<const std::byte> buf, std::size_t offset = 0,
                    std::optional<std::size_t> size = std::nullopt);
    /// Sends the bytes of a string.
    void send_bytes(std::string_view s) { send_bytes(std::as_bytes(std::span(s))); }
    /// Receives one message; a longer message than maxlength is
    /// ProcessError "bad message length" and the end is no longer readable
    /// (a read-only end is closed), as Python's OSError.
    std::vector<std::byte> recv_bytes(std::optional<std::size_t> maxlength = std::nullopt);
    /// recv_bytes into out, whose memory is reused (no allocation once it
    /// is large enough: for a loop of messages); returns the length.
    std::size_t recv_bytes(std::vector<std::byte>& out,
                           std::optional<std::size_t> maxlength = std::nullopt);
    /// Receives one message into buf at offset, returns its size; throws
    /// BufferTooShort (holding the whole message) if it does not fit, and
    /// ValueError "offset too large" past the end of buf.
    std::size_t recv_bytes_into(std::span<std::byte> buf, std::size_t offset = 0);

    /// True if data (or end of stream) is available within timeout
    /// (default: do not wait; std::nullopt waits forever).
    bool poll(Timeout timeout = std::chrono::seconds(0));
    /// The OS handle to wait on (a file descriptor on POSIX).
    std::intptr_t fileno() const;
    /// Closes this end (for every copy of this handle); idempotent.
    void close() noexcept;
    /// True once closed.
    bool closed() const noexcept;
    /// True if this end may receive.
    bool readable() const noexcept;
    /// True if this end may send.
    bool writable() const noexcept;

    /// Same end (copies of one Connection compare equal).
    friend bool operator==(const Connection& a, const Connection& b) noexcept {
        return a.state_ == b.state_;
    }

    /// The backend end (for plugins and core; not for user code).
    plugin::ConnectionImpl* impl() const noexcept;

  private:
    struct State;
    State& live(bool for_reading, bool for_writing) const;
    Encoder& encoder() const;
    Decoder& message_decoder(std::span<const std::byte> message) const;
    void send_encoded() const;
    std::span<const std::byte> recv_message(std::optional<std::size_t> maxlength) const;
    void check_consumed(const Decoder& d) const;

    std::shared_ptr<State> state_;
};

template <class T>
void Connection::send(const T& obj) {
    Encoder& e = encoder();
    e.clear();
    encode(e, obj);
    send_encoded();
}

template <class T>
T Connection::recv() {
    Decoder& d = message_decoder(recv_message(std::nullopt));
    T value = decode<std::remove_cvref_t<T>>(d);
    check_consumed(d);
    return value;
}

/// A Connection crosses into a spawn or forkserver child as out-of-band
/// handles (as a Process argument), and inside a message (conn.send(other))
/// by reference: the receiver fetches the descriptors from the sender, which
/// must still run then (see docs/gotchas.md).
template <>
struct MPROC_API codec<Connection> {
    /// Writes the end's direction and its handles.
    static void encode(Encoder& e, const Connection& c);
    /// Rebuilds the end from the handles received.
    static Connection decode(Decoder& d);
};

/// A connected pair: duplex (both ends send and receive) by default; with
/// duplex = false the first end only receives and the second only sends.
/// Uses the default context's start method.
MPROC_API std::pair<Connection, Connection> Pipe(bool duplex = true);

}  // namespace mproc
