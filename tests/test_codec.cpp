// Round trips and error reports of the typed codecs (mproc/codec.hpp) over the
// msgpack serializer plugin, plus the plugin's wire format where a Python peer
// depends on it.
#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <variant>
#include <vector>

#include <mproc/codec.hpp>
#include <mproc/errors.hpp>
#include <mproc/serializer.hpp>

using Catch::Matchers::Contains;
using mproc::SerializationError;
using mproc::ValueKind;

namespace {

struct Point {
    int x = 0;
    int y = 0;
    std::string label;
    MPROC_FIELDS(x, y, label)
    bool operator==(const Point&) const = default;
};

// The macro may sit in a private section.
class Secret {
  public:
    Secret() = default;
    Secret(std::vector<Point> p, std::optional<double> w) : points_(std::move(p)), weight_(w) {}
    bool operator==(const Secret&) const = default;

  private:
    std::vector<Point> points_;
    std::optional<double> weight_;
    MPROC_FIELDS(points_, weight_)
};

struct Celsius {
    double value = 0;
    bool operator==(const Celsius&) const = default;
};

struct Pod {
    std::int32_t a;
    float b;
    char tag[8];
    bool operator==(const Pod& o) const {
        return a == o.a && b == o.b && std::equal(tag, tag + 8, o.tag);
    }
};

}  // namespace

// The explicit-specialization way: a temperature travels as a bare double.
template <>
struct mproc::codec<Celsius> {
    static void encode(Encoder& e, const Celsius& c) { e.write_double(c.value); }
    static Celsius decode(Decoder& d) { return Celsius{d.read_double()}; }
};

template <>
inline constexpr bool mproc::enable_trivial_codec<Pod> = true;

static_assert(mproc::Serializable<std::map<std::string, std::vector<Point>>>);
static_assert(mproc::Serializable<const Secret&>);
static_assert(mproc::Encodable<std::string_view> && !mproc::Decodable<std::string_view>);
static_assert(!mproc::Encodable<std::vector<void*>>);

namespace {

mproc::bytes raw(std::initializer_list<int> values) {
    mproc::bytes out;
    for (int v : values) out.push_back(static_cast<std::byte>(v));
    return out;
}

// One encoder and decoder pair, reused across a test as the library does.
struct Wire {
    std::unique_ptr<mproc::Encoder> enc = mproc::get_serializer("msgpack").make_encoder();
    std::unique_ptr<mproc::Decoder> dec = mproc::get_serializer("msgpack").make_decoder();
    mproc::bytes message;

    template <class T>
    const mproc::bytes& encode(const T& v) {
        enc->clear();
        mproc::encode(*enc, v);
        message.assign(enc->data().begin(), enc->data().end());
        return message;
    }
    mproc::Decoder& load(const mproc::bytes& m) {
        message = m;
        dec->reset(message);
        return *dec;
    }
    // Decodes the last encoded message as a T and checks nothing is left over.
    template <class T>
    T decode() {
        dec->reset(message);
        T v = mproc::decode<T>(*dec);
        CHECK(dec->peek() == ValueKind::end);
        return v;
    }
    template <class T>
    T round_trip(const T& v) {
        encode(v);
        return decode<T>();
    }
};

template <class T>
void check_round_trip(Wire& w, const T& v) {
    CHECK(w.round_trip(v) == v);
}

template <class T>
void check_limits(Wire& w) {
    check_round_trip(w, std::numeric_limits<T>::min());
    check_round_trip(w, std::numeric_limits<T>::max());
    check_round_trip(w, T(0));
    check_round_trip(w, T(100));
}

template <class T>
void check_bulk(Wire& w, mproc::ScalarKind kind) {
    std::vector<T> v;
    for (int i = 0; i < 100; ++i) v.push_back(static_cast<T>(i * 37 - 50));
    v.push_back(std::numeric_limits<T>::max());
    v.push_back(std::numeric_limits<T>::lowest());
    const auto& m = w.encode(v);
    // ext32 (0xc9) is used from 256 payload bytes on; smaller ones are ext8/16.
    CHECK(w.load(m).peek() == ValueKind::bulk);
    const std::size_t header = m.size() - 1 - v.size() * sizeof(T);
    CHECK(static_cast<int>(m[header]) == static_cast<int>(kind));
    CHECK(w.decode<std::vector<T>>() == v);
    CHECK(w.round_trip(std::vector<T>{}).empty());
}

}  // namespace

