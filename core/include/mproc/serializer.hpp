// The serializer interface: a small virtual encoder/decoder that one wire
// format implements (msgpack is the default plugin). Typed C++ values are
// mapped onto it by the compile-time adapters in <mproc/codec.hpp>; user
// code rarely touches this header directly.
//
//   auto& s = mproc::default_serializer();
//   auto enc = s.make_encoder();
//   mproc::encode(*enc, std::tuple{42, std::string("hi")});
//   auto dec = s.make_decoder();
//   dec->reset(enc->data());
//   auto v = mproc::decode<std::tuple<int, std::string>>(*dec);
//
// The data model is serde-like: nil, bool, signed and unsigned integers,
// floats, strings, bytes, arrays, maps, out-of-band handles, and bulk arrays
// of one scalar type. These classes are part of the plugin ABI: any change
// raises mproc::plugin::abi_version (see <mproc/plugin/abi.hpp>).
#pragma once

#include <mproc/export.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

namespace mproc {

class Serializer;

/// What the next item of an encoded stream is.
enum class ValueKind : std::uint8_t {
    nil,
    boolean,
    integer,   ///< signed or unsigned integer
    floating,  ///< float or double
    str,
    bin,
    array,
    map,
    bulk,    ///< contiguous array of one scalar type
    handle,  ///< out-of-band handle slot (fd / HANDLE)
    end,     ///< no more data
};

/// Scalar element type of a bulk array. Values are frozen (wire format).
enum class ScalarKind : std::uint8_t {
    i8 = 1,
    u8,
    i16,
    u16,
    i32,
    u32,
    i64,
    u64,
    f32,
    f64,
    boolean,
    character,
};

/// Size in bytes of one element of kind k (0 for an unknown kind).
constexpr std::size_t scalar_size(ScalarKind k) noexcept {
    switch (k) {
        case ScalarKind::i8:
        case ScalarKind::u8:
        case ScalarKind::boolean:
        case ScalarKind::character:
            return 1;
        case ScalarKind::i16:
        case ScalarKind::u16:
            return 2;
        case ScalarKind::i32:
        case ScalarKind::u32:
        case ScalarKind::f32:
            return 4;
        case ScalarKind::i64:
        case ScalarKind::u64:
        case ScalarKind::f64:
            return 8;
    }
    return 0;
}

/// Where out-of-band handles go while encoding, and come from while
/// decoding (a Connection end crossing into a spawned child, say). The
/// serializer writes only the slot number.
class MPROC_API HandleTable {
  public:
    virtual ~HandleTable();
    /// Adds a native handle, returns its slot (the same handle added twice
    /// gets one slot).
    virtual std::uint32_t add(std::intptr_t handle) = 0;
    /// Takes the handle in a slot (the caller owns it from now on); throws
    /// SerializationError for a bad or already taken slot.
    virtual std::intptr_t get(std::uint32_t slot) = 0;
    /// The handle in a slot, which the table keeps owning (valid while the
    /// table lives): for handles several decoded objects share.
    virtual std::intptr_t borrow(std::uint32_t slot) = 0;
};

/// Writes one message. Reused: clear() starts a new message.
class MPROC_API Encoder {
  public:
    virtual ~Encoder();
    /// Forgets what was written; keeps the buffer's capacity.
    virtual void clear() = 0;
    /// The bytes written so far.
    virtual std::span<const std::byte> data() const = 0;

    /// Writes a nil (Python None, std::nullopt).
    virtual void write_nil() = 0;
    /// Writes a boolean.
    virtual void write_bool(bool v) = 0;
    /// Writes a signed integer.
    virtual void write_int(std::int64_t v) = 0;
    /// Writes an unsigned integer.
    virtual void write_uint(std::uint64_t v) = 0;
    /// Writes a 64-bit float.
    virtual void write_double(double v) = 0;
    /// Writes a 32-bit float.
    virtual void write_float(float v) = 0;
    /// Writes a UTF-8 string.
    virtual void write_str(std::string_view v) = 0;
    /// Writes a byte string.
    virtual void write_bin(std::span<const std::byte> v) = 0;
    /// Starts an array of n items; the next n items belong to it.
    virtual void begin_array(std::size_t n) = 0;
    /// Starts a map of n pairs; the next 2n items are key, value, ...
    virtual void begin_map(std::size_t n) = 0;
    /// Writes count scalars of kind k in host byte order, in one piece.
    virtual void write_bulk(ScalarKind k, const void* data, std::size_t count) = 0;
    /// Writes an out-of-band handle slot (see HandleTable).
    virtual void write_handle(std::uint32_t slot) = 0;

    /// Handle table of the current message, or nullptr where handles cannot
    /// cross (then encoding a handle is an error).
    HandleTable* handles = nullptr;
};

/// Reads one message. Never trusts its input: every read checks bounds and
/// types and throws SerializationError naming what was wrong.
class MPROC_API Decoder {
  public:
    virtual ~Decoder();
    /// Starts reading a new message; the bytes must outlive the reads.
    virtual void reset(std::span<const std::byte> message) = 0;
    /// What the next item is (ValueKind::end when the message is used up).
    virtual ValueKind peek() = 0;

    /// Reads a nil.
    virtual void read_nil() = 0;
    /// Reads a boolean.
    virtual bool read_bool() = 0;
    /// Reads an integer that fits in int64.
    virtual std::int64_t read_int() = 0;
    /// Reads a non-negative integer.
    virtual std::uint64_t read_uint() = 0;
    /// Reads a float or double (integers are accepted and converted).
    virtual double read_double() = 0;
    /// Reads a string; the view points into the message.
    virtual std::string_view read_str() = 0;
    /// Reads a byte string; the view points into the message.
    virtual std::span<const std::byte> read_bin() = 0;
    /// Reads an array header, returns its item count.
    virtual std::size_t read_array() = 0;
    /// Reads a map header, returns its pair count.
    virtual std::size_t read_map() = 0;
    /// Reads a bulk array of kind k, returns its raw bytes (count * size).
    virtual std::span<const std::byte> read_bulk(ScalarKind k) = 0;
    /// Reads an out-of-band handle slot.
    virtual std::uint32_t read_handle() = 0;
    /// Skips one complete item (with everything nested in it).
    virtual void skip() = 0;
    /// Bytes left unread in the message.
    virtual std::size_t remaining() const = 0;
    /// The element kind of the bulk array that comes next, without
    /// consuming it, so that a reader that does not know it in advance
    /// (mproc::object) can read it.
    virtual ScalarKind peek_bulk_kind() = 0;

    /// Handle table of the current message, or nullptr.
    HandleTable* handles = nullptr;
};

/// A wire format: makes encoders and decoders. Implemented by a serializer
/// plugin; one instance per plugin, alive for the program's lifetime.
class MPROC_API Serializer {
  public:
    virtual ~Serializer();
    /// The format's name, equal to the plugin's name ("msgpack").
    virtual std::string_view name() const = 0;
    /// A new encoder with an empty buffer.
    virtual std::unique_ptr<Encoder> make_encoder() = 0;
    /// A new decoder with no message.
    virtual std::unique_ptr<Decoder> make_decoder() = 0;
};

/// The serializer the library uses by default (MPROC_SERIALIZER, else
/// "msgpack"); loaded on first use.
MPROC_API Serializer& default_serializer();

/// The serializer plugin with this name; throws PluginError if none loads.
MPROC_API Serializer& get_serializer(std::string_view name);

}  // namespace mproc
