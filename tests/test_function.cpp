// The public codec of plain function pointers (<mproc/function.hpp>): a
// round trip through a Pipe and a Queue into a child under every start
// method, null, a wrong signature, and forged or foreign locations refused.
#include <tuple>

#include "support.hpp"

namespace mp = mproc;
using Catch::Matchers::Contains;

namespace {

int mul(int a, int b) {
    return a * b;
}
int plus(int a, int b) {
    return a + b;
}

using BinOp = int (*)(int, int);

// Child: receives (function, args) pairs and sends back the results.
void apply_from_pipe(mp::Connection c) {
    for (int k = 0; k < 2; ++k) {
        auto [f, args] = c.recv<std::tuple<BinOp, std::tuple<int, int>>>();
        c.send(std::apply(f, args));
    }
}

void apply_from_queue(mp::Queue<std::tuple<BinOp, std::tuple<int, int>>> tasks,
                      mp::Queue<int> results) {
    for (int k = 0; k < 2; ++k) {
        auto [f, args] = tasks.get();
        results.put(std::apply(f, args));
    }
}

mp::bytes encode_bytes(const auto& v) {
    auto e = mp::default_serializer().make_encoder();
    mp::encode(*e, v);
    auto d = e->data();
    return mp::bytes(d.begin(), d.end());
}

template <class T>
T decode_bytes(const mp::bytes& b) {
    auto d = mp::default_serializer().make_decoder();
    d->reset(b);
    return mp::decode<T>(*d);
}

}  // namespace

TEST_CASE("function pointers cross a Pipe into a child and are called there", "[function]") {
    FOR_EACH_START_METHOD(ctx);
    auto [a, b] = ctx.Pipe();
    auto p = ctx.Process(apply_from_pipe, b);
    p.start();
    b.close();
    a.send(std::tuple<BinOp, std::tuple<int, int>>{&mul, {3, 7}});
    CHECK(a.recv<int>() == 21);
    a.send(std::tuple<BinOp, std::tuple<int, int>>{&plus, {3, 7}});
    CHECK(a.recv<int>() == 10);
    p.join();
    CHECK(p.exitcode() == 0);
}

TEST_CASE("function pointers cross a Queue into a child (the docs' workers example)",
          "[function]") {
    FOR_EACH_START_METHOD(ctx);
    auto tasks = ctx.Queue<std::tuple<BinOp, std::tuple<int, int>>>();
    auto results = ctx.Queue<int>();
    auto p = ctx.Process(apply_from_queue, tasks, results);
    p.start();
    tasks.put({&mul, {6, 7}});
    tasks.put({+[](int x, int y) { return x - y; }, {6, 7}});
    CHECK(results.get() == 42);
    CHECK(results.get() == -1);
    p.join();
    CHECK(p.exitcode() == 0);
}

TEST_CASE("function pointer codec: null, signature check, forged offset, foreign build",
          "[function]") {
    CHECK(decode_bytes<BinOp>(encode_bytes(BinOp(nullptr))) == nullptr);
    CHECK(decode_bytes<BinOp>(encode_bytes(BinOp(&mul))) == &mul);

    // Received as another pointer type: refused.
    using Other = double (*)(double);
    CHECK_THROWS_WITH(decode_bytes<Other>(encode_bytes(BinOp(&mul))),
                      Contains("sent as type") && Contains("received as"));

    // Forged: the same build-id, an offset outside the code.
    auto e = mp::default_serializer().make_encoder();
    auto real = encode_bytes(BinOp(&mul));
    auto d = mp::default_serializer().make_decoder();
    d->reset(real);
    REQUIRE(d->read_array() == 3);
    std::string build_id(d->read_str());
    d->read_uint();
    std::string signature(d->read_str());
    e->begin_array(3);
    e->write_str(build_id);
    e->write_uint(std::uint64_t(1) << 40);
    e->write_str(signature);
    auto forged = e->data();
    CHECK_THROWS_AS(decode_bytes<BinOp>(mp::bytes(forged.begin(), forged.end())),
                    mp::SerializationError);
    CHECK_THROWS_WITH(decode_bytes<BinOp>(mp::bytes(forged.begin(), forged.end())),
                      Contains("outside the code"));

    // A build-id no loaded module has.
    e->clear();
    e->begin_array(3);
    e->write_str("00112233445566778899aabbccddeeff00112233");
    e->write_uint(16);
    e->write_str(signature);
    auto foreign = e->data();
    CHECK_THROWS_WITH(decode_bytes<BinOp>(mp::bytes(foreign.begin(), foreign.end())),
                      Contains("no loaded module has build-id"));
}
