// Listener, Client and the authentication handshake: families, addresses,
// keys and digests, bad input, cleanup, and hostile peers. Clients run in a
// thread here (a Client in a child process is covered per start method).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <filesystem>
#include <future>
#include <system_error>
#include <thread>

#include "support.hpp"

namespace mp = mproc;
namespace mpc = mproc::connection;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;

namespace {

using mproc::test::as_bytes;
using mproc::test::to_string;

// Runs f in a thread; the future rethrows what it threw.
template <class F>
auto in_thread(F f) {
    return std::async(std::launch::async, std::move(f));
}

// A raw socket connected to a listener, for peers that misbehave.
struct RawPeer {
    int fd = -1;
    explicit RawPeer(const mpc::Address& a) {
        if (auto* in = a.inet()) {
            fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            sockaddr_in sa{};
            sa.sin_family = AF_INET;
            sa.sin_port = htons(in->port);
            sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
        } else {
            fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            sockaddr_un sa{};
            sa.sun_family = AF_UNIX;
            std::strncpy(sa.sun_path, a.path()->c_str(), sizeof sa.sun_path - 1);
            REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
        }
    }
    ~RawPeer() { close(); }
    void close() {
        if (fd >= 0) ::close(fd);
        fd = -1;
    }
    void write(std::string_view s) {
        REQUIRE(::send(fd, s.data(), s.size(), MSG_NOSIGNAL) == ssize_t(s.size()));
    }
};

std::string be32(std::uint32_t n) {
    return {char(n >> 24), char(n >> 16), char(n >> 8), char(n)};
}

long peak_rss_kib() {
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

}  // namespace

TEST_CASE("families are inferred from addresses as Python does", "[listener]") {
    CHECK(mpc::address_type({"localhost", 6000}) == mpc::Family::af_inet);
    CHECK(mpc::address_type("/tmp/sock") == mpc::Family::af_unix);
    CHECK(mpc::address_type(std::string("\0abstract", 9)) == mpc::Family::af_unix);
    CHECK(mpc::address_type(R"(\\.\pipe\name)") == mpc::Family::af_pipe);
    CHECK(mpc::family_from_string("AF_INET") == mpc::Family::af_inet);
    CHECK(mpc::to_string(mpc::Family::af_unix) == "AF_UNIX");
    CHECK(mpc::default_family() == mpc::Family::af_unix);
    CHECK(mpc::Address("localhost", 6000).repr() == "('localhost', 6000)");
    CHECK(fmt::format("{}", mpc::Address("/tmp/it's")) == R"('/tmp/it\'s')");
}

TEST_CASE("bad addresses and families are clear errors", "[listener]") {
    CHECK_THROWS_WITH(mpc::family_from_string("AF_BOGUS"), Contains("AF_BOGUS"));
    CHECK_THROWS_WITH(mpc::Address("localhost", 70000), Contains("70000"));
    CHECK_THROWS_WITH(mpc::Address("localhost", -1), Contains("port"));
    CHECK_THROWS_WITH(mpc::Listener(R"(\\.\pipe\x)"), Contains("AF_PIPE"));
    CHECK_THROWS_WITH(mpc::Listener({}, mpc::Family::af_pipe), Contains("Windows"));
    CHECK_THROWS_WITH(mpc::Listener("/tmp/x", mpc::Family::af_inet), Contains("AF_INET"));
    CHECK_THROWS_WITH(mpc::Listener({"localhost", 0}, mpc::Family::af_unix), Contains("AF_UNIX"));
    CHECK_THROWS_WITH(mpc::Listener(std::string(200, 'x')), Contains("too long"));
    CHECK_THROWS_AS(mpc::Client(mpc::Address()), mp::ValueError);
    CHECK_THROWS_WITH(mpc::Client({"no-such-host.invalid", 1}), Contains("no-such-host.invalid"));
    CHECK_THROWS_AS(mpc::Listener({}, std::nullopt, -1), mp::ValueError);
    {
        mpc::Listener l;
        auto path = *l.address().path();
        l.close();
        CHECK_THROWS_AS(mpc::Client(path), std::system_error);  // nobody listens
        CHECK_THROWS_AS(l.accept(), mp::ClosedError);
    }
    mp::Connection c;
    CHECK_THROWS_AS(mpc::deliver_challenge(c, {}), mp::ClosedError);
}

TEST_CASE("AF_UNIX with a default address: connect, full Connection API", "[listener]") {
    std::string path, dir;
    {
        mpc::Listener listener;  // default family, private directory, no authentication
        CHECK(listener.family() == mpc::Family::af_unix);
        path = *listener.address().path();
        dir = std::filesystem::path(path).parent_path();
        CHECK(std::filesystem::exists(path));
        CHECK((std::filesystem::status(dir).permissions() & std::filesystem::perms::others_all) ==
              std::filesystem::perms::none);
        auto client = in_thread([path] {
            mp::Connection c = mpc::Client(path);
            c.send(std::tuple{42, std::optional<int>(), std::string("hello")});
            c.send_bytes("hello");
            std::array<int, 2> arr{42, 1729};
            c.send_bytes(std::as_bytes(std::span(arr)));
            auto back = c.recv<std::string>();
            c.close();
            return back;
        });
        mp::Connection conn = listener.accept(20s);
        REQUIRE(listener.last_accepted());
        CHECK(listener.last_accepted()->path());
        // Works with wait, like any connection.
        auto ready = mp::wait({conn}, 20s);
        REQUIRE(ready.size() == 1);
        CHECK(conn.recv<std::tuple<int, std::optional<int>, std::string>>() ==
              std::tuple{42, std::optional<int>(), std::string("hello")});
        CHECK(to_string(conn.recv_bytes()) == "hello");
        std::array<int, 5> arr{};
        CHECK(conn.recv_bytes_into(std::as_writable_bytes(std::span(arr))) == 8);
        CHECK(arr == std::array<int, 5>{42, 1729, 0, 0, 0});
        conn.send(std::string("bye"));
        CHECK(client.get() == "bye");
        CHECK_THROWS_AS(conn.recv_bytes(), mp::EOFError);
        CHECK(conn.poll(0s));
        CHECK(conn.fileno() >= 0);
        conn.close();
    }
    // Closing removed the socket and its private directory.
    CHECK_FALSE(std::filesystem::exists(path));
    CHECK_FALSE(std::filesystem::exists(dir));
}

TEST_CASE("AF_INET on a free port, with a key given as a string", "[listener]") {
    mpc::Listener listener({"localhost", 0}, "secret password");
    REQUIRE(listener.address().inet());
    CHECK(listener.address().inet()->host == "127.0.0.1");
    auto port = listener.address().inet()->port;
    CHECK(port != 0);
    auto client = in_thread([port] {
        mp::Connection c = mpc::Client({"127.0.0.1", port}, "secret password");
        c.send(std::vector<double>{2.25, 1.5});
        return c.recv<int>();
    });
    mp::Connection conn = listener.accept(20s);
    REQUIRE(listener.last_accepted());
    REQUIRE(listener.last_accepted()->inet());
    CHECK(listener.last_accepted()->inet()->host == "127.0.0.1");
    CHECK(conn.recv<std::vector<double>>() == std::vector<double>{2.25, 1.5});
    conn.send(7);
    CHECK(client.get() == 7);
    listener.close();
    CHECK(listener.closed());
    listener.close();  // idempotent
}

TEST_CASE("an explicit AF_UNIX path is removed on close; accept times out", "[listener]") {
    auto dir =
        std::filesystem::temp_directory_path() / fmt::format("mproc-test-listener-{}", ::getpid());
    std::filesystem::create_directory(dir);
    auto path = (dir / "sock").string();
    {
        mpc::Listener l(path, mpc::no_authentication);
        CHECK(*l.address().path() == path);
        CHECK(std::filesystem::exists(path));
        CHECK_THROWS_AS(l.accept(10ms), mp::TimeoutError);
        auto client = in_thread([path] { return mpc::Client(path, mpc::no_authentication); });
        mp::Connection a = l.accept(20s);
        mp::Connection b = client.get();
        b.send_bytes("no handshake");
        CHECK(to_string(a.recv_bytes()) == "no handshake");
    }
    CHECK_FALSE(std::filesystem::exists(path));
    std::filesystem::remove(dir);
}

TEST_CASE("Linux's abstract namespace: an address starting with a NUL byte", "[listener]") {
    std::string name = std::string(1, '\0') + fmt::format("mproc-test-{}", ::getpid());
    mpc::Listener l(name, "k");
    CHECK(*l.address().path() == name);
    CHECK(l.address().repr().starts_with("'\\x00mproc-test-"));
    auto client = in_thread([name] { mpc::Client(name, "k").send(3); });
    CHECK(l.accept(20s).recv<int>() == 3);
    client.get();
}

TEST_CASE("a wrong key fails on both sides with AuthenticationError", "[listener]") {
    mpc::Listener listener({"localhost", 0}, "right");
    auto addr = listener.address();
    auto client = in_thread([addr] { mpc::Client(addr, "wrong"); });
    CHECK_THROWS_AS(listener.accept(20s), mp::AuthenticationError);
    CHECK_THROWS_WITH(client.get(), Contains("rejected"));
    // The listener is still usable.
    auto good = in_thread([addr] { mpc::Client(addr, "right").send(1); });
    mp::Connection c = listener.accept(20s);
    CHECK(c.recv<int>() == 1);
    good.get();
}

TEST_CASE("every digest, and Python <= 3.11's legacy form, authenticate", "[listener]") {
    const std::string_view digests[] = {"sha256",   "sha384", "sha3_256",
                                        "sha3_384", "md5",    "legacy"};
    for (auto digest : digests) {
        INFO("digest " << digest);
        auto [a, b] = mp::Pipe();
        auto key = as_bytes("k3y");
        auto answer = in_thread([b = b, key]() mutable { mpc::answer_challenge(b, key, 20s); });
        mpc::deliver_challenge(a, key, digest, 20s);
        answer.get();
        // Wrong key: both sides fail.
        auto bad =
            in_thread([b = b]() mutable { mpc::answer_challenge(b, as_bytes("other"), 20s); });
        CHECK_THROWS_AS(mpc::deliver_challenge(a, key, digest, 20s), mp::AuthenticationError);
        CHECK_THROWS_AS(bad.get(), mp::AuthenticationError);
    }
    auto [a, b] = mp::Pipe();
    CHECK_THROWS_WITH(mpc::deliver_challenge(a, {}, "sha1"), Contains("sha1"));
}

TEST_CASE("no key, no authentication (Python 3); process_authkey is one argument away",
          "[listener]") {
    mpc::Listener listener(mpc::Address("127.0.0.1", 0));  // no key: no handshake
    auto addr = listener.address();
    // A Client to a literal port returns as soon as it is connected, before
    // any accept (it used to wait for a challenge).
    auto early = in_thread([addr] { return mpc::Client(addr); });
    REQUIRE(early.wait_for(20s) == std::future_status::ready);
    mp::Connection c = early.get();
    c.send(5);
    CHECK(listener.accept(20s).recv<int>() == 5);
    // A Client that wants a handshake from this listener gets none.
    auto wants_key = in_thread([addr] { mpc::Client(addr, mpc::process_authkey); });
    mp::Connection plain = listener.accept(20s);
    plain.close();
    CHECK_THROWS_AS(wants_key.get(), mp::EOFError);

    mpc::Listener keyed({}, mpc::process_authkey);
    auto kaddr = keyed.address();
    auto key = mp::current_process().authkey();
    auto client = in_thread([kaddr, key] { mpc::Client(kaddr, key).send(6); });
    CHECK(keyed.accept(20s).recv<int>() == 6);
    client.get();
    auto same = in_thread([kaddr] { mpc::Client(kaddr, mpc::process_authkey).send(7); });
    CHECK(keyed.accept(20s).recv<int>() == 7);
    same.get();
    auto other = in_thread([kaddr] { mpc::Client(kaddr, "not the authkey"); });
    CHECK_THROWS_AS(keyed.accept(20s), mp::AuthenticationError);
    CHECK_THROWS_AS(other.get(), mp::AuthenticationError);
}

void child_process_key_client(std::string address) {
    mp::Connection c = mpc::Client(address, mpc::process_authkey);  // the inherited key
    c.send(std::string("authenticated"));
}

TEST_CASE("a child authenticates with the key it inherited (process_authkey)", "[listener]") {
    FOR_EACH_START_METHOD(ctx);
    mpc::Listener listener({}, mpc::process_authkey);
    auto p = ctx.Process(child_process_key_client, *listener.address().path());
    p.start();
    CHECK(listener.accept(20s).recv<std::string>() == "authenticated");
    p.join(20s);
    CHECK(p.exitcode() == 0);
}

void child_client(std::string address, mp::bytes key) {
    mp::Connection c = mpc::Client(address, key);
    c.send(mp::list{42, mp::None, "hello"});
    auto back = c.recv<std::string>();
    mp::test::child_check(back == "thanks", 3);
}

TEST_CASE("a Client in a child process connects to the parent's Listener", "[listener]") {
    FOR_EACH_START_METHOD(ctx);
    mpc::Listener listener({}, std::nullopt, 1, "k");
    auto p = ctx.Process(child_client, *listener.address().path(), mp::bytes{std::byte('k')});
    p.start();
    mp::Connection c = listener.accept(20s);
    CHECK(fmt::format("{}", c.recv<mp::object>()) == "[42, None, 'hello']");
    c.send(std::string("thanks"));
    p.join(20s);
    CHECK(p.exitcode() == 0);
}

TEST_CASE("hostile clients: huge length prefix, garbage, disconnection, silence", "[listener]") {
    mpc::Listener listener({"localhost", 0}, "key");
    listener.set_handshake_timeout(300ms);
    auto addr = listener.address();
    long rss_before = peak_rss_kib();
    SECTION("a huge length prefix is refused before any allocation") {
        RawPeer peer(addr);
        peer.write(be32(0x7ffffff0));
        CHECK_THROWS_WITH(listener.accept(20s), Contains("bad message length"));
        RawPeer peer2(addr);
        peer2.write(be32(0xffffffff) + be32(0x100) + be32(0));  // 1 TiB, Python's long form
        CHECK_THROWS_WITH(listener.accept(20s), Contains("bad message length"));
    }
    SECTION("garbage instead of a digest") {
        RawPeer peer(addr);
        peer.write(be32(20) + std::string(20, 'x'));
        CHECK_THROWS_AS(listener.accept(20s), mp::AuthenticationError);
        RawPeer peer2(addr);
        peer2.write(be32(5) + "{sha256}");  // a frame shorter than its own bytes
        CHECK_THROWS_AS(listener.accept(20s), mp::AuthenticationError);
    }
    SECTION("disconnection during the handshake") {
        RawPeer peer(addr);
        peer.write(be32(100) + "abc");  // dies in the middle of a message
        peer.close();
        CHECK_THROWS_AS(listener.accept(20s), mp::EOFError);
        RawPeer peer2(addr);
        peer2.close();
        CHECK_THROWS_AS(listener.accept(20s), mp::EOFError);
    }
    SECTION("a silent client times out") {
        RawPeer peer(addr);
        auto t0 = std::chrono::steady_clock::now();
        CHECK_THROWS_AS(listener.accept(20s), mp::TimeoutError);
        CHECK(mp::test::seconds_since(t0) < 10);
    }
    SECTION("a client that stalls in the middle of a message times out") {
        RawPeer peer(addr);
        peer.write(be32(20) + "abc");
        auto t0 = std::chrono::steady_clock::now();
        CHECK_THROWS_AS(listener.accept(20s), mp::TimeoutError);
        CHECK(mp::test::seconds_since(t0) < 10);
    }
    SECTION("a Client facing a listener that sends garbage gets an error") {
        auto client = in_thread([addr] { mpc::Client(addr, "key"); });
        // A server that is not one: accept without a handshake, answer junk.
        mpc::Listener plain({"localhost", 0}, mpc::no_authentication);
        auto bogus = in_thread([a = plain.address()] { mpc::Client(a, "key"); });
        mp::Connection c = plain.accept(20s);
        c.send_bytes("#WELCOME#");  // not a challenge
        CHECK_THROWS_WITH(bogus.get(), Contains("expected a challenge"));
        c.close();
        mp::Connection ok = listener.accept(20s);
        client.get();
    }
    // Nothing above allocated anything like the sizes announced.
    CHECK(peak_rss_kib() - rss_before < 64 * 1024);
    // And the listener still serves a good client.
    auto good = in_thread([addr] { mpc::Client(addr, "key").send(1); });
    CHECK(listener.accept(20s).recv<int>() == 1);
    good.get();
}

TEST_CASE("after the handshake, recv_bytes(maxlength) holds and lies cost nothing", "[listener]") {
    mpc::Listener listener({}, std::nullopt, 1, mpc::no_authentication);
    auto addr = listener.address();
    RawPeer peer(addr);
    mp::Connection c = listener.accept(20s);
    peer.write(be32(100) + std::string(100, 'x'));
    CHECK_THROWS_WITH(c.recv_bytes(10), Contains("maxlength"));
    CHECK_THROWS_AS(c.recv_bytes(), mp::ValueError);  // no longer readable, as in Python
    c.close();

    RawPeer liar(addr);
    mp::Connection d = listener.accept(20s);
    long rss_before = peak_rss_kib();
    liar.write(be32(0xffffffff) + be32(0x10) + be32(0) + std::string(1000, 'y'));  // 64 GiB
    liar.close();
    CHECK_THROWS_AS(d.recv_bytes(), mp::EOFError);
    CHECK(peak_rss_kib() - rss_before < 64 * 1024);
}