TEST_CASE("codec round-trips scalars", "[codec]") {
    Wire w;
    check_round_trip(w, true);
    check_round_trip(w, false);
    check_limits<std::int8_t>(w);
    check_limits<std::uint8_t>(w);
    check_limits<std::int16_t>(w);
    check_limits<std::uint16_t>(w);
    check_limits<std::int32_t>(w);
    check_limits<std::uint32_t>(w);
    check_limits<std::int64_t>(w);
    check_limits<std::uint64_t>(w);
    check_limits<long long>(w);
    check_limits<unsigned long>(w);
    check_limits<char>(w);
    check_limits<signed char>(w);
    check_limits<wchar_t>(w);
    check_limits<char32_t>(w);
    check_round_trip(w, 'x');
    check_round_trip(w, 1.5f);
    check_round_trip(w, std::numeric_limits<float>::max());
    check_round_trip(w, 3.141592653589793);
    check_round_trip(w, 1e-300);
    check_round_trip(w, std::numeric_limits<double>::infinity());
    CHECK(std::isnan(w.round_trip(std::nan(""))));
    CHECK(std::signbit(w.round_trip(-0.0)));
    CHECK(w.round_trip(1.0) == 1.0);
    CHECK(w.load(w.encode(1.0)).peek() == ValueKind::floating);  // stays a float for Python
}

TEST_CASE("codec round-trips strings and bytes", "[codec]") {
    Wire w;
    check_round_trip(w, std::string());
    check_round_trip(w, std::string("hello"));
    check_round_trip(w, std::string("nul\0inside", 10));
    check_round_trip(w, std::string(256, 'x'));
    check_round_trip(w, std::string(70000, 'y'));

    w.encode(std::string_view("view"));
    CHECK(w.decode<std::string>() == "view");
    w.encode("literal");
    CHECK(w.decode<std::string>() == "literal");
    const char* c_string = "pointer";
    w.encode(c_string);
    CHECK(w.decode<std::string>() == "pointer");
    c_string = nullptr;
    w.encode(c_string);
    CHECK(w.decode<std::optional<std::string>>() == std::nullopt);
    char buffer[8] = {'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'};  // no NUL: stop at the end
    w.encode(buffer);
    CHECK(w.decode<std::string>() == "abcdefgh");

    check_round_trip(w, mproc::bytes{});
    check_round_trip(w, raw({0, 1, 2, 255}));
    const mproc::bytes blob = raw({9, 8, 7});
    w.encode(std::span<const std::byte>(blob));
    CHECK(w.decode<mproc::bytes>() == blob);
}

TEST_CASE("codec round-trips containers", "[codec]") {
    Wire w;
    check_round_trip(w, std::vector<std::string>{"a", "bb", ""});
    check_round_trip(w, std::vector<std::vector<int>>{{1, 2}, {}, {3}});
    check_round_trip(w, std::vector<bool>{true, false, true});
    check_round_trip(w, std::array<std::string, 2>{"x", "y"});
    check_round_trip(w, std::array<int, 3>{1, -2, 3});
    check_round_trip(w, std::map<std::string, std::vector<int>>{{"a", {1}}, {"b", {}}});
    check_round_trip(w, std::unordered_map<int, std::string>{{1, "one"}, {-2, "minus two"}});
    check_round_trip(w, std::set<std::string>{"p", "q"});
    check_round_trip(w, std::unordered_set<std::int64_t>{5, 6, 7});
    check_round_trip(w, std::map<std::tuple<int, int>, std::optional<double>>{
                            {{1, 2}, 0.5}, {{3, 4}, std::nullopt}});

    SECTION("empty containers") {
        check_round_trip(w, std::vector<std::string>{});
        check_round_trip(w, std::vector<bool>{});
        check_round_trip(w, std::array<int, 0>{});
        check_round_trip(w, std::map<int, int>{});
        check_round_trip(w, std::unordered_map<std::string, int>{});
        check_round_trip(w, std::set<int>{});
        check_round_trip(w, std::tuple<>{});
    }
}

