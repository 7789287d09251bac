// Issue 13 items 7, 10 and 11: large messages, Listener/Client defaults,
// handle passing, Connection from a descriptor, bad lengths and Python's
// error texts. Process tests run under each start method.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <string>

#include <mproc/plugin/posix/fd_connection.hpp>

#include "support.hpp"

namespace mp = mproc;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using Catch::Matchers::Equals;

namespace {

using mproc::test::as_bytes;
using mproc::test::to_string;

std::byte pattern(std::size_t i) {
    return std::byte(i * 131 % 251);
}

bool has_pattern(std::span<const std::byte> b) {
    for (std::size_t i = 0; i < b.size(); ++i)
        if (b[i] != pattern(i)) return false;
    return true;
}

// Echoes byte messages until an empty one.
void echo_bytes(mp::Connection c) {
    for (;;) {
        auto b = c.recv_bytes();
        if (b.empty()) return;
        c.send_bytes(b);
    }
}

}  // namespace

// ------------------------------------------------------ item 11: large messages

TEST_CASE("64 MiB messages round-trip through a duplex Pipe, into fresh and reused buffers",
          "[connection]") {
    FOR_EACH_START_METHOD(ctx);
    constexpr std::size_t size = std::size_t(64) << 20;
    std::vector<std::byte> big(size);
    for (std::size_t i = 0; i < size; ++i) big[i] = pattern(i);
    auto [a, b] = ctx.Pipe();
    auto p = ctx.Process(echo_bytes, b);
    p.start();
    b.close();
    for (int round = 0; round < 2; ++round) {
        a.send_bytes(big);
        auto back = a.recv_bytes();
        REQUIRE(back.size() == size);
        CHECK(has_pattern(back));
    }
    std::vector<std::byte> reused(size + 16);
    a.send_bytes(big, 1, size - 1);
    CHECK(a.recv_bytes_into(reused, 16) == size - 1);
    CHECK(std::equal(big.begin() + 1, big.end(), reused.begin() + 16));
    a.send(std::string(3 << 20, 'y'));  // recv<T> reuses its buffer for objects
    a.recv_bytes();                     // (echoed as bytes)
    a.send_bytes(std::string_view());
    p.join();
    CHECK(p.exitcode() == 0);
}

TEST_CASE("recv_bytes into a reused vector: resized to each message, memory kept", "[connection]") {
    auto [a, b] = mp::Pipe();
    std::vector<std::byte> buf;
    b.send_bytes(std::string(100000, 'x'));
    CHECK(a.recv_bytes(buf) == 100000);
    CHECK(buf.size() == 100000);
    CHECK(std::all_of(buf.begin(), buf.end(), [](std::byte c) { return c == std::byte{'x'}; }));
    const auto* memory = buf.data();
    b.send_bytes(std::string_view("short"));
    CHECK(a.recv_bytes(buf) == 5);
    CHECK(std::string(reinterpret_cast<const char*>(buf.data()), buf.size()) == "short");
    CHECK(buf.data() == memory);  // no new allocation for a smaller message
    b.send_bytes(std::string_view());
    CHECK(a.recv_bytes(buf) == 0);
    CHECK(buf.empty());
    b.send_bytes(std::string(64, 'z'));
    CHECK_THROWS_WITH(a.recv_bytes(buf, std::size_t(-1)), Equals("negative maxlength"));
    CHECK_THROWS_WITH(a.recv_bytes(buf, 10), Contains("bad message length"));
}

TEST_CASE("a length prefix under the reserve limit whose body never comes is EOF", "[connection]") {
    auto [a, b] = mp::Pipe();
    // Claims 512 MiB (reserved, not touched), sends 3 bytes, then ends.
    const unsigned char header[] = {0x20, 0x00, 0x00, 0x00, 'x', 'y', 'z'};
    REQUIRE(::write(static_cast<int>(b.fileno()), header, sizeof header) == sizeof header);
    b.close();
    CHECK_THROWS_AS(a.recv_bytes(), mp::EOFError);
}

TEST_CASE("a duplex Pipe is a Unix socket pair, as Python's", "[connection]") {
    auto [a, b] = mp::Pipe();
    int type = 0;
    socklen_t len = sizeof type;
    REQUIRE(::getsockopt(static_cast<int>(a.fileno()), SOL_SOCKET, SO_TYPE, &type, &len) == 0);
    CHECK(type == SOCK_STREAM);
    CHECK(a.fileno() != b.fileno());
}

// ------------------------------------------------ item 7: handles and descriptors

