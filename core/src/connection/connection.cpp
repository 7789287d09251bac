// Connection: Python-compatible message framing and serialisation on top of
// a backend's byte stream.
#include <mproc/connection.hpp>

#include <algorithm>
#include <cstring>
#include <limits>
#include <system_error>

#include <fmt/format.h>

#include <mproc/plugin/backend.hpp>

#include "connection/handle_sharer.hpp"
#include "connection/large_buffer.hpp"
#include "plugin/plugin_registry.hpp"

namespace mproc {

namespace {

// Python's framing: a 4-byte big-endian signed length; from 2 GiB on, -1
// followed by an 8-byte big-endian length.
constexpr std::uint64_t small_limit = 0x7fffffff;

std::span<const std::byte> frame_header(std::uint64_t n, std::array<std::byte, 12>& buf) {
    auto put = [&](std::size_t at, std::uint64_t v, int bytes) {
        for (int i = 0; i < bytes; ++i)
            buf[at + i] = std::byte((v >> (8 * (bytes - 1 - i))) & 0xff);
    };
    if (n <= small_limit) {
        put(0, n, 4);
        return {buf.data(), 4};
    }
    put(0, 0xffffffff, 4);
    put(4, n, 8);
    return {buf.data(), 12};
}

std::uint64_t big_endian(std::span<const std::byte> b) {
    std::uint64_t v = 0;
    for (auto x : b) v = (v << 8) | std::to_integer<std::uint64_t>(x);
    return v;
}

// Growth step for messages whose length came from the peer: memory grows only
// as bytes actually arrive, so a lying length prefix cannot make us allocate.
constexpr std::size_t trusted_chunk = std::size_t(1) << 20;
// The step in which a reserved buffer is zeroed and filled: within the
// first-level cache, and a default pipe's capacity (measured best here).
constexpr std::size_t cached_chunk = std::size_t(64) << 10;
// Lengths up to this are reserved whole before the body arrives.
constexpr std::size_t trusted_reserve = std::size_t(1) << 30;

// A size no buffer has: a negative int converted to std::size_t (so the
// error can use Python's text for a negative argument).
bool negative(std::size_t v) {
    return v > std::size_t(std::numeric_limits<std::ptrdiff_t>::max());
}

}  // namespace

namespace detail {
/// A backend-independent end from received handles (platform file).
std::unique_ptr<plugin::ConnectionImpl> connection_from_handles(bool readable, bool writable,
                                                                std::intptr_t first,
                                                                std::intptr_t second);
}  // namespace detail

struct Connection::State {
    std::unique_ptr<plugin::ConnectionImpl> impl;
    bool readable = false;
    bool writable = false;
    std::unique_ptr<Encoder> encoder;
    std::unique_ptr<Decoder> decoder;
    std::vector<std::byte> inbox;  // the last message received with recv<T>

    ~State() {
        if (impl) impl->close();
    }

    // Reads a frame header; nullopt at a clean end of stream.
    std::optional<std::uint64_t> read_length() {
        std::array<std::byte, 8> b;
        if (!impl->read_exact(std::span(b).first(4))) return std::nullopt;
        std::uint64_t n = big_endian(std::span(b).first(4));
        if (n == 0xffffffff) {
            if (!impl->read_exact(std::span(b)))
                throw EOFError("end of stream inside a message header");
            n = big_endian(b);
        }
        return n;
    }

    // The next message's length; EOFError at the end of the stream, an error
    // (and no more reading) past maxlength.
    std::uint64_t next_length(std::optional<std::size_t> maxlength) {
        auto n = read_length();
        if (!n) throw EOFError("end of stream: the other end of the connection is closed");
        if (maxlength && *n > *maxlength) bad_length(*n, *maxlength);
        return *n;
    }

    void bad_length(std::uint64_t n, std::size_t max) {
        // The unread body makes the stream unusable for reading, as in
        // Python: a read-only end is closed, a duplex one keeps sending.
        readable = false;
        if (!writable) {
            impl->close();
            impl.reset();
        }
        throw ProcessError(
            fmt::format("bad message length: {} bytes exceeds maxlength {}", n, max));
    }

