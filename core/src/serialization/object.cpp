// mproc::object: Python's repr, and the codec that reads any value.
#include <mproc/object.hpp>

#include <cstring>

#include <fmt/format.h>

#include "serialization/exact_tuples.hpp"

namespace mproc {

namespace {
thread_local bool mark_tuples = false;
}  // namespace

detail::ExactTuples::ExactTuples() : previous_(std::exchange(mark_tuples, true)) {}
detail::ExactTuples::~ExactTuples() {
    mark_tuples = previous_;
}

object& dict::operator[](const object& key) {
    for (auto& [k, v] : *this)
        if (k == key) return v;
    return emplace_back(key, object()).second;
}

const object* dict::find(const object& key) const {
    for (auto& [k, v] : *this)
        if (k == key) return &v;
    return nullptr;
}

namespace {

// Python's quote choice: single quotes unless the text has ' and no ".
char quote_for(std::string_view s) {
    return s.find('\'') != std::string_view::npos && s.find('"') == std::string_view::npos ? '"'
                                                                                           : '\'';
}

void escape_into(std::string& out, std::string_view s, char quote, bool is_bytes) {
    for (unsigned char c : s) {
        if (c == quote || c == '\\') {
            out += '\\';
            out += char(c);
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\r') {
            out += "\\r";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c < 0x20 || c == 0x7f || (is_bytes && c >= 0x80)) {
            out += fmt::format("\\x{:02x}", c);
        } else {
            out += char(c);  // UTF-8 of a str passes through, as Python prints it
        }
    }
}

std::string str_repr(std::string_view s, bool is_bytes) {
    char q = quote_for(s);
    std::string out = is_bytes ? "b" : "";
    out += q;
    escape_into(out, s, q, is_bytes);
    out += q;
    return out;
}

// Python's float repr. fmt's shortest round-trip form already matches it
// (exponent below 1e-4 and from 1e16, "inf", "nan") but for the ".0" that
// Python adds to an integral value.
std::string float_repr(double v) {
    std::string s = fmt::format("{}", v);
    if (s.find_first_of(".ena") == std::string::npos) s += ".0";
    return s;
}

std::string_view as_text(const bytes& b) {
    return {reinterpret_cast<const char*>(b.data()), b.size()};
}

template <class Seq>
std::string join(const Seq& items, std::string_view open, std::string_view close, bool one_comma) {
    std::string out(open);
    const char* sep = "";
    for (auto& x : items) {
        out += sep;
        out += x.repr();
        sep = ", ";
    }
    if (one_comma && items.size() == 1) out += ',';
    out += close;
    return out;
}

}  // namespace

std::string object::repr() const {
    return std::visit(
        [](const auto& v) -> std::string {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, none_t>)
                return "None";
            else if constexpr (std::is_same_v<T, bool>)
                return v ? "True" : "False";
            else if constexpr (std::is_same_v<T, std::int64_t>)
                return fmt::format("{}", v);
            else if constexpr (std::is_same_v<T, double>)
                return float_repr(v);
            else if constexpr (std::is_same_v<T, std::string>)
                return str_repr(v, false);
            else if constexpr (std::is_same_v<T, bytes>)
                return str_repr(as_text(v), true);
            else if constexpr (std::is_same_v<T, list>)
                return join(v, "[", "]", false);
            else if constexpr (std::is_same_v<T, tuple>)
                return join(v, "(", ")", true);
            else {
                std::string out = "{";
                const char* sep = "";
                for (auto& [k, x] : v) {
                    out += sep;
                    out += k.repr() + ": " + x.repr();
                    sep = ", ";
                }
                return out + "}";
            }
        },
        v_);
}

std::string object::str() const {
    if (auto* s = get_if<std::string>()) return *s;
    return repr();
}

void codec<object>::encode(Encoder& e, const object& o) {
    std::visit(
        [&e](const auto& v) {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, none_t>) {
                e.write_nil();
            } else if constexpr (std::is_same_v<T, bool>) {
                e.write_bool(v);
            } else if constexpr (std::is_same_v<T, std::int64_t>) {
                e.write_int(v);
            } else if constexpr (std::is_same_v<T, double>) {
                e.write_double(v);
            } else if constexpr (std::is_same_v<T, std::string>) {
                e.write_str(v);
            } else if constexpr (std::is_same_v<T, bytes>) {
                e.write_bin(v);
            } else if constexpr (std::is_same_v<T, dict>) {
                e.begin_map(v.size());
                for (auto& [k, x] : v) {
                    encode(e, k);
                    encode(e, x);
                }
            } else {  // list, tuple
                bool mark = std::is_same_v<T, tuple> && mark_tuples;
                e.begin_array(v.size() + (mark ? 1 : 0));
                if (mark) e.write_handle(detail::tuple_mark_slot);
                for (auto& x : v) encode(e, x);
            }
        },
        o.value());
}

