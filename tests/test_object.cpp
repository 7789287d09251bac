// mproc::object: Python's repr, the msgpack round trip, reading typed data
// and forged messages.
#include <cstdint>
#include <limits>

#include "support.hpp"

namespace mp = mproc;
using Catch::Matchers::Contains;

namespace {

template <class T>
mp::object round_trip(const T& v) {
    auto& s = mp::default_serializer();
    auto e = s.make_encoder();
    mp::encode(*e, v);
    auto d = s.make_decoder();
    std::vector<std::byte> bytes(e->data().begin(), e->data().end());
    d->reset(bytes);
    auto o = mp::decode<mp::object>(*d);
    CHECK(d->remaining() == 0);
    return o;
}

mp::bytes b(std::string_view s) {
    auto p = std::as_bytes(std::span(s));
    return {p.begin(), p.end()};
}

}  // namespace

TEST_CASE("objects print as Python's repr", "[object]") {
    CHECK(fmt::format("{}", mp::object(mp::list{42, mp::None, "hello"})) == "[42, None, 'hello']");
    CHECK(mp::object(mp::list{2.25, mp::None, "junk", 1.0}).repr() == "[2.25, None, 'junk', 1.0]");
    CHECK(mp::object(mp::tuple{1}).repr() == "(1,)");
    CHECK(mp::object(mp::tuple{1, true, false}).repr() == "(1, True, False)");
    CHECK(mp::object(mp::tuple{}).repr() == "()");
    CHECK(mp::object(mp::dict{{"a", 1}, {2, b(std::string("x\0\xff", 3))}}).repr() ==
          R"({'a': 1, 2: b'x\x00\xff'})");
    CHECK(mp::object("it's").repr() == R"("it's")");
    CHECK(mp::object("a'\"\n").repr() == R"('a\'"\n')");
    CHECK(mp::object(1e16).repr() == "1e+16");
    CHECK(mp::object(-0.0).repr() == "-0.0");
    CHECK(mp::object(1e-5).repr() == "1e-05");
    CHECK(mp::object(std::numeric_limits<double>::infinity()).repr() == "inf");
    CHECK(mp::object("hi").str() == "hi");
    CHECK(fmt::format("{:s}", mp::object("hi")) == "hi");
    CHECK(mp::object(mp::list{}).type_name() == "list");
    CHECK(mp::object().is_none());
}

TEST_CASE("objects survive the msgpack round trip; tuples come back as lists", "[object]") {
    mp::dict d;
    d["x"] = mp::list{1, 2.5, mp::tuple{"t", mp::None}};
    d[b("raw")] = true;
    d[-7] = std::int64_t(std::numeric_limits<std::int64_t>::min());
    mp::object o = mp::list{42, mp::None, "hello", d, std::uint32_t(4000000000u)};
    mp::object back = round_trip(o);
    CHECK(back.repr() ==
          "[42, None, 'hello', {'x': [1, 2.5, ['t', None]], b'raw': True, "
          "-7: -9223372036854775808}, 4000000000]");
    CHECK(back.as<mp::list>()[3].as<mp::dict>().find("x") != nullptr);
    CHECK(back.as<mp::list>()[3].as<mp::dict>().find("y") == nullptr);
    CHECK_THROWS_WITH(back.as<mp::dict>(), "mproc::object holds list, not dict");
    mp::object plain = round_trip(mp::list{1, 2});
    CHECK(plain == mp::object(mp::list{1, 2}));
}

TEST_CASE("typed data reads as an object", "[object]") {
    CHECK(round_trip(std::tuple{42, std::optional<int>(), std::string("hello")}).repr() ==
          "[42, None, 'hello']");
    CHECK(round_trip(std::vector<int>{1, -2, 3}).repr() == "[1, -2, 3]");  // a bulk array
    CHECK(round_trip(std::vector<float>{0.5f}).repr() == "[0.5]");
    CHECK(round_trip(std::array<std::uint8_t, 2>{7, 8}).repr() == "[7, 8]");
    CHECK(round_trip(std::map<std::string, int>{{"a", 1}}).repr() == "{'a': 1}");
    CHECK(round_trip(std::numeric_limits<std::uint64_t>::max() / 4).is<std::int64_t>());
    CHECK_THROWS_WITH(round_trip(std::numeric_limits<std::uint64_t>::max()), Contains("int64"));
}

TEST_CASE("forged object messages are errors, not allocations", "[object]") {
    auto& s = mp::default_serializer();
    auto d = s.make_decoder();
    // An array header announcing 2^32-1 items, and nothing after it.
    std::vector<std::byte> forged{std::byte(0xdd), std::byte(0xff), std::byte(0xff),
                                  std::byte(0xff), std::byte(0xff)};
    d->reset(forged);
    CHECK_THROWS_AS(mp::decode<mp::object>(*d), mp::SerializationError);
    std::vector<std::byte> map{std::byte(0xdf), std::byte(0xff), std::byte(0xff),
                               std::byte(0xff), std::byte(0xff), std::byte(0x01)};
    d->reset(map);
    CHECK_THROWS_AS(mp::decode<mp::object>(*d), mp::SerializationError);
    std::vector<std::byte> empty;
    d->reset(empty);
    CHECK_THROWS_WITH(mp::decode<mp::object>(*d), Contains("no value"));
}

TEST_CASE("conn.send(object) carries heterogeneous data through a pipe", "[object]") {
    auto [a, b2] = mp::Pipe();
    a.send(mp::list{42, mp::None, "hello"});
    CHECK(fmt::format("{}", b2.recv<mp::object>()) == "[42, None, 'hello']");
    a.send(mp::dict{{"k", mp::tuple{1, 2}}});
    CHECK(b2.recv<mp::dict>().find("k")->repr() == "[1, 2]");
}
