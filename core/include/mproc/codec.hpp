// Typed C++ values on the wire: compile-time adapters (mproc::codec<T>) that
// map a value onto the virtual Encoder/Decoder of <mproc/serializer.hpp>, so
// one wire format plugin serves every type. Out of the box: bool, integers
// (range-checked on decode), float, double, strings, mproc::bytes, vector,
// array, map, unordered_map, set, unordered_set, optional, tuple, pair,
// variant, monostate, nullopt and chrono durations. Your own types join in
// one of three ways:
//
//   struct Point {
//       int x, y;
//       std::string label;
//       MPROC_FIELDS(x, y, label)  // an array of its fields, like MSGPACK_DEFINE
//   };
//
//   template <> struct mproc::codec<Celsius> {  // full control
//       static void encode(mproc::Encoder& e, const Celsius& c) { e.write_double(c.value); }
//       static Celsius decode(mproc::Decoder& d) { return Celsius{d.read_double()}; }
//   };
//
//   template <> inline constexpr bool mproc::enable_trivial_codec<Pod> = true;  // raw bytes
//
//   mproc::encode(enc, std::map<std::string, std::vector<Point>>{...});
//   auto m = mproc::decode<std::map<std::string, std::vector<Point>>>(dec);
//
// Decoding never trusts the message: counts and sizes are checked, and no
// container reserves more elements than the message has bytes left, so a
// forged header cannot trigger a huge allocation.
#pragma once

#include <mproc/export.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include <mproc/errors.hpp>
#include <mproc/serializer.hpp>

namespace mproc {

/// The adapter for T: static void encode(Encoder&, const T&) and static T decode(Decoder&).
template <class T, class Enable = void>
struct codec;

/// Specialize to true for a trivially copyable T to send it as its raw bytes (bin of sizeof(T)).
template <class T>
inline constexpr bool enable_trivial_codec = false;

/// A byte string; encoded as bin (Python bytes).
using bytes = std::vector<std::byte>;

/// True when codec<T> can encode a T (cv/ref-qualifiers ignored).
template <class T>
concept Encodable = requires(Encoder& e, const std::remove_cvref_t<T>& v) {
    codec<std::remove_cvref_t<T>>::encode(e, v);
};

/// True when codec<T> can decode a T (cv/ref-qualifiers ignored).
template <class T>
concept Decodable = requires(Decoder& d) {
    { codec<std::remove_cvref_t<T>>::decode(d) } -> std::same_as<std::remove_cvref_t<T>>;
};

/// True when T can both be encoded and decoded.
template <class T>
concept Serializable = Encodable<T> && Decodable<T>;

/// Writes v as the next item of e.
template <Encodable T>
void encode(Encoder& e, const T& v) {
    codec<std::remove_cvref_t<T>>::encode(e, v);
}

/// Reads the next item of d as a T.
template <Decodable T>
std::remove_cvref_t<T> decode(Decoder& d) {
    return codec<std::remove_cvref_t<T>>::decode(d);
}

/// Gives codec access to MPROC_FIELDS members, even in a private section.
struct MPROC_API fields_access {
    /// True when T's body contains MPROC_FIELDS.
    template <class T>
    static constexpr bool has = requires(T& t) {
        t.mproc_fields_();
    };
    /// A tuple of references to t's fields.
    template <class T>
    static auto fields(T& t) {
        return t.mproc_fields_();
    }
};

/// Inside a class body: makes the class serializable as an array of the listed members.
#define MPROC_FIELDS(...)                 \
    friend struct ::mproc::fields_access; \
    auto mproc_fields_() noexcept {       \
        return std::tie(__VA_ARGS__);     \
    }                                     \
    auto mproc_fields_() const noexcept { \
        return std::tie(__VA_ARGS__);     \
    }

namespace detail {

[[noreturn]] inline void decode_error(const std::string& what) {
    throw SerializationError("mproc::decode: " + what);
}

inline void expect_array(Decoder& d, std::size_t want, const char* what) {
    const std::size_t n = d.read_array();
    if (n != want)
        decode_error(std::string(what) + ": expected an array of " + std::to_string(want) +
                     " items, found " + std::to_string(n));
}

// Never trust a count from the message: every item takes at least one byte.
inline std::size_t reserve_bound(Decoder& d, std::size_t count, std::size_t bytes_per_item = 1) {
    return std::min(count, d.remaining() / bytes_per_item);
}

template <class T>
constexpr const char* integer_name() {
    if constexpr (std::same_as<T, char>) return "char";
    constexpr std::size_t i = std::bit_width(sizeof(T)) - 1;  // 1, 2, 4, 8 bytes -> 0..3
    if constexpr (std::is_signed_v<T>)
        return std::array{"int8_t", "int16_t", "int32_t", "int64_t"}[i];
    else
        return std::array{"uint8_t", "uint16_t", "uint32_t", "uint64_t"}[i];
}

template <class T>
concept Integer = std::integral<T> && !std::same_as<T, bool> && sizeof(T) <= 8;

template <class T>
concept CString = std::same_as<T, const char*> || std::same_as<T, char*>;

template <class T>
concept HasFields = fields_access::has<T>;

template <class T>
concept TriviallyEncoded = enable_trivial_codec<T> && !HasFields<T>;

/// Element types that travel as one bulk array instead of item by item.
template <class T>
concept BulkScalar =
    (std::integral<T> && sizeof(T) <= 8) || std::same_as<T, float> || std::same_as<T, double>;

template <BulkScalar T>
constexpr ScalarKind scalar_kind() {
    static_assert(std::numeric_limits<double>::is_iec559 && sizeof(float) == 4);
    if constexpr (std::same_as<T, bool>)
        return ScalarKind::boolean;
    else if constexpr (std::same_as<T, char>)
        return ScalarKind::character;
    else if constexpr (std::same_as<T, float>)
        return ScalarKind::f32;
    else if constexpr (std::same_as<T, double>)
        return ScalarKind::f64;
    else {
        constexpr std::size_t i = 2 * (std::bit_width(sizeof(T)) - 1);  // i8/u8 pairs
        return static_cast<ScalarKind>(static_cast<int>(ScalarKind::i8) + i +
                                       (std::is_signed_v<T> ? 0 : 1));
    }
}

// The raw bytes of a bulk array of T, validated: a whole number of elements,
// and only 0/1 for bool (any other byte would be undefined behaviour).
template <BulkScalar T>
std::span<const std::byte> read_scalars(Decoder& d) {
    const auto raw = d.read_bulk(scalar_kind<T>());
    if (raw.size() % sizeof(T) != 0)
        decode_error("bulk array of " + std::to_string(raw.size()) +
                     " bytes is not a whole number of " + std::to_string(sizeof(T)) +
                     "-byte elements");
    if constexpr (std::same_as<T, bool>) {
        for (std::byte b : raw)
            if (b > std::byte{1}) decode_error("bulk bool array holds a byte other than 0 or 1");
    }
    return raw;
}

/// Any container with size(), iteration and insert(end, value): an array.
template <class C>
struct array_codec {
    /// The element type.
    using value_type = typename C::value_type;

