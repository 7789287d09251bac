// The msgpack decoder against hostile input: truncations, random bytes and
// mutations of valid messages must each either decode or throw
// SerializationError (anything else fails the test, a crash kills it), and
// forged huge lengths must fail fast instead of allocating.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <unordered_map>
#include <variant>
#include <vector>

#include <mproc/codec.hpp>
#include <mproc/errors.hpp>
#include <mproc/serializer.hpp>

namespace {

struct Record {
    std::int64_t id = 0;
    std::optional<std::string> name;
    std::vector<double> samples;
    std::map<std::string, std::variant<int, std::string, bool>> tags;
    MPROC_FIELDS(id, name, samples, tags)
};

using Dict = std::unordered_map<std::string, std::vector<std::int32_t>>;

struct Counts {
    int decoded = 0;
    int rejected = 0;
};

// Decodes `message` in every way the fuzzer tries; only SerializationError may
// escape the decoder, and Catch reports anything else as a failure.
class Target {
  public:
    Target() : dec_(mproc::get_serializer("msgpack").make_decoder()) {}

    void run(std::span<const std::byte> message, Counts& counts) {
        attempt(message, counts, [](mproc::Decoder& d) { mproc::decode<std::int32_t>(d); });
        attempt(message, counts, [](mproc::Decoder& d) { mproc::decode<std::string>(d); });
        attempt(message, counts, [](mproc::Decoder& d) { mproc::decode<std::vector<int>>(d); });
        attempt(message, counts, [](mproc::Decoder& d) { mproc::decode<std::vector<float>>(d); });
        attempt(message, counts, [](mproc::Decoder& d) { mproc::decode<Record>(d); });
        attempt(message, counts, [](mproc::Decoder& d) { mproc::decode<Dict>(d); });
        attempt(message, counts, [](mproc::Decoder& d) {
            mproc::decode<std::tuple<std::optional<double>, mproc::bytes, std::array<bool, 2>>>(d);
        });
        attempt(message, counts, [](mproc::Decoder& d) {
            while (d.peek() != mproc::ValueKind::end) d.skip();
        });
        attempt(message, counts, [](mproc::Decoder& d) { read_generic(d); });
    }

  private:
    template <class F>
    void attempt(std::span<const std::byte> message, Counts& counts, F f) {
        dec_->reset(message);
        try {
            f(*dec_);
            ++counts.decoded;
        } catch (const mproc::SerializationError&) {
            ++counts.rejected;
        }
    }

    // Walks any item through the typed reads, as a dynamic object decoder would.
    static void read_generic(mproc::Decoder& d) {
        switch (d.peek()) {
            case mproc::ValueKind::nil:
                d.read_nil();
                break;
            case mproc::ValueKind::boolean:
                d.read_bool();
                break;
            case mproc::ValueKind::integer:
                d.read_double();
                break;
            case mproc::ValueKind::floating:
                d.read_double();
                break;
            case mproc::ValueKind::str:
                d.read_str();
                break;
            case mproc::ValueKind::bin:
                d.read_bin();
                break;
            case mproc::ValueKind::bulk:
                d.read_bulk(mproc::ScalarKind::u8);
                break;
            case mproc::ValueKind::handle:
                d.read_handle();
                break;
            case mproc::ValueKind::end:
                break;
            case mproc::ValueKind::array:
                for (std::size_t n = d.read_array(); n > 0; --n) read_generic(d);
                break;
            case mproc::ValueKind::map:
                for (std::size_t n = d.read_map(); n > 0; --n) {
                    read_generic(d);
                    read_generic(d);
                }
                break;
        }
    }

    std::unique_ptr<mproc::Decoder> dec_;
};

std::vector<mproc::bytes> valid_messages() {
    auto enc = mproc::get_serializer("msgpack").make_encoder();
    std::vector<mproc::bytes> out;
    const auto add = [&](const auto& value) {
        enc->clear();
        mproc::encode(*enc, value);
        out.emplace_back(enc->data().begin(), enc->data().end());
    };
    add(std::int32_t{-123456});
    add(std::uint64_t{1} << 63);
    add(std::string(40, 's'));
    add(std::vector<int>{1, 2, 3, 400000});
    add(std::vector<float>{1.5f, -2.5f});
    add(std::vector<std::string>{"a", "", std::string(300, 'b')});
    add(Record{7, "seven", {0.5, 1e300}, {{"k", 1}, {"s", std::string("v")}, {"b", true}}});
    add(Record{});
    add(Dict{{"x", {1, 2}}, {"", {}}});
    add(std::tuple{std::optional<double>(2.0), mproc::bytes(20, std::byte{7}),
                   std::array<bool, 2>{true, false}});
    add(std::tuple{std::nullopt, mproc::bytes{}, std::tuple{std::tuple{std::tuple{}}}});
    enc->clear();
    enc->write_handle(3);
    out.emplace_back(enc->data().begin(), enc->data().end());
    return out;
}

}  // namespace