TEST_CASE("codec round-trips optional, tuple, pair, variant and nil types", "[codec]") {
    Wire w;
    check_round_trip(w, std::optional<int>{});
    check_round_trip(w, std::optional<int>{7});
    check_round_trip(w, std::optional<std::vector<int>>{std::vector<int>{}});
    check_round_trip(w, std::tuple<int, std::string, double>{1, "two", 3.0});
    check_round_trip(w, std::pair<std::string, bool>{"k", true});
    check_round_trip(w, std::monostate{});
    w.encode(std::nullopt);
    CHECK(w.load(w.message).peek() == ValueKind::nil);
    w.decode<std::nullopt_t>();

    using V = std::variant<std::monostate, int, std::string, std::vector<double>>;
    check_round_trip(w, V{});
    check_round_trip(w, V{42});
    check_round_trip(w, V{std::string("s")});
    check_round_trip(w, V{std::vector<double>{1.5}});
    check_round_trip(w, std::variant<int, int>{std::in_place_index<1>, 5});
    CHECK(w.round_trip(std::variant<int, int>{std::in_place_index<1>, 5}).index() == 1);

    check_round_trip(w, std::chrono::milliseconds(1234));
    check_round_trip(w, std::chrono::duration<double>(0.25));
}

TEST_CASE("codec handles user types", "[codec]") {
    Wire w;
    check_round_trip(w, Point{1, -2, "p"});
    check_round_trip(w, Secret{{Point{1, 2, "a"}, Point{}}, 0.5});
    check_round_trip(w, std::map<std::string, Point>{{"origin", Point{}}});

    SECTION("MPROC_FIELDS is an array of the fields") {
        w.encode(Point{1, 2, "p"});
        CHECK((w.decode<std::tuple<int, int, std::string>>() == std::tuple{1, 2, "p"}));
        w.encode(std::tuple{1, 2});
        CHECK_THROWS_WITH(w.decode<Point>(), Contains("expected an array of 3 items, found 2"));
    }
    SECTION("explicit specialization") {
        check_round_trip(w, Celsius{21.5});
        w.encode(Celsius{-4});
        CHECK(w.decode<double>() == -4);
    }
    SECTION("trivial fast path is a bin of sizeof(T)") {
        const Pod pod{-7, 2.5f, {'a', 'b', 'c', 0, 0, 0, 0, 'z'}};
        check_round_trip(w, pod);
        CHECK(w.decode<mproc::bytes>().size() == sizeof(Pod));
        w.encode(raw({1, 2, 3}));
        CHECK_THROWS_WITH(w.decode<Pod>(), Contains("expected 16 bytes, found 3"));
    }
}

TEST_CASE("codec sends vectors of numbers as bulk arrays", "[codec]") {
    using K = mproc::ScalarKind;
    Wire w;
    check_bulk<std::int8_t>(w, K::i8);
    check_bulk<std::uint8_t>(w, K::u8);
    check_bulk<std::int16_t>(w, K::i16);
    check_bulk<std::uint16_t>(w, K::u16);
    check_bulk<std::int32_t>(w, K::i32);
    check_bulk<std::uint32_t>(w, K::u32);
    check_bulk<std::int64_t>(w, K::i64);
    check_bulk<std::uint64_t>(w, K::u64);
    check_bulk<float>(w, K::f32);
    check_bulk<double>(w, K::f64);
    check_bulk<char>(w, K::character);

    const std::array<bool, 3> flags{true, false, true};
    CHECK(w.load(w.encode(flags)).peek() == ValueKind::bulk);
    CHECK(w.decode<std::array<bool, 3>>() == flags);
    CHECK(w.decode<std::vector<bool>>() == std::vector<bool>{true, false, true});

    SECTION("wire format: ext 1, kind byte, little-endian elements") {
        CHECK(w.encode(std::vector<std::int32_t>{1, 0x01020304}) ==
              raw({0xc7, 9, 1, 5, 1, 0, 0, 0, 4, 3, 2, 1}));
    }
    SECTION("a plain array (a Python list) decodes too") {
        w.encode(std::tuple{1, -2, 3});
        CHECK(w.decode<std::vector<int>>() == std::vector<int>{1, -2, 3});
        CHECK(w.decode<std::array<double, 3>>() == std::array<double, 3>{1, -2, 3});
    }
    SECTION("kind and size are checked") {
        w.encode(std::vector<std::int32_t>{1, 2});
        CHECK_THROWS_WITH(w.decode<std::vector<float>>(),
                          Contains("expected bulk array of f32, found bulk array of i32"));
        CHECK_THROWS_WITH((w.decode<std::array<std::int32_t, 3>>()),
                          Contains("expected 3 elements, found 2"));
        w.load(raw({0xc7, 4, 1, 5, 1, 2, 3}));  // 3 bytes of i32
        CHECK_THROWS_WITH(mproc::decode<std::vector<std::int32_t>>(*w.dec),
                          Contains("not a multiple of 4"));
        w.load(raw({0xd5, 1, 11, 2}));  // bool byte 2
        CHECK_THROWS_WITH((mproc::decode<std::array<bool, 1>>(*w.dec)), Contains("0 or 1"));
    }
}

