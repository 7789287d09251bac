// Pipe and Connection: objects and bytes, framing, errors, large messages,
// connections passed to children. Process tests run under each start method.
#include <signal.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <map>
#include <numeric>
#include <system_error>

#include <mproc/plugin/backend.hpp>

#include "support.hpp"

namespace mp = mproc;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;

namespace {

using mproc::test::as_bytes;
using mproc::test::to_string;

void echo_objects(mp::Connection c) {
    for (;;) {
        auto msg = c.recv<std::tuple<int, std::optional<int>, std::string>>();
        if (std::get<0>(msg) < 0) return;
        c.send(msg);
    }
}

void send_big(mp::Connection c, std::size_t n) {
    std::vector<std::byte> big(n);
    for (std::size_t i = 0; i < n; ++i) big[i] = std::byte(i * 131 % 251);
    c.send_bytes(big);
}

void send_then_close(mp::Connection c) {
    c.send(std::string("last"));
    c.close();
}

}  // namespace

TEST_CASE("objects round-trip through a duplex pipe to a child", "[pipe]") {
    FOR_EACH_START_METHOD(ctx);
    auto [a, b] = ctx.Pipe();
    auto p = ctx.Process(echo_objects, b);
    p.start();
    b.close();
    using Msg = std::tuple<int, std::optional<int>, std::string>;
    a.send(Msg{42, std::nullopt, "hello"});
    CHECK(a.recv<Msg>() == Msg{42, std::nullopt, "hello"});
    a.send(Msg{7, 8, std::string(1000, 'x')});
    CHECK(a.recv<Msg>() == Msg{7, 8, std::string(1000, 'x')});
    a.send(Msg{-1, std::nullopt, ""});
    p.join();
    CHECK(p.exitcode() == 0);
    CHECK_THROWS_AS(a.recv<Msg>(), mp::EOFError);  // the child's end is gone
}

TEST_CASE("send_bytes with offset and size; recv_bytes; maxlength", "[pipe]") {
    auto [a, b] = mp::Pipe();
    auto data = as_bytes("0123456789");
    a.send_bytes(data);
    a.send_bytes(data, 2);
    a.send_bytes(data, 2, 3);
    a.send_bytes(data, 10, 0);  // an empty message
    a.send_bytes("thank you");
    CHECK(to_string(b.recv_bytes()) == "0123456789");
    CHECK(to_string(b.recv_bytes()) == "23456789");
    CHECK(to_string(b.recv_bytes()) == "234");
    CHECK(b.recv_bytes().empty());
    CHECK(to_string(b.recv_bytes(9)) == "thank you");
    CHECK_THROWS_AS(a.send_bytes(data, 11), mp::ValueError);
    CHECK_THROWS_AS(a.send_bytes(data, 5, 6), mp::ValueError);
    SECTION("a message longer than maxlength is refused and ends reading") {
        a.send_bytes("too long");
        CHECK_THROWS_WITH(b.recv_bytes(3), Contains("bad message length"));
        CHECK_FALSE(b.readable());
        CHECK_THROWS_AS(b.recv_bytes(), mp::ValueError);
    }
}

TEST_CASE("recv_bytes_into fills a buffer or throws BufferTooShort with the message", "[pipe]") {
    auto [a, b] = mp::Pipe();
    std::array<int, 5> arr{};
    std::array<int, 2> two{42, 1729};
    a.send_bytes(std::as_bytes(std::span(two)));
    auto n = b.recv_bytes_into(std::as_writable_bytes(std::span(arr)));
    CHECK(n == 8);
    CHECK(arr == std::array<int, 5>{42, 1729, 0, 0, 0});
    a.send_bytes("abc");
    n = b.recv_bytes_into(std::as_writable_bytes(std::span(arr)), 16);
    CHECK(n == 3);
    CHECK(std::memcmp(reinterpret_cast<char*>(arr.data()) + 16, "abc", 3) == 0);
    a.send_bytes("this will not fit");
    std::array<std::byte, 4> small{};
    try {
        b.recv_bytes_into(small);
        FAIL("no BufferTooShort");
    } catch (const mp::BufferTooShort& e) {
        CHECK(to_string(e.message()) == "this will not fit");
    }
    a.send_bytes("next");  // the stream is still in step
    CHECK(to_string(b.recv_bytes()) == "next");
    CHECK_THROWS_AS(b.recv_bytes_into(small, 5), mp::ValueError);
}