namespace {

// Receives a descriptor over conn, writes a line into it, closes it.
void write_into_received(mp::Connection conn) {
    mp::test::child_check(conn.recv<std::string>() == "a message before the handle", 5);
    int fd = int(mp::recv_handle(conn));
    const char line[] = "written by the child\n";
    bool ok = ::write(fd, line, sizeof line - 1) == ssize_t(sizeof line - 1);
    ::close(fd);
    conn.send(ok);
}

// Speaks through a DupFd given as an argument (a socket end or a pipe).
void write_into_dupfd(mp::DupFd df, std::string text) {
    int fd = int(df.detach());
    bool ok = ::write(fd, text.data(), text.size()) == ssize_t(text.size());
    ::close(fd);
    mp::test::child_check(ok, 3);
}

// Wraps a received descriptor in a Connection and answers on it.
void answer_on_received(mp::Connection conn) {
    mp::Connection c(mp::recv_handle(conn));
    c.send(c.recv<int>() + 1);
}

// A DupFd received inside a message.
void dupfd_from_message(mp::Connection conn) {
    auto df = conn.recv<mp::DupFd>();
    int fd = int(df.fileno());
    mp::test::child_check(::write(fd, "via message", 11) == 11, 4);
}

}  // namespace

TEST_CASE("send_handle / recv_handle pass a descriptor to a child over a duplex Pipe",
          "[connection]") {
    FOR_EACH_START_METHOD(ctx);
    int p[2];
    REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
    auto [a, b] = ctx.Pipe();
    auto child = ctx.Process(write_into_received, b);
    child.start();
    b.close();
    a.send(std::string("a message before the handle"));  // framing stays in step
    mp::send_handle(a, p[1], long(*child.pid()));
    ::close(p[1]);
    CHECK(a.recv<bool>());
    child.join();
    CHECK(child.exitcode() == 0);
    CHECK(mp::test::read_all(p[0]) == "written by the child\n");
    ::close(p[0]);
}

TEST_CASE("a received descriptor becomes a Connection (Python's Connection(fd))", "[connection]") {
    FOR_EACH_START_METHOD(ctx);
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    mp::Connection mine(sv[0]);
    auto [a, b] = ctx.Pipe();
    auto child = ctx.Process(answer_on_received, b);
    child.start();
    b.close();
    mp::send_handle(a, sv[1]);
    ::close(sv[1]);
    mine.send(41);
    CHECK(mine.recv<int>() == 42);
    child.join();
    CHECK(child.exitcode() == 0);
}