TEST_CASE("codec moves a large byte string", "[codec]") {
    Wire w;
    mproc::bytes big(64u << 20);
    for (std::size_t i = 0; i < big.size(); i += 4096) big[i] = std::byte(i >> 12);
    w.enc->clear();
    mproc::encode(*w.enc, big);
    w.dec->reset(w.enc->data());
    const auto view = w.dec->read_bin();
    CHECK(view.size() == big.size());
    CHECK(std::equal(view.begin(), view.end(), big.begin()));
    CHECK(w.dec->peek() == ValueKind::end);
}

TEST_CASE("codec reports out-of-range integers", "[codec]") {
    Wire w;
    w.encode(300);
    CHECK_THROWS_AS(w.decode<std::int8_t>(), SerializationError);
    CHECK_THROWS_WITH(w.decode<std::int8_t>(),
                      Contains("300") && Contains("int8_t") && Contains("[-128, 127]"));
    CHECK_THROWS_WITH(w.decode<std::uint8_t>(), Contains("uint8_t"));
    CHECK(w.decode<std::uint16_t>() == 300);
    w.encode(-1);
    CHECK_THROWS_WITH(w.decode<std::uint64_t>(), Contains("-1 is negative"));
    w.encode(std::numeric_limits<std::uint64_t>::max());
    CHECK_THROWS_WITH(w.decode<std::int64_t>(), Contains("does not fit in int64"));
    w.encode(std::numeric_limits<std::int64_t>::min());
    CHECK_THROWS_WITH(w.decode<std::int32_t>(), Contains("out of range for int32_t"));
    w.encode(std::variant<int, bool>{true});
    w.message[1] = std::byte{7};  // the index
    CHECK_THROWS_WITH((w.decode<std::variant<int, bool>>()),
                      Contains("index 7 out of range for 2 alternatives"));
}

TEST_CASE("codec reports type mismatches", "[codec]") {
    Wire w;
    w.encode(42);
    CHECK_THROWS_AS(w.decode<std::string>(), SerializationError);
    CHECK_THROWS_WITH(w.decode<std::string>(), Contains("msgpack: expected str, found int"));
    CHECK_THROWS_WITH(w.decode<std::vector<int>>(), Contains("expected array, found int"));
    CHECK_THROWS_WITH(w.decode<bool>(), Contains("expected bool"));
    w.encode(std::string("x"));
    CHECK_THROWS_WITH(w.decode<double>(), Contains("expected float, found str"));
    CHECK_THROWS_WITH((w.decode<std::map<int, int>>()), Contains("expected map, found str"));
    CHECK_THROWS_WITH(w.decode<mproc::bytes>(), Contains("expected bin, found str"));
    w.encode(std::tuple{1, 2, 3});
    CHECK_THROWS_WITH((w.decode<std::pair<int, int>>()),
                      Contains("std::pair: expected an array of 2 items, found 3"));
}

TEST_CASE("codec reports short data and leaves trailing data", "[codec]") {
    Wire w;
    auto m = w.encode(std::string("hello"));
    m.pop_back();
    w.load(m);
    CHECK_THROWS_WITH(mproc::decode<std::string>(*w.dec),
                      Contains("truncated message: need 6 bytes at offset 0, have 5"));
    w.load({});
    CHECK(w.dec->peek() == ValueKind::end);
    CHECK_THROWS_WITH(mproc::decode<int>(*w.dec), Contains("expected int, found end of message"));
    w.load(raw({0xcd, 1}));  // uint16 missing a byte
    CHECK_THROWS_WITH(mproc::decode<int>(*w.dec), Contains("need 3 bytes at offset 0, have 2"));

    w.load(raw({0x93, 1}));  // [1, ?, ?]: a loop "until end" must not spin
    CHECK(w.dec->read_array() == 3);
    CHECK(w.dec->read_int() == 1);
    CHECK_THROWS_WITH(w.dec->peek(),
                      Contains("ends at offset 2 with 2 items of a container unread"));

    w.load(raw({1, 2}));
    CHECK(mproc::decode<int>(*w.dec) == 1);
    CHECK(w.dec->remaining() == 1);
    CHECK(w.dec->peek() == ValueKind::integer);
}

