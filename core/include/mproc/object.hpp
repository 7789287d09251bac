// mproc::object: a dynamically typed value with Python's data model (None,
// bool, int, float, str, bytes, list, tuple, dict), for heterogeneous
// messages and for talking to Python peers.
//
//   namespace mp = mproc;
//   conn.send(mp::list{42, mp::None, "hello"});
//   mp::object o = conn.recv<mp::object>();
//   fmt::print("{}\n", o);                  // [42, None, 'hello'] (Python's repr)
//   if (auto* l = o.get_if<mp::list>()) fmt::print("{}\n", (*l)[0].as<std::int64_t>());
//
// On the wire (msgpack) an object is the plain msgpack value, so Python's
// msgpack.unpackb reads it and what msgpack.packb writes decodes here. A
// tuple is written as an array, like a list: msgpack has no tuple type, and
// Python's msgpack reads both as list (or both as tuple with use_list=False).
// Reading always gives a list. Python's msgpack (>= 1.0) refuses dict keys
// other than str and bytes unless unpackb(..., strict_map_key=False). A vector of numbers sent by
// mproc (a bulk array) reads as a list of numbers; a nested std::tuple or struct reads as a list of
// its fields.
//
// int is 64-bit (a larger integer on the wire is a SerializationError);
// values compare equal only when of the same kind (1 != 1.0 here, unlike
// Python). A dict keeps insertion order, as Python's does; lookup is linear.
#pragma once

#include <mproc/export.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <fmt/format.h>

#include <mproc/codec.hpp>
#include <mproc/errors.hpp>

namespace mproc {

/// Python's None.
struct MPROC_API none_t {
    /// All Nones are equal.
    friend bool operator==(none_t, none_t) noexcept { return true; }
};
/// The None value.
inline constexpr none_t None{};

class object;

/// A Python list.
struct MPROC_API list : std::vector<object> {
    using std::vector<object>::vector;
};

/// A Python tuple (a list on the wire; see the header comment).
struct MPROC_API tuple : std::vector<object> {
    using std::vector<object>::vector;
};

/// A Python dict: key/value pairs in insertion order.
struct MPROC_API dict : std::vector<std::pair<object, object>> {
    using std::vector<std::pair<object, object>>::vector;
    /// The value of key, inserting None first if absent.
    object& operator[](const object& key);
    /// The value of key, or nullptr.
    const object* find(const object& key) const;
};

/// A dynamically typed value.
class MPROC_API object {
  public:
    /// The kinds of value, in variant order.
    using value_type =
        std::variant<none_t, bool, std::int64_t, double, std::string, bytes, list, tuple, dict>;

    /// None.
    object() = default;
    /// None.
    object(none_t) {}  // NOLINT: implicit by design, as are the following
    /// A bool.
    object(bool v) : v_(v) {}  // NOLINT
    /// An int (any integer type; ValueError beyond int64).
    template <std::integral T>
    requires(!std::same_as<T, bool> && !std::same_as<T, char>) object(T v)  // NOLINT
        : v_(to_int(v)) {}
    /// A float.
    object(double v) : v_(v) {}  // NOLINT
    /// A float.
    object(float v) : v_(double(v)) {}  // NOLINT
    /// A str.
    object(const char* v) : v_(std::string(v)) {}  // NOLINT
    /// A str.
    object(std::string v) : v_(std::move(v)) {}  // NOLINT
    /// A str.
    object(std::string_view v) : v_(std::string(v)) {}  // NOLINT
    /// A bytes.
    object(bytes v) : v_(std::move(v)) {}  // NOLINT
    /// A list.
    object(list v) : v_(std::move(v)) {}  // NOLINT
    /// A tuple.
    object(tuple v) : v_(std::move(v)) {}  // NOLINT
    /// A dict.
    object(dict v) : v_(std::move(v)) {}  // NOLINT