    /// Writes the elements as an array.
    static void encode(Encoder& e, const C& c) requires Encodable<value_type> {
        e.begin_array(c.size());
        for (const auto& x : c) mproc::encode(e, x);
    }
    /// Reads an array of elements.
    static C decode(Decoder& d) requires Decodable<value_type> {
        const std::size_t n = d.read_array();
        C c;
        if constexpr (requires { c.reserve(n); }) c.reserve(reserve_bound(d, n));
        for (std::size_t i = 0; i < n; ++i) c.insert(c.end(), mproc::decode<value_type>(d));
        return c;
    }
};

/// Any map-like container: a msgpack/Python dict (later duplicate keys win).
template <class M>
struct map_codec {
    /// The key type.
    using key_type = typename M::key_type;
    /// The value type.
    using mapped_type = typename M::mapped_type;

    /// Writes the pairs as a map.
    static void encode(Encoder& e,
                       const M& m) requires Encodable<key_type> && Encodable<mapped_type> {
        e.begin_map(m.size());
        for (const auto& [k, v] : m) {
            mproc::encode(e, k);
            mproc::encode(e, v);
        }
    }
    /// Reads a map.
    static M decode(Decoder& d) requires Decodable<key_type> && Decodable<mapped_type> {
        const std::size_t n = d.read_map();
        M m;
        if constexpr (requires { m.reserve(n); }) m.reserve(reserve_bound(d, n, 2));
        for (std::size_t i = 0; i < n; ++i) {
            auto k = mproc::decode<key_type>(d);
            m.insert_or_assign(std::move(k), mproc::decode<mapped_type>(d));
        }
        return m;
    }
};

}  // namespace detail

/// bool: msgpack true/false.
template <>
struct MPROC_API codec<bool> {
    /// Writes a bool.
    static void encode(Encoder& e, const bool& v) { e.write_bool(v); }
    /// Reads a bool.
    static bool decode(Decoder& d) { return d.read_bool(); }
};

/// Integers (char too, as a number); decode throws when the value does not fit in T.
template <detail::Integer T>
struct codec<T> {
    /// Writes the integer.
    static void encode(Encoder& e, const T& v) {
        if constexpr (std::is_signed_v<T>)
            e.write_int(v);
        else
            e.write_uint(v);
    }
    /// Reads an integer and checks that it fits in T.
    static T decode(Decoder& d) {
        using limits = std::numeric_limits<T>;
        if constexpr (std::is_signed_v<T>) {
            const std::int64_t v = d.read_int();
            if (v < limits::min() || v > limits::max()) range_error(std::to_string(v));
            return static_cast<T>(v);
        } else {
            const std::uint64_t v = d.read_uint();
            if (v > limits::max()) range_error(std::to_string(v));
            return static_cast<T>(v);
        }
    }

