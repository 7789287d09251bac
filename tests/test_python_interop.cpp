// Interoperability with CPython's multiprocessing.connection, run by the
// machine's python3 (tests/python_peer.py): a C++ Client authenticates to a
// Python Listener and a Python Client to a C++ Listener, over AF_UNIX and
// AF_INET; bytes round-trip both ways; a wrong key fails on both sides; and
// mproc::object sent with the msgpack serializer is what Python's msgpack
// reads. Without python3 (or its msgpack package) the tests say so and pass.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "support.hpp"

extern char** environ;

namespace mp = mproc;
namespace mpc = mproc::connection;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;

namespace {

// The interpreter to run: one with msgpack if there is one, else any.
std::string python(bool need_msgpack) {
    std::string with = MPROC_TEST_PYTHON_MSGPACK;
    if (!with.empty() || need_msgpack) return with;
    return MPROC_TEST_PYTHON;
}

bool skip_without(const std::string& py, const char* what) {
    if (!py.empty()) return false;
    std::fprintf(stderr, "SKIPPED: %s not found at configure time; Python interop test not run\n",
                 what);
    WARN(what << " not found: Python interop test skipped");
    return true;
}

// A python_peer.py process with its stdout on a pipe.
class PyPeer {
  public:
    PyPeer(const std::string& py, std::vector<std::string> args) {
        int p[2];
        REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
        out_ = p[0];
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, p[1], 1);
        args.insert(args.begin(), {py, MPROC_TEST_PYTHON_PEER});
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        int rc = ::posix_spawn(&pid_, py.c_str(), &fa, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&fa);
        ::close(p[1]);
        REQUIRE(rc == 0);
    }
    ~PyPeer() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        if (out_ >= 0) ::close(out_);
    }

    // One line of the peer's output (without the newline), waiting at most 20 s.
    std::string read_line() {
        std::string line;
        for (;;) {
            pollfd pf{out_, POLLIN, 0};
            REQUIRE(::poll(&pf, 1, 20000) == 1);
            char c;
            ssize_t n = ::read(out_, &c, 1);
            if (n <= 0 || c == '\n') return line;
            line += c;
        }
    }

    // The exit status, waiting at most 20 s.
    int wait() {
        int status = 0;
        mp::test::wait_until([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, 20);
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }

  private:
    pid_t pid_ = -1;
    int out_ = -1;
};

mpc::Address parse(const std::string& line) {
    if (line.starts_with("inet:")) {
        auto colon = line.rfind(':');
        return mpc::Address(line.substr(5, colon - 5), std::stol(line.substr(colon + 1)));
    }
    REQUIRE(line.starts_with("unix:"));
    return mpc::Address(line.substr(5));
}

std::string show(const mpc::Address& a) {
    if (auto* in = a.inet()) return fmt::format("inet:{}:{}", in->host, in->port);
    return "unix:" + *a.path();
}

// Messages of several sizes go out and come back unchanged.
void round_trip_bytes(mp::Connection& c) {
    std::vector<std::string> messages = {"hello", "", std::string(100000, 'z')};
    messages.back()[12345] = '\0';
    for (auto& m : messages) {
        c.send_bytes(m);
        REQUIRE(c.poll(20s));
        auto back = c.recv_bytes();
        CHECK(std::string(reinterpret_cast<const char*>(back.data()), back.size()) == m);
    }
}

}  // namespace

TEST_CASE("a C++ Client authenticates to a Python Listener; bytes round-trip", "[python-interop]") {
    auto py = python(false);
    if (skip_without(py, "python3")) return;
    for (const char* family : {"AF_UNIX", "AF_INET"}) {
        INFO(family);
        PyPeer peer(py, {"listen", family, "secret password"});
        auto address = parse(peer.read_line());
        CHECK(mpc::address_type(address) == mpc::family_from_string(family));
        {
            mp::Connection c = mpc::Client(address, "secret password");
            round_trip_bytes(c);
        }
        CHECK(peer.wait() == 0);
    }
}

TEST_CASE("a Python Client authenticates to a C++ Listener; bytes round-trip", "[python-interop]") {
    auto py = python(false);
    if (skip_without(py, "python3")) return;
    for (mpc::Address where : {mpc::Address(), mpc::Address("127.0.0.1", 0)}) {
        mpc::Listener listener(where, "secret password");
        PyPeer peer(py, {"connect", show(listener.address()), "secret password"});
        {
            mp::Connection c = listener.accept(20s);
            round_trip_bytes(c);
        }
        CHECK(peer.wait() == 0);
    }
}

TEST_CASE("a wrong key fails on both sides against Python", "[python-interop]") {
    auto py = python(false);
    if (skip_without(py, "python3")) return;
    {
        PyPeer peer(py, {"listen", "AF_UNIX", "right"});
        auto address = parse(peer.read_line());
        CHECK_THROWS_AS(mpc::Client(address, "wrong"), mp::AuthenticationError);
        CHECK_THAT(peer.read_line(), Contains("AuthenticationError"));
        CHECK(peer.wait() == 3);
    }
    {
        mpc::Listener listener({"127.0.0.1", 0}, "right");
        PyPeer peer(py, {"connect", show(listener.address()), "wrong"});
        CHECK_THROWS_AS(listener.accept(20s), mp::AuthenticationError);
        CHECK_THAT(peer.read_line(), Contains("AuthenticationError"));
        CHECK(peer.wait() == 3);
    }
}

TEST_CASE("mproc::object sent with msgpack is what Python's msgpack reads", "[python-interop]") {
    auto py = python(true);
    if (skip_without(py, "python3 with the msgpack package")) return;
    mp::dict d;
    d["name"] = "mproc";
    d["tuple"] = mp::tuple{1, 2};
    d[7] = mp::bytes{std::byte(0), std::byte(0xff)};
    mp::object sent = mp::list{42, mp::None, "hello", 2.25, true, -3, d, mp::list{}};
    mpc::Listener listener({}, "k");
    PyPeer peer(py, {"connect", show(listener.address()), "k"});
    {
        mp::Connection c = listener.accept(20s);
        c.send_bytes("msgpack");
        c.send(sent);
        // Python prints its repr: the same as ours, the tuple read as a list.
        const std::string expected =
            "[42, None, 'hello', 2.25, True, -3, {'name': 'mproc', 'tuple': [1, 2], 7: "
            "b'\\x00\\xff'}, []]";
        CHECK(peer.read_line() == expected);
        // What Python's msgpack.packb wrote reads back as the same value.
        REQUIRE(c.poll(20s));
        mp::object back = c.recv<mp::object>();
        CHECK(back.repr() == expected);
        d["tuple"] = mp::list{1, 2};
        CHECK(back == mp::object(mp::list{42, mp::None, "hello", 2.25, true, -3, d, mp::list{}}));
    }
    CHECK(peer.wait() == 0);
}