    // Reads one message body of n bytes into out (resized). Up to
    // trusted_reserve the whole length is reserved at once (address space
    // only: pages are touched as bytes arrive), so the buffer never moves;
    // past it, memory grows only as bytes arrive, so a lying length prefix
    // cannot make us allocate.
    void read_body(std::uint64_t n, std::vector<std::byte>& out) {
        if (n > std::numeric_limits<std::size_t>::max() / 2) bad_length(n, out.max_size());
        out.clear();
        if (n <= trusted_reserve && n > out.capacity()) {
            std::vector<std::byte>().swap(out);
            out.reserve(n);
            if (n >= detail::large_buffer_size) detail::advise_large_buffer(out.data(), n);
        }
        // Reserved: small steps, so each part is zeroed (by resize) and
        // filled while it is in the cache; otherwise steps double.
        bool reserved = out.capacity() >= n;
        std::size_t got = 0;
        while (got < n) {
            std::size_t step = std::min<std::uint64_t>(
                n - got, reserved ? cached_chunk : std::max(got, trusted_chunk));
            out.resize(got + step);
            if (!impl->read_exact(std::span(out).subspan(got, step)))
                throw EOFError("end of stream inside a message");
            got += step;
        }
    }
};

Connection::Connection(std::unique_ptr<plugin::ConnectionImpl> impl, bool readable, bool writable)
    : state_(std::make_shared<State>()) {
    state_->impl = std::move(impl);
    state_->readable = readable;
    state_->writable = writable;
}

Connection::Connection(std::intptr_t handle, bool readable, bool writable) {
    if (handle < 0) throw ValueError("invalid handle");
    if (!readable && !writable)
        throw ValueError("at least one of `readable` and `writable` must be True");
    *this = Connection(detail::connection_from_handles(readable, writable, handle, -1), readable,
                       writable);
}

Connection::State& Connection::live(bool for_reading, bool for_writing) const {
    if (!state_ || !state_->impl) throw ClosedError("handle is closed");
    if (for_reading && !state_->readable) throw ValueError("connection is write-only");
    if (for_writing && !state_->writable) throw ValueError("connection is read-only");
    return *state_;
}

plugin::ConnectionImpl* Connection::impl() const noexcept {
    return state_ ? state_->impl.get() : nullptr;
}

Encoder& Connection::encoder() const {
    auto& s = live(false, true);
    if (!s.encoder) s.encoder = default_serializer().make_encoder();
    return *s.encoder;
}

Decoder& Connection::message_decoder(std::span<const std::byte> message) const {
    auto& s = *state_;
    if (!s.decoder) s.decoder = default_serializer().make_decoder();
    s.decoder->reset(message);
    return *s.decoder;
}

void Connection::check_consumed(const Decoder& d) const {
    if (d.remaining() != 0)
        throw SerializationError(fmt::format(
            "message has {} bytes left over after decoding the requested type", d.remaining()));
}

void Connection::send_encoded() const {
    auto& s = *state_;
    auto body = s.encoder->data();
    std::array<std::byte, 12> hb;
    s.impl->write_all(frame_header(body.size(), hb), body);
}

std::span<const std::byte> Connection::recv_message(std::optional<std::size_t> maxlength) const {
    auto& s = live(true, false);
    s.read_body(s.next_length(maxlength), s.inbox);
    return s.inbox;
}

void Connection::send_bytes(std::span<const std::byte> buf, std::size_t offset,
                            std::optional<std::size_t> size) {
    auto& s = live(false, true);
    if (negative(offset)) throw ValueError("offset is negative");
    if (offset > buf.size()) throw ValueError("buffer length < offset");
    if (size && negative(*size)) throw ValueError("size is negative");
    std::size_t n = size.value_or(buf.size() - offset);
    if (n > buf.size() - offset) throw ValueError("buffer length < offset + size");
    std::array<std::byte, 12> hb;
    s.impl->write_all(frame_header(n, hb), buf.subspan(offset, n));
}

std::vector<std::byte> Connection::recv_bytes(std::optional<std::size_t> maxlength) {
    std::vector<std::byte> out;
    recv_bytes(out, maxlength);
    return out;
}

std::size_t Connection::recv_bytes(std::vector<std::byte>& out,
                                   std::optional<std::size_t> maxlength) {
    auto& s = live(true, false);
    if (maxlength && negative(*maxlength)) throw ValueError("negative maxlength");
    s.read_body(s.next_length(maxlength), out);
    return out.size();
}

std::size_t Connection::recv_bytes_into(std::span<std::byte> buf, std::size_t offset) {
    auto& s = live(true, false);
    if (negative(offset)) throw ValueError("negative offset");
    if (offset > buf.size()) throw ValueError("offset too large");
    std::uint64_t n = s.next_length(std::nullopt);
    if (n > buf.size() - offset) {
        std::vector<std::byte> whole;
        s.read_body(n, whole);
        throw BufferTooShort(std::move(whole));
    }
    if (!s.impl->read_exact(buf.subspan(offset, n)) && n != 0)
        throw EOFError("end of stream inside a message");
    return n;
}

bool Connection::poll(Timeout timeout) {
    return live(true, false).impl->poll(timeout);
}

std::intptr_t Connection::fileno() const {
    return live(false, false).impl->wait_handle();
}

void Connection::close() noexcept {
    if (state_ && state_->impl) {
        state_->impl->close();
        state_->impl.reset();
    }
}

bool Connection::closed() const noexcept {
    return !state_ || !state_->impl;
}
bool Connection::readable() const noexcept {
    return state_ && state_->readable;
}
bool Connection::writable() const noexcept {
    return state_ && state_->writable;
}

// A Connection is [readable, writable, handles, read-ahead bytes] where
// handles cross out of band (a Process argument under spawn/forkserver), or
// [readable, writable, sharer address, key, count, read-ahead bytes] inside a
// message, where the receiver fetches the handles from the sender, or
// [readable, writable, carrier, what the carrier wrote, read-ahead bytes]
// for an end its start method carries its own way (ConnectionImpl::carrier).
void codec<Connection>::encode(Encoder& e, const Connection& c) {
    auto* impl = c.impl();
    if (impl == nullptr) throw ClosedError("cannot send a closed Connection");
    auto pending = impl->peek_buffered();  // read ahead here: the receiver reads it first
    if (auto carrier = impl->carrier(); !carrier.empty()) {
        e.begin_array(5);
        e.write_bool(c.readable());
        e.write_bool(c.writable());
        e.write_str(carrier);
        impl->encode(e);
        e.write_bin(pending);
        return;
    }
    auto handles = impl->native_handles();
    if (e.handles != nullptr) {
        e.begin_array(4);
        e.write_bool(c.readable());
        e.write_bool(c.writable());
        e.begin_array(handles.size());
        for (auto h : handles) e.write_handle(e.handles->add(h));
    } else {
        auto shared = detail::share_handles(handles);
        e.begin_array(6);
        e.write_bool(c.readable());
        e.write_bool(c.writable());
        e.write_str(shared.address);
        e.write_bin(shared.key);
        e.write_uint(handles.size());
    }
    e.write_bin(pending);
}

Connection codec<Connection>::decode(Decoder& d) {
    std::size_t items = d.read_array();
    if (items < 4 || items > 6)
        throw SerializationError("a Connection is an array of 4, 5 or 6 items");
    bool readable = d.read_bool();
    bool writable = d.read_bool();
    if (items == 5) {
        std::string carrier(d.read_str());
        auto& backend = *static_cast<plugin::ContextBackend*>(
            detail::load_plugin(plugin::PluginKind::start_method, carrier).instance);
        auto impl = backend.attach_connection(d);
        if (!impl)
            throw SerializationError(
                fmt::format("start method '{}' attached no connection", carrier));
        auto pending = d.read_bin();
        impl->prime(pending);
        return Connection(std::move(impl), readable, writable);
    }
    std::intptr_t h[2] = {-1, -1};
    if (items == 4) {
        if (d.handles == nullptr)
            throw SerializationError("a Connection's handles arrived where handles cannot");
        std::size_t n = d.read_array();
        if (n < 1 || n > 2) throw SerializationError("a Connection has 1 or 2 handles");
        for (std::size_t i = 0; i < n; ++i) h[i] = d.handles->get(d.read_handle());
    } else {
        detail::SharedHandles from;
        from.address = std::string(d.read_str());
        auto key = d.read_bin();
        from.key.assign(key.begin(), key.end());
        std::uint64_t n = d.read_uint();
        if (n < 1 || n > 2) throw SerializationError("a Connection has 1 or 2 handles");
        auto got = detail::fetch_handles(from, std::size_t(n));
        for (std::size_t i = 0; i < got.size(); ++i) h[i] = got[i];
    }
    auto pending = d.read_bin();
    auto impl = detail::connection_from_handles(readable, writable, h[0], h[1]);
    impl->prime(pending);
    return Connection(std::move(impl), readable, writable);
}

}  // namespace mproc