  private:
    [[noreturn]] static void range_error(const std::string& value) {
        using limits = std::numeric_limits<T>;
        detail::decode_error("integer " + value + " out of range for " + detail::integer_name<T>() +
                             " [" + std::to_string(+limits::min()) + ", " +
                             std::to_string(+limits::max()) + "]");
    }
};

/// float: a 32-bit float on the wire; decoding accepts any number (rounded to float).
template <>
struct MPROC_API codec<float> {
    /// Writes a float32.
    static void encode(Encoder& e, const float& v) { e.write_float(v); }
    /// Reads any number as a float.
    static float decode(Decoder& d) { return static_cast<float>(d.read_double()); }
};

/// double: a 64-bit float on the wire (Python float).
template <>
struct MPROC_API codec<double> {
    /// Writes a float64.
    static void encode(Encoder& e, const double& v) { e.write_double(v); }
    /// Reads any number as a double.
    static double decode(Decoder& d) { return d.read_double(); }
};

/// std::string: str (Python str).
template <>
struct MPROC_API codec<std::string> {
    /// Writes a str.
    static void encode(Encoder& e, const std::string& v) { e.write_str(v); }
    /// Reads a str.
    static std::string decode(Decoder& d) { return std::string(d.read_str()); }
};

/// std::string_view: str; encode only (decode into std::string).
template <>
struct MPROC_API codec<std::string_view> {
    /// Writes a str.
    static void encode(Encoder& e, const std::string_view& v) { e.write_str(v); }
};

/// C strings: str (nil for a null pointer); encode only.
template <detail::CString T>
struct codec<T> {
    /// Writes a str, or nil for nullptr.
    static void encode(Encoder& e, const T& v) {
        if (v)
            e.write_str(v);
        else
            e.write_nil();
    }
};

/// char arrays and string literals: str up to the first NUL; encode only.
template <std::size_t N>
struct codec<char[N]> {
    /// Writes a str of the characters before the first NUL (or all N).
    static void encode(Encoder& e, const char (&v)[N]) {
        const char* nul = std::char_traits<char>::find(v, N, '\0');
        e.write_str(std::string_view(v, nul ? static_cast<std::size_t>(nul - v) : N));
    }
};

/// mproc::bytes: bin (Python bytes).
template <>
struct MPROC_API codec<bytes> {
    /// Writes a bin.
    static void encode(Encoder& e, const bytes& v) { e.write_bin(v); }
    /// Reads a bin.
    static bytes decode(Decoder& d) {
        const auto raw = d.read_bin();
        return bytes(raw.begin(), raw.end());
    }
};

/// A span of bytes: bin; encode only (decode into mproc::bytes).
template <>
struct MPROC_API codec<std::span<const std::byte>> {
    /// Writes a bin.
    static void encode(Encoder& e, const std::span<const std::byte>& v) { e.write_bin(v); }
};

/// std::vector: an array; vectors of numbers (except vector<bool>) travel as one bulk array,
/// and decode from either form.
template <class T, class A>
struct codec<std::vector<T, A>> : detail::array_codec<std::vector<T, A>> {
    /// Writes the elements (bulk for numbers).
    static void encode(Encoder& e, const std::vector<T, A>& v) requires Encodable<T> {
        if constexpr (contiguous_scalars)
            e.write_bulk(detail::scalar_kind<T>(), v.data(), v.size());
        else
            base::encode(e, v);
    }
    /// Reads a bulk array of numbers, or an array of items.
    static std::vector<T, A> decode(Decoder& d) requires Decodable<T> {
        if constexpr (detail::BulkScalar<T>) {
            if (d.peek() == ValueKind::bulk) {
                const auto raw = detail::read_scalars<T>(d);
                std::vector<T, A> v(raw.size() / sizeof(T));
                if constexpr (contiguous_scalars)
                    std::copy(raw.begin(), raw.end(), reinterpret_cast<std::byte*>(v.data()));
                else
                    std::transform(raw.begin(), raw.end(), v.begin(),
                                   [](std::byte b) { return b != std::byte{0}; });
                return v;
            }
        }
        return base::decode(d);
    }