TEST_CASE("DupFd: sockets and raw descriptors cross as Process arguments and in messages",
          "[connection]") {
    FOR_EACH_START_METHOD(ctx);
    SECTION("a socket end as a Process argument") {
        int sv[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
        auto child = ctx.Process(write_into_dupfd, mp::DupFd(sv[1]), std::string("socket"));
        ::close(sv[1]);  // the DupFd holds its own copy
        child.start();
        child.join();
        CHECK(child.exitcode() == 0);
        char got[6] = {};
        CHECK(::read(sv[0], got, 6) == 6);  // the Process still holds its DupFd: no EOF
        CHECK(std::string(got, 6) == "socket");
        ::close(sv[0]);
    }
    SECTION("a pipe end inside a message") {
        int p[2];
        REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
        auto [a, b] = ctx.Pipe();
        auto child = ctx.Process(dupfd_from_message, b);
        child.start();
        b.close();
        a.send(mp::DupFd(p[1]));
        ::close(p[1]);
        child.join();
        CHECK(child.exitcode() == 0);
        char got[11] = {};
        CHECK(::read(p[0], got, 11) == 11);
        CHECK(std::string(got, 11) == "via message");
        ::close(p[0]);
    }
}

TEST_CASE("handle passing: refusals and Python's wire form", "[connection]") {
    auto [r, w] = mp::Pipe(false);  // pipes: no descriptors can cross
    CHECK_THROWS_AS(mp::send_handle(w, 0), std::system_error);
    CHECK_THROWS_AS(mp::send_handle(r, 0), mp::ValueError);  // read-only
    CHECK_THROWS_WITH(mp::send_handle(w, -1), Equals("invalid handle"));
    CHECK_THROWS_AS(mp::DupFd(-1), mp::ValueError);
    mp::DupFd empty;
    CHECK_FALSE(empty);
    CHECK_THROWS_AS(empty.detach(), mp::ClosedError);

    auto [a, b] = mp::Pipe();
    // Python's sendfds: one byte (the count) with the descriptor attached.
    mp::send_handle(a, 1);
    std::vector<mp::plugin::NativeHandle> fds;
    std::byte byte{};
    REQUIRE(mp::plugin::recv_with_handles(int(b.fileno()), std::span(&byte, 1), fds) == 1);
    CHECK(byte == std::byte{1});
    REQUIRE(fds.size() == 1);
    ::close(int(fds[0]));
    // A message with no descriptor where one is expected.
    a.send_bytes("x");
    CHECK_THROWS_WITH(mp::recv_handle(b), Contains("Invalid data received"));
    auto [c, d] = mp::Pipe();
    c.close();
    CHECK_THROWS_AS(mp::recv_handle(d), mp::EOFError);
}

TEST_CASE("a descriptor sent while messages are read ahead is not lost", "[connection]") {
    auto [a, b] = mp::Pipe();
    int p[2];
    REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
    a.send(1);
    mp::send_handle(a, p[1]);
    a.send(2);
    CHECK(b.recv<int>() == 1);  // reads ahead as far as the descriptor
    int fd = int(mp::recv_handle(b));
    CHECK(b.recv<int>() == 2);
    CHECK(::write(fd, "ok", 2) == 2);
    ::close(fd);
    ::close(p[1]);
    CHECK(mp::test::read_all(p[0]) == "ok");
    ::close(p[0]);
    // Descriptors received and never taken are closed with the end.
    int before = mp::test::open_fd_count();
    a.send(3);
    mp::send_handle(a, 0);
    CHECK(b.recv<int>() == 3);  // read ahead: the descriptor is now held by b
    b.close();
    CHECK(mp::test::open_fd_count() == before - 1);
}

TEST_CASE("Connection from a raw descriptor", "[connection]") {
    CHECK_THROWS_WITH(mp::Connection(std::intptr_t(-1)), Equals("invalid handle"));
    int p[2];
    REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
    CHECK_THROWS_WITH(mp::Connection(p[0], false, false),
                      Equals("at least one of `readable` and `writable` must be True"));
    mp::Connection r(p[0], true, false), w(p[1], false, true);
    w.send_bytes("framed");
    CHECK(to_string(r.recv_bytes()) == "framed");
    CHECK_FALSE(w.readable());
    r.close();
    w.close();
}

// ------------------------------------------- item 7: bad lengths, Python's texts

TEST_CASE("after a bad message length a read-only end is closed, a duplex one stops reading",
          "[connection]") {
    auto [r, w] = mp::Pipe(false);
    w.send_bytes("too long");
    CHECK_THROWS_WITH(r.recv_bytes(3), Contains("bad message length"));
    CHECK(r.closed());
    CHECK_THROWS_AS(r.recv_bytes(), mp::ClosedError);

    auto [a, b] = mp::Pipe();
    a.send_bytes("too long");
    CHECK_THROWS_WITH(b.recv_bytes(3), Contains("bad message length"));
    CHECK_FALSE(b.closed());
    CHECK_FALSE(b.readable());
    b.send_bytes("still sends");
    CHECK(to_string(a.recv_bytes()) == "still sends");
}

TEST_CASE("offset and size errors use Python's texts", "[connection]") {
    auto [a, b] = mp::Pipe();
    auto data = as_bytes("0123456789");
    CHECK_THROWS_WITH(a.send_bytes(data, 11), Equals("buffer length < offset"));
    CHECK_THROWS_WITH(a.send_bytes(data, 5, 6), Equals("buffer length < offset + size"));
    CHECK_THROWS_WITH(a.send_bytes(data, std::size_t(-1)), Equals("offset is negative"));
    CHECK_THROWS_WITH(a.send_bytes(data, 0, std::size_t(-1)), Equals("size is negative"));
    CHECK_THROWS_WITH(b.recv_bytes(std::size_t(-1)), Equals("negative maxlength"));
    std::array<std::byte, 4> buf{};
    CHECK_THROWS_WITH(b.recv_bytes_into(buf, 5), Equals("offset too large"));
    CHECK_THROWS_WITH(b.recv_bytes_into(buf, std::size_t(-1)), Equals("negative offset"));
    a.send_bytes(data, 10);  // an offset at the end is an empty message
    CHECK(b.recv_bytes().empty());
}

// ------------------------------------------------ item 10: managers still authenticate

TEST_CASE("a manager authenticates clients with its authkey (the process's by default)",
          "[connection]") {
    FOR_EACH_START_METHOD(ctx);
    auto m = ctx.Manager();
    auto d = m.dict();
    d["k"] = 1;
    namespace mpc = mp::connection;
    CHECK_THROWS_AS(mpc::Client(m.address(), "not the key"), mp::AuthenticationError);
    // With no key the client does no handshake, but the server still does:
    // all it gets is the challenge.
    mp::Connection plain = mpc::Client(m.address());
    CHECK_THAT(to_string(plain.recv_bytes()), Catch::Matchers::StartsWith("#CHALLENGE#"));
    plain.close();
    mp::Connection keyed = mpc::Client(m.address(), mpc::process_authkey);
    keyed.close();
    CHECK(d["k"].get() == mp::object(1));  // the server still serves
}
