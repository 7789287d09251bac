// Issue 13 items 7, 10 and 11: large messages, Listener/Client defaults,
// handle passing, Connection from a descriptor, bad lengths and Python's
// error texts. Process tests run under each start method.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <string>

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