  private:
    using base = detail::array_codec<std::vector<T, A>>;
    static constexpr bool contiguous_scalars = detail::BulkScalar<T> && !std::same_as<T, bool>;
};

/// std::array: an array of exactly N items (bulk for numbers); decode checks the size.
template <class T, std::size_t N>
struct codec<std::array<T, N>> {
    /// Writes the N elements.
    static void encode(Encoder& e, const std::array<T, N>& a) requires Encodable<T> {
        if constexpr (detail::BulkScalar<T>) {
            e.write_bulk(detail::scalar_kind<T>(), a.data(), N);
        } else {
            e.begin_array(N);
            for (const auto& x : a) mproc::encode(e, x);
        }
    }
    /// Reads exactly N elements.
    static std::array<T, N> decode(
        Decoder& d) requires Decodable<T> && std::default_initializable<T> {
        std::array<T, N> a{};
        if constexpr (detail::BulkScalar<T>) {
            if (d.peek() == ValueKind::bulk) {
                const auto raw = detail::read_scalars<T>(d);
                if (raw.size() != N * sizeof(T))
                    detail::decode_error("std::array: expected " + std::to_string(N) +
                                         " elements, found " +
                                         std::to_string(raw.size() / sizeof(T)));
                if constexpr (N > 0)  // data() of an empty std::array may be null
                    std::copy(raw.begin(), raw.end(), reinterpret_cast<std::byte*>(a.data()));
                return a;
            }
        }
        detail::expect_array(d, N, "std::array");
        for (auto& x : a) x = mproc::decode<T>(d);
        return a;
    }
};

/// std::set: an array.
template <class T, class C, class A>
struct codec<std::set<T, C, A>> : detail::array_codec<std::set<T, C, A>> {};

/// std::unordered_set: an array.
template <class T, class H, class E, class A>
struct codec<std::unordered_set<T, H, E, A>> : detail::array_codec<std::unordered_set<T, H, E, A>> {
};

/// std::map: a map (Python dict).
template <class K, class V, class C, class A>
struct codec<std::map<K, V, C, A>> : detail::map_codec<std::map<K, V, C, A>> {};

/// std::unordered_map: a map (Python dict).
template <class K, class V, class H, class E, class A>
struct codec<std::unordered_map<K, V, H, E, A>>
    : detail::map_codec<std::unordered_map<K, V, H, E, A>> {};

/// std::optional: nil when empty, else the value (Python None or the value).
template <class T>
struct codec<std::optional<T>> {
    /// Writes nil or the value.
    static void encode(Encoder& e, const std::optional<T>& v) requires Encodable<T> {
        if (v)
            mproc::encode(e, *v);
        else
            e.write_nil();
    }
    /// Reads nil as std::nullopt, anything else as a T.
    static std::optional<T> decode(Decoder& d) requires Decodable<T> {
        if (d.peek() != ValueKind::nil) return mproc::decode<T>(d);
        d.read_nil();
        return std::nullopt;
    }
};

/// std::nullopt_t: nil.
template <>
struct MPROC_API codec<std::nullopt_t> {
    /// Writes nil.
    static void encode(Encoder& e, const std::nullopt_t&) { e.write_nil(); }
    /// Reads nil.
    static std::nullopt_t decode(Decoder& d) {
        d.read_nil();
        return std::nullopt;
    }
};

/// std::monostate: nil.
template <>
struct MPROC_API codec<std::monostate> {
    /// Writes nil.
    static void encode(Encoder& e, const std::monostate&) { e.write_nil(); }
    /// Reads nil.
    static std::monostate decode(Decoder& d) {
        d.read_nil();
        return {};
    }
};

/// std::tuple: an array of its elements (Python tuple arrives as a list).
template <class... Ts>
struct codec<std::tuple<Ts...>> {
    /// Writes the elements as an array.
    static void encode(Encoder& e, const std::tuple<Ts...>& t) requires(Encodable<Ts>&&...) {
        e.begin_array(sizeof...(Ts));
        std::apply([&](const auto&... x) { (mproc::encode(e, x), ...); }, t);
    }
    /// Reads an array of exactly sizeof...(Ts) items.
    static std::tuple<Ts...> decode(Decoder& d) requires(Decodable<Ts>&&...) {
        detail::expect_array(d, sizeof...(Ts), "std::tuple");
        return std::tuple<Ts...>{mproc::decode<Ts>(d)...};  // braces: left-to-right order
    }
};

/// std::pair: an array of two items.
template <class A, class B>
struct codec<std::pair<A, B>> {
    /// Writes [first, second].
    static void encode(Encoder& e, const std::pair<A, B>& p) requires Encodable<A> && Encodable<B> {
        e.begin_array(2);
        mproc::encode(e, p.first);
        mproc::encode(e, p.second);
    }
    /// Reads [first, second].
    static std::pair<A, B> decode(Decoder& d) requires Decodable<A> && Decodable<B> {
        detail::expect_array(d, 2, "std::pair");
        return std::pair<A, B>{mproc::decode<A>(d), mproc::decode<B>(d)};
    }
};

/// std::variant: an array [index, value]; decode checks the index.
template <class... Ts>
struct codec<std::variant<Ts...>> {
    /// The variant type.
    using variant = std::variant<Ts...>;