TEST_CASE("0-byte and 64 MiB messages cross to a child", "[pipe]") {
    FOR_EACH_START_METHOD(ctx);
    const std::size_t size = GENERATE(std::size_t(0), std::size_t(64) << 20);
    auto [r, w] = ctx.Pipe(false);
    auto p = ctx.Process(send_big, w, size);
    p.start();
    w.close();
    auto got = r.recv_bytes();
    p.join();
    REQUIRE(got.size() == size);
    bool same = true;
    for (std::size_t i = 0; i < size && same; ++i) same = got[i] == std::byte(i * 131 % 251);
    CHECK(same);
}

TEST_CASE("poll reports data, end of stream and timeouts", "[pipe]") {
    auto [a, b] = mp::Pipe();
    CHECK_FALSE(b.poll());
    CHECK_FALSE(b.poll(-1s));
    auto t0 = std::chrono::steady_clock::now();
    CHECK_FALSE(b.poll(30ms));
    CHECK(std::chrono::steady_clock::now() - t0 >= 25ms);  // loose bound
    a.send(1);
    CHECK(b.poll());
    CHECK(b.poll(std::nullopt));
    CHECK(b.recv<int>() == 1);
    a.close();
    CHECK(b.poll(0s));  // end of stream is "ready"
    CHECK_THROWS_AS(b.recv<int>(), mp::EOFError);
}

TEST_CASE("end of stream after the last message from a child", "[pipe]") {
    FOR_EACH_START_METHOD(ctx);
    auto [r, w] = ctx.Pipe(false);
    auto p = ctx.Process(send_then_close, w);
    p.start();
    w.close();
    CHECK(r.recv<std::string>() == "last");
    CHECK_THROWS_AS(r.recv<std::string>(), mp::EOFError);
    p.join();
}

TEST_CASE("simplex ends are one-way; closed ends refuse use", "[pipe]") {
    auto [r, w] = mp::Pipe(false);
    CHECK(r.readable());
    CHECK_FALSE(r.writable());
    CHECK(w.writable());
    CHECK_FALSE(w.readable());
    CHECK_THROWS_AS(r.send(1), mp::ValueError);
    CHECK_THROWS_AS(w.recv<int>(), mp::ValueError);
    CHECK(r.fileno() >= 0);
    auto copy = r;
    CHECK(copy == r);
    CHECK_FALSE(copy == w);
    r.close();
    CHECK(copy.closed());  // copies share the end
    CHECK_THROWS_AS(copy.recv<int>(), mp::ClosedError);
    CHECK_THROWS_AS(r.fileno(), mp::ClosedError);
    r.close();  // idempotent
}

TEST_CASE("sending to a closed peer is an error, not SIGPIPE", "[pipe]") {
    auto [r, w] = mp::Pipe(false);
    r.close();
    try {
        w.send(std::string("nobody listens"));
        FAIL("no error");
    } catch (const std::system_error& e) {
        CHECK(e.code().value() == EPIPE);
    }
}

TEST_CASE("decoding the wrong type is a SerializationError", "[pipe]") {
    auto [a, b] = mp::Pipe();
    a.send(std::string("text"));
    CHECK_THROWS_AS(b.recv<int>(), mp::SerializationError);
    a.send(std::tuple{1, 2});
    CHECK_THROWS_AS(b.recv<int>(), mp::SerializationError);
    a.send(5);
    CHECK(b.recv<int>() == 5);
}

