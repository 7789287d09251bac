// One end of a byte-stream connection as a start method makes it (part of
// the plugin ABI, see backend.hpp).
#pragma once

#include <mproc/export.hpp>

#include <cstddef>
#include <span>
#include <string_view>
#include <vector>

#include <mproc/plugin/host.hpp>
#include <mproc/serializer.hpp>
#include <mproc/timeout.hpp>

namespace mproc::plugin {

/// One end of a byte-stream connection. Framing, serialisation and the
/// Python-compatible message format are done by core; an implementation only
/// moves bytes. It may read ahead (one read() then serves many small
/// messages); readiness must then count what was read ahead (poll() and
/// buffered()). Not thread-safe (as Python's Connection).
class MPROC_API ConnectionImpl {
  public:
    virtual ~ConnectionImpl();
    /// Writes head then body as one unit (one syscall where possible);
    /// throws EOFError-like BrokenPipe (ProcessError) if the peer is gone.
    virtual void write_all(std::span<const std::byte> head, std::span<const std::byte> body) = 0;
    /// Reads exactly out.size() bytes. Returns false on end of stream before
    /// the first byte; throws EOFError if the stream ends part-way.
    virtual bool read_exact(std::span<std::byte> out) = 0;
    /// True when data (or end of stream) is ready to read within timeout.
    virtual bool poll(Timeout timeout) = 0;
    /// The handle to wait on for readability (Python's fileno()).
    virtual NativeHandle wait_handle() const = 0;
    /// Every native handle this end owns (what must cross into a child).
    virtual std::vector<NativeHandle> native_handles() const = 0;
    /// Releases the handles; idempotent.
    virtual void close() noexcept = 0;
    /// Bytes already read from the OS but not yet consumed (read-ahead).
    virtual std::size_t buffered() const = 0;
    /// A copy of those bytes (they travel with the end into an exec child).
    virtual std::vector<std::byte> peek_buffered() const = 0;
    /// Makes data the first bytes to read (an end received with read-ahead).
    virtual void prime(std::span<const std::byte> data) = 0;
    /// How this end crosses into another process: empty (the default) when
    /// the core carries it as its native handles (inherited, or passed by
    /// the OS); else the name of the start method whose attach_connection()
    /// rebuilds it from what encode() wrote (a backend whose connections are
    /// not OS handles, e.g. messages between hosts).
    virtual std::string_view carrier() const { return {}; }
    /// Writes what the carrier's attach_connection() needs to rebuild this
    /// end elsewhere (called only when carrier() is not empty).
    virtual void encode(Encoder& e) const;
};

}  // namespace mproc::plugin