    /// Writes [index, value].
    static void encode(Encoder& e, const variant& v) requires(Encodable<Ts>&&...) {
        if (v.valueless_by_exception())
            throw SerializationError("mproc::encode: std::variant is valueless by exception");
        e.begin_array(2);
        e.write_uint(v.index());
        std::visit([&](const auto& x) { mproc::encode(e, x); }, v);
    }
    /// Reads [index, value].
    static variant decode(Decoder& d) requires(Decodable<Ts>&&...) {
        detail::expect_array(d, 2, "std::variant");
        const std::uint64_t index = d.read_uint();
        if (index >= sizeof...(Ts))
            detail::decode_error("std::variant index " + std::to_string(index) +
                                 " out of range for " + std::to_string(sizeof...(Ts)) +
                                 " alternatives");
        return decode_alternative(d, index, std::index_sequence_for<Ts...>{});
    }

  private:
    template <std::size_t... I>
    static variant decode_alternative(Decoder& d, std::size_t index, std::index_sequence<I...>) {
        using reader = variant (*)(Decoder&);
        static constexpr reader readers[] = {+[](Decoder& dd) {
            return variant(std::in_place_index<I>,
                           mproc::decode<std::variant_alternative_t<I, variant>>(dd));
        }...};
        return readers[index](d);
    }
};

/// std::chrono::duration: its count() (in the duration's own units).
template <class Rep, class Period>
struct codec<std::chrono::duration<Rep, Period>> {
    /// The duration type.
    using duration = std::chrono::duration<Rep, Period>;
    /// Writes count().
    static void encode(Encoder& e, const duration& v) requires Encodable<Rep> {
        mproc::encode(e, v.count());
    }
    /// Reads a count.
    static duration decode(Decoder& d) requires Decodable<Rep> {
        return duration(mproc::decode<Rep>(d));
    }
};

/// Classes with MPROC_FIELDS: an array of the listed fields (decode checks the count).
template <detail::HasFields T>
struct codec<T> {
    /// Writes the fields as an array.
    static void encode(Encoder& e, const T& v) { mproc::encode(e, fields_access::fields(v)); }
    /// Reads the fields into a value-initialized T.
    static T decode(Decoder& d) requires std::default_initializable<T> {
        T v{};
        auto fields = fields_access::fields(v);
        detail::expect_array(d, std::tuple_size_v<decltype(fields)>, "MPROC_FIELDS class");
        std::apply([&](auto&... f) { ((f = mproc::decode<decltype(f)>(d)), ...); }, fields);
        return v;
    }
};

/// Types opted in with enable_trivial_codec: a bin of exactly sizeof(T) raw bytes.
template <detail::TriviallyEncoded T>
struct codec<T> {
    static_assert(std::is_trivially_copyable_v<T>,
                  "mproc::enable_trivial_codec needs a trivially copyable type");
    /// Writes the object representation.
    static void encode(Encoder& e, const T& v) { e.write_bin(std::as_bytes(std::span(&v, 1))); }
    /// Reads exactly sizeof(T) bytes.
    static T decode(Decoder& d) {
        const auto raw = d.read_bin();
        if (raw.size() != sizeof(T))
            detail::decode_error("trivial codec: expected " + std::to_string(sizeof(T)) +
                                 " bytes, found " + std::to_string(raw.size()));
        std::array<std::byte, sizeof(T)> buf;
        std::memcpy(buf.data(), raw.data(), sizeof(T));
        return std::bit_cast<T>(buf);
    }
};

}  // namespace mproc