namespace {

// A bulk array of numbers becomes a list of ints, floats or bools.
list decode_bulk(Decoder& d) {
    ScalarKind k = d.peek_bulk_kind();
    std::size_t size = scalar_size(k);
    if (size == 0)
        throw SerializationError(
            fmt::format("mproc::object: unknown bulk element kind {}", int(k)));
    auto raw = d.read_bulk(k);
    list out;
    out.reserve(raw.size() / size);
    for (std::size_t at = 0; at + size <= raw.size(); at += size) {
        auto get = [&](auto zero) {
            decltype(zero) v;
            std::memcpy(&v, raw.data() + at, sizeof v);
            return v;
        };
        switch (k) {
            case ScalarKind::i8:
                out.emplace_back(get(std::int8_t{}));
                break;
            case ScalarKind::u8:
                out.emplace_back(get(std::uint8_t{}));
                break;
            case ScalarKind::character:
                out.emplace_back(std::int64_t(get(std::uint8_t{})));
                break;
            case ScalarKind::boolean:
                out.emplace_back(get(std::uint8_t{}) != 0);
                break;
            case ScalarKind::i16:
                out.emplace_back(get(std::int16_t{}));
                break;
            case ScalarKind::u16:
                out.emplace_back(get(std::uint16_t{}));
                break;
            case ScalarKind::i32:
                out.emplace_back(get(std::int32_t{}));
                break;
            case ScalarKind::u32:
                out.emplace_back(get(std::uint32_t{}));
                break;
            case ScalarKind::i64:
                out.emplace_back(get(std::int64_t{}));
                break;
            case ScalarKind::u64: {
                auto v = get(std::uint64_t{});
                if (v > std::uint64_t(INT64_MAX))
                    throw SerializationError(
                        fmt::format("mproc::object: integer {} does not fit in int64", v));
                out.emplace_back(std::int64_t(v));
                break;
            }
            case ScalarKind::f32:
                out.emplace_back(get(float{}));
                break;
            case ScalarKind::f64:
                out.emplace_back(get(double{}));
                break;
        }
    }
    return out;
}

list decode_items(Decoder& d, bool& is_tuple);

}  // namespace

object codec<object>::decode(Decoder& d) {
    switch (d.peek()) {
        case ValueKind::nil:
            d.read_nil();
            return None;
        case ValueKind::boolean:
            return d.read_bool();
        case ValueKind::integer:
            return d.read_int();
        case ValueKind::floating:
            return d.read_double();
        case ValueKind::str:
            return std::string(d.read_str());
        case ValueKind::bin: {
            auto b = d.read_bin();
            return bytes(b.begin(), b.end());
        }
        case ValueKind::array: {
            bool is_tuple = false;
            list l = decode_items(d, is_tuple);
            if (!is_tuple) return l;
            return tuple(std::make_move_iterator(l.begin()), std::make_move_iterator(l.end()));
        }
        case ValueKind::map:
            return codec<dict>::decode(d);
        case ValueKind::bulk:
            return decode_bulk(d);
        case ValueKind::handle:
            throw SerializationError(
                "mproc::object: a handle (a Connection or shared object) cannot be read as an "
                "object; receive its own type");
        case ValueKind::end:
            break;
    }
    throw SerializationError("mproc::object: no value left in the message");
}

namespace {

// The items of an array (or bulk array); is_tuple tells if it was marked
// as a tuple (see exact_tuples.hpp).
list decode_items(Decoder& d, bool& is_tuple) {
    is_tuple = false;
    if (d.peek() == ValueKind::bulk) return decode_bulk(d);
    std::size_t n = d.read_array();
    if (n > 0 && d.peek() == ValueKind::handle) {
        if (d.read_handle() != detail::tuple_mark_slot)
            throw SerializationError(
                "mproc::object: a handle (a Connection or shared object) cannot be read as an "
                "object; receive its own type");
        is_tuple = true;
        --n;
    }
    list out;
    out.reserve(std::min(n, d.remaining()));  // every item takes a byte at least
    for (std::size_t i = 0; i < n; ++i) out.push_back(codec<object>::decode(d));
    return out;
}

}  // namespace

list codec<list>::decode(Decoder& d) {
    bool is_tuple;
    return decode_items(d, is_tuple);
}

tuple codec<tuple>::decode(Decoder& d) {
    bool is_tuple;
    list l = decode_items(d, is_tuple);
    return tuple(std::make_move_iterator(l.begin()), std::make_move_iterator(l.end()));
}

dict codec<dict>::decode(Decoder& d) {
    std::size_t n = d.read_map();
    dict out;
    out.reserve(std::min(n, d.remaining() / 2));
    for (std::size_t i = 0; i < n; ++i) {
        object k = codec<object>::decode(d);
        object v = codec<object>::decode(d);
        out.emplace_back(std::move(k), std::move(v));
    }
    return out;
}

}  // namespace mproc