    /// True if None.
    bool is_none() const noexcept { return std::holds_alternative<none_t>(v_); }
    /// True if the value is a T (none_t, bool, std::int64_t, double, std::string, bytes, list,
    /// tuple, dict).
    template <class T>
    bool is() const noexcept {
        return std::holds_alternative<T>(v_);
    }
    /// The value as a T, or nullptr.
    template <class T>
    const T* get_if() const noexcept {
        return std::get_if<T>(&v_);
    }
    /// The value as a T, or nullptr.
    template <class T>
    T* get_if() noexcept {
        return std::get_if<T>(&v_);
    }
    /// The value as a T; ValueError naming both kinds if it is not one.
    template <class T>
    const T& as() const {
        if (auto* p = std::get_if<T>(&v_)) return *p;
        throw ValueError("mproc::object holds " + std::string(type_name()) + ", not " +
                         std::string(names[value_type(T{}).index()]));
    }
    /// The variant.
    const value_type& value() const noexcept { return v_; }
    /// The variant.
    value_type& value() noexcept { return v_; }
    /// Python's type name: "NoneType", "bool", "int", "float", "str", ...
    std::string_view type_name() const noexcept { return names[v_.index()]; }
    /// Python's repr (what print() shows for a list of it).
    std::string repr() const;
    /// Python's str: like repr, but a str prints without quotes.
    std::string str() const;

    /// Same kind and equal value.
    friend bool operator==(const object& a, const object& b) { return a.v_ == b.v_; }

  private:
    static constexpr std::string_view names[] = {"NoneType", "bool", "int",   "float", "str",
                                                 "bytes",    "list", "tuple", "dict"};
    template <class T>
    static std::int64_t to_int(T v) {
        if constexpr (std::is_unsigned_v<T> && sizeof(T) >= sizeof(std::int64_t)) {
            if (v > T(INT64_MAX)) throw ValueError("integer too large for mproc::object");
        }
        return static_cast<std::int64_t>(v);
    }
    value_type v_;
};

/// Writes an object as the plain value (a tuple as an array).
template <>
struct MPROC_API codec<object> {
    /// Writes the value.
    static void encode(Encoder& e, const object& o);
    /// Reads any value; throws SerializationError for handles and other kinds
    /// with no Python twin.
    static object decode(Decoder& d);
};

/// A list (an array).
template <>
struct MPROC_API codec<list> {
    /// Writes the items.
    static void encode(Encoder& e, const list& l) { codec<object>::encode(e, object(l)); }
    /// Reads an array.
    static list decode(Decoder& d);
};

/// A tuple (an array, as a list).
template <>
struct MPROC_API codec<tuple> {
    /// Writes the items.
    static void encode(Encoder& e, const tuple& t) { codec<object>::encode(e, object(t)); }
    /// Reads an array.
    static tuple decode(Decoder& d);
};

/// A dict (a map).
template <>
struct MPROC_API codec<dict> {
    /// Writes the pairs.
    static void encode(Encoder& e, const dict& m) { codec<object>::encode(e, object(m)); }
    /// Reads a map.
    static dict decode(Decoder& d);
};

/// None (nil).
template <>
struct MPROC_API codec<none_t> {
    /// Writes nil.
    static void encode(Encoder& e, none_t) { e.write_nil(); }
    /// Reads nil.
    static none_t decode(Decoder& d) {
        d.read_nil();
        return None;
    }
};

}  // namespace mproc

/// Prints an object as Python's repr ({:s} prints Python's str).
template <>
struct fmt::formatter<mproc::object> {
    bool as_str = false;
    /// Accepts "" (repr) and "s" (str).
    constexpr auto parse(fmt::format_parse_context& ctx) {
        auto it = ctx.begin();
        if (it != ctx.end() && *it == 's') {
            as_str = true;
            ++it;
        }
        return it;
    }
    /// Formats the value.
    auto format(const mproc::object& o, fmt::format_context& ctx) const {
        auto s = as_str ? o.str() : o.repr();
        return std::copy(s.begin(), s.end(), ctx.out());
    }
};