TEST_CASE("msgpack decoder survives every truncation of valid messages", "[codec][fuzz]") {
    Target target;
    Counts counts;
    const auto messages = valid_messages();
    for (const auto& m : messages)
        for (std::size_t n = 0; n <= m.size(); ++n) target.run({m.data(), n}, counts);
    CHECK(counts.decoded > 0);
    CHECK(counts.rejected > 0);

    // A strict prefix of one item never decodes as that item.
    auto dec = mproc::get_serializer("msgpack").make_decoder();
    const auto& record = messages[6];
    for (std::size_t n = 0; n < record.size(); ++n) {
        dec->reset({record.data(), n});
        CHECK_THROWS_AS(mproc::decode<Record>(*dec), mproc::SerializationError);
    }
}

TEST_CASE("msgpack decoder survives random bytes", "[codec][fuzz]") {
    Target target;
    Counts counts;
    std::mt19937 rng(20240601);
    std::uniform_int_distribution<int> size(0, 256);
    std::uniform_int_distribution<int> byte(0, 255);
    mproc::bytes m;
    for (int i = 0; i < 20000; ++i) {
        m.resize(static_cast<std::size_t>(size(rng)));
        for (auto& b : m) b = static_cast<std::byte>(byte(rng));
        target.run(m, counts);
    }
    CHECK(counts.decoded > 0);
    CHECK(counts.rejected > 0);
}

TEST_CASE("msgpack decoder survives mutated messages", "[codec][fuzz]") {
    Target target;
    Counts counts;
    std::mt19937 rng(7);
    std::uniform_int_distribution<int> byte(0, 255);
    for (auto m : valid_messages()) {
        for (std::size_t i = 0; i < m.size(); ++i) {
            const std::byte original = m[i];
            for (int k = 0; k < 8; ++k) {
                m[i] = static_cast<std::byte>(byte(rng));
                target.run(m, counts);
            }
            m[i] = original;
        }
    }
    CHECK(counts.decoded > 0);
    CHECK(counts.rejected > 0);
}

TEST_CASE("msgpack decoder rejects forged huge lengths quickly", "[codec][fuzz]") {
    const auto forged = [](std::initializer_list<int> head) {
        mproc::bytes m;
        for (int b : head) m.push_back(static_cast<std::byte>(b));
        m.resize(m.size() + 16, std::byte{0xc0});  // a few items of padding
        return m;
    };
    const mproc::bytes array32 = forged({0xdd, 0xff, 0xff, 0xff, 0xff});
    const mproc::bytes map32 = forged({0xdf, 0xff, 0xff, 0xff, 0xff});
    const mproc::bytes str32 = forged({0xdb, 0xff, 0xff, 0xff, 0xff});
    const mproc::bytes bin32 = forged({0xc6, 0xff, 0xff, 0xff, 0xff});
    const mproc::bytes bulk32 = forged({0xc9, 0xff, 0xff, 0xff, 0xff, 1, 1});

    auto dec = mproc::get_serializer("msgpack").make_decoder();
    const auto start = std::chrono::steady_clock::now();
    const auto rejects = [&](const mproc::bytes& m, auto read) {
        dec->reset(m);
        CHECK_THROWS_AS(read(*dec), mproc::SerializationError);
    };
    for (const auto* m : {&array32, &map32, &str32, &bin32, &bulk32}) {
        rejects(*m, [](mproc::Decoder& d) { d.skip(); });
        rejects(*m, [](mproc::Decoder& d) { mproc::decode<std::vector<std::string>>(d); });
        rejects(*m, [](mproc::Decoder& d) { mproc::decode<std::vector<std::int64_t>>(d); });
        rejects(*m, [](mproc::Decoder& d) { mproc::decode<Dict>(d); });
        rejects(*m, [](mproc::Decoder& d) {
            mproc::decode<std::map<std::string, std::vector<Record>>>(d);
        });
        rejects(*m, [](mproc::Decoder& d) { mproc::decode<std::string>(d); });
        rejects(*m, [](mproc::Decoder& d) { mproc::decode<mproc::bytes>(d); });
    }
    dec->reset(str32);
    CHECK_THROWS_WITH(mproc::decode<std::string>(*dec),
                      Catch::Matchers::Contains("need 4294967300 bytes at offset 0, have 21"));
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
}