TEST_CASE("Python's framing on the wire", "[pipe]") {
    auto [a, b] = mp::Pipe();
    a.send_bytes("hello");
    std::array<unsigned char, 9> raw{};
    REQUIRE(::read(static_cast<int>(b.fileno()), raw.data(), raw.size()) == 9);
    CHECK(raw == std::array<unsigned char, 9>{0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o'});
}

TEST_CASE("a huge length prefix does not allocate it up front", "[pipe]") {
    auto [a, b] = mp::Pipe(false);
    // Claims 2 GiB - 1 then ends: the reader must fail with EOF, having
    // allocated only what arrived.
    const unsigned char header[] = {0x7f, 0xff, 0xff, 0xff, 'x'};
    REQUIRE(::write(static_cast<int>(b.fileno()), header, sizeof header) == sizeof header);
    b.close();
    CHECK_THROWS_AS(a.recv_bytes(), mp::EOFError);
}

namespace {

// Receives two ints on `in` and sends their sum back on `out`.
void sum_two(mp::Connection in, mp::Connection out) {
    int a = in.recv<int>();
    int b = in.recv<int>();
    out.send(a + b);
}

}  // namespace

TEST_CASE("what was read ahead counts as ready for poll and wait", "[pipe]") {
    auto [a, b] = mp::Pipe();
    for (int i = 1; i <= 3; ++i) a.send(i);
    CHECK(b.recv<int>() == 1);  // the other two are now read ahead
    auto raw = mp::Waitable::from_handle(b.fileno());
    CHECK(mp::wait({raw}, 0s).empty());  // the fd itself has nothing left
    CHECK(b.poll());
    CHECK(mp::wait({b}, 0s).size() == 1);
    CHECK(mp::wait(std::vector<mp::Connection>{b}, 0s).size() == 1);
    CHECK(b.recv<int>() == 2);
    CHECK(b.recv<int>() == 3);
    CHECK_FALSE(b.poll());
}

TEST_CASE("an end passed to a child takes what it read ahead along", "[pipe]") {
    FOR_EACH_START_METHOD(ctx);
    auto [a, b] = ctx.Pipe();
    auto [r, w] = ctx.Pipe(false);
    a.send(100);
    a.send(20);
    a.send(3);
    CHECK(b.recv<int>() == 100);  // 20 and 3 are read ahead by this end
    auto p = ctx.Process(sum_two, b, w);
    p.start();
    b.close();
    w.close();
    CHECK(r.recv<int>() == 23);
    p.join();
    CHECK(p.exitcode() == 0);
}

namespace {

// Receives a Connection over `control` and says hello through it.
void hello_through_received(mp::Connection control) {
    auto c = control.recv<mp::Connection>();
    c.send(std::string("hello through a received end"));
    control.send(std::string("done"));
}

// Sends the parent one end of a new pipe, writes to the other, and waits
// until the parent has it.
void send_an_end_back(mp::Connection control) {
    auto [r, w] = mp::Pipe(false);
    control.send(r);
    r.close();
    w.send(7);
    (void)control.recv<std::string>();  // the parent's "got it"
}

}  // namespace

TEST_CASE("a Connection sent over a Connection works both ways", "[pipe]") {
    FOR_EACH_START_METHOD(ctx);
    SECTION("parent to child") {
        auto [control, child_control] = ctx.Pipe();
        auto [x_read, x_write] = ctx.Pipe(false);
        auto p = ctx.Process(hello_through_received, child_control);
        p.start();
        child_control.close();
        control.send(x_write);
        x_write.close();
        CHECK(x_read.recv<std::string>() == "hello through a received end");
        CHECK(control.recv<std::string>() == "done");
        p.join();
        CHECK(p.exitcode() == 0);
    }
    SECTION("child to parent") {
        auto [control, child_control] = ctx.Pipe();
        auto p = ctx.Process(send_an_end_back, child_control);
        p.start();
        child_control.close();
        auto r = control.recv<mp::Connection>();
        control.send(std::string("got it"));
        CHECK(r.readable());
        CHECK(r.recv<int>() == 7);
        p.join();
        CHECK(p.exitcode() == 0);
    }
}

TEST_CASE("a Connection whose sender is gone cannot be received", "[pipe]") {
    auto [a, b] = mp::Pipe();
    {
        // Forge the reference a vanished process would have sent.
        auto enc = mp::default_serializer().make_encoder();
        enc->begin_array(6);
        enc->write_bool(true);
        enc->write_bool(false);
        enc->write_str("mproc-sharer-no-such-process");
        std::array<std::byte, 16> key{};
        enc->write_bin(key);
        enc->write_uint(1);
        enc->write_bin({});
        a.send_bytes(enc->data());
    }
    CHECK_THROWS_WITH(b.recv<mp::Connection>(), Contains("its sender is gone"));
}