TEST_CASE("msgpack decoder reads every msgpack format", "[codec]") {
    Wire w;
    auto& d = *w.dec;
    // Integers of any width, as a Python peer may send them.
    w.load(raw({0xcc, 0xff, 0xd0, 0x05, 0xd1, 0xff, 0x38, 0xe0, 0xcf, 0, 0, 0, 1, 0, 0, 0, 0}));
    CHECK(d.read_int() == 255);
    CHECK(d.read_uint() == 5);
    CHECK(d.read_int() == -200);
    CHECK(d.read_double() == -32);
    CHECK(d.read_uint() == (1ull << 32));
    // float32 widens; str8/bin16/array16/map32 headers.
    w.load(raw({0xca, 0x3f, 0xc0, 0,    0,    0xd9, 1, 'a', 0xc5, 0,    1,   9,
                0xdc, 0,    1,    0xc0, 0xdf, 0,    0, 0,   1,    0xc2, 0xc3}));
    CHECK(d.peek() == ValueKind::floating);
    CHECK(d.read_double() == 1.5);
    CHECK(d.read_str() == "a");
    CHECK(d.read_bin().size() == 1);
    CHECK(d.read_array() == 1);
    d.read_nil();
    CHECK(d.read_map() == 1);
    CHECK(d.read_bool() == false);
    CHECK(d.read_bool() == true);
    CHECK(d.peek() == ValueKind::end);

    SECTION("handles are ext 2 with a big-endian slot") {
        w.enc->clear();
        w.enc->write_handle(0x01020304);
        CHECK(mproc::bytes(w.enc->data().begin(), w.enc->data().end()) ==
              raw({0xd6, 2, 1, 2, 3, 4}));
        d.reset(w.enc->data());
        CHECK(d.peek() == ValueKind::handle);
        CHECK(d.read_handle() == 0x01020304);
    }
    SECTION("unknown ext types can be skipped but not read") {
        w.load(raw({0xd4, 9, 0, 0xc7, 0, 1, 3}));
        CHECK_THROWS_WITH(d.peek(), Contains("unsupported ext type 9"));
        CHECK_THROWS_WITH(d.read_bin(), Contains("expected bin, found ext type 9"));
        d.skip();
        CHECK_THROWS_WITH(d.read_bulk(mproc::ScalarKind::i8),
                          Contains("bulk array without an element kind"));
    }
    SECTION("the reserved byte 0xc1 is invalid") {
        w.load(raw({0xc1}));
        CHECK_THROWS_WITH(d.skip(), Contains("invalid format byte 0xc1 at offset 0"));
    }
}

TEST_CASE("msgpack decoder skips nested items and bounds nesting", "[codec]") {
    Wire w;
    w.encode(std::tuple{std::map<std::string, std::vector<int>>{{"a", {1, 2}}},
                        std::vector<std::string>{"x"}, 5});
    auto& d = w.load(w.message);
    CHECK(d.read_array() == 3);
    d.skip();
    CHECK(d.peek() == ValueKind::array);
    d.skip();
    CHECK(mproc::decode<int>(d) == 5);
    CHECK(d.peek() == ValueKind::end);

    const auto nested = [](std::size_t depth) {
        mproc::bytes m(depth, std::byte{0x91});  // [[[...]]]
        m.push_back(std::byte{0xc0});
        return m;
    };
    w.load(nested(512));
    w.dec->skip();
    CHECK(w.dec->peek() == ValueKind::end);
    w.load(nested(513));
    CHECK_THROWS_WITH(w.dec->skip(), Contains("nesting deeper than 512 levels"));
    w.load(nested(100000));
    CHECK_THROWS_AS(w.dec->skip(), SerializationError);
}

TEST_CASE("msgpack encoder reuses its buffer", "[codec]") {
    Wire w;
    const std::string payload(256, 'p');
    mproc::encode(*w.enc, payload);
    const auto* first = w.enc->data().data();
    for (int i = 0; i < 10; ++i) {
        w.enc->clear();
        CHECK(w.enc->data().empty());
        mproc::encode(*w.enc, payload);
        CHECK(w.enc->data().data() == first);
    }
    CHECK(w.enc->data().size() == 3 + payload.size());  // str16 header
}
