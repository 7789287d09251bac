// shared_memory: SharedMemory and ShareableList, attached from children
// (every start method), from an unrelated program (shm_helper) and from
// python3's multiprocessing.shared_memory, both ways; and the tracker: a
// tracked block goes once its last user is gone (closed or SIGKILLed), never
// while one still has it.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support.hpp"

extern char** environ;

namespace mp = mproc;
namespace smem = mproc::shared_memory;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;

namespace {

bool exists(const std::string& name) {
    struct stat st;
    return ::stat(("/dev/shm/" + name).c_str(), &st) == 0;
}

std::string text(const smem::SharedMemory& shm, std::size_t n) {
    return std::string(reinterpret_cast<const char*>(shm.buf().data()), n);
}

void put(smem::SharedMemory& shm, std::string_view s) {
    std::memcpy(shm.buf().data(), s.data(), s.size());
}

void reap_python_trackers();

// The Programs running now (by pid).
std::set<pid_t> running;

// A program started by hand, with its stdin and stdout on pipes.
class Program {
  public:
    explicit Program(std::vector<std::string> args) {
        int in[2], out[2];
        REQUIRE(::pipe2(in, O_CLOEXEC) == 0);
        REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, in[0], 0);
        posix_spawn_file_actions_adddup2(&fa, out[1], 1);
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        int rc = ::posix_spawn(&pid_, args[0].c_str(), &fa, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&fa);
        ::close(in[0]);
        ::close(out[1]);
        in_ = in[1];
        out_ = out[0];
        REQUIRE(rc == 0);
        running.insert(pid_);
    }
    ~Program() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
            running.erase(pid_);
        }
        close_stdin();
        if (out_ >= 0) ::close(out_);
    }
    // One line of output, waiting at most 20 s ("" at end of output).
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
    // Everything until end of output.
    std::string read_all() {
        std::string all;
        for (;;) {
            pollfd pf{out_, POLLIN, 0};
            REQUIRE(::poll(&pf, 1, 20000) == 1);
            char buf[4096];
            ssize_t n = ::read(out_, buf, sizeof buf);
            if (n <= 0) return all;
            all.append(buf, std::size_t(n));
        }
    }
    void close_stdin() {
        if (in_ >= 0) ::close(in_);
        in_ = -1;
    }
    void kill() { ::kill(pid_, SIGKILL); }
    // The exit status (128 + N if killed by signal N), waiting at most 20 s.
    int wait() {
        int status = 0;
        mp::test::wait_until([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, 20);
        running.erase(pid_);
        pid_ = -1;
        reap_python_trackers();
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }

  private:
    pid_t pid_ = -1;
    int in_ = -1;
    int out_ = -1;
};

std::string python() {
    return MPROC_TEST_PYTHON;
}

bool skip_without_python() {
    if (!python().empty()) return false;
    WARN("python3 not found at configure time: Python interop test skipped");
    return true;
}

// Python 3.11's resource tracker unlinks at exit every block its process
// attached to (cpython #82300); the snippets opt out as 3.13's track=False.
const char* py_prelude =
    "import sys\n"
    "from multiprocessing import shared_memory, resource_tracker\n"
    "def attach(name):\n"
    "    shm = shared_memory.SharedMemory(name=name)\n"
    "    resource_tracker.unregister(shm._name, 'shared_memory')\n"
    "    return shm\n"
    "def attach_list(name):\n"
    "    l = shared_memory.ShareableList(name=name)\n"
    "    resource_tracker.unregister(l.shm._name, 'shared_memory')\n"
    "    return l\n";

// Python's resource tracker, a child of python3, becomes ours (the test
// runner is a subreaper) when python3 exits, and ends soon after: reap it.
void reap_python_trackers() {
    mp::test::wait_until(
        [] {
            for (const auto& c : mp::test::children()) {
                if (!c.comm.starts_with("python") || running.count(c.pid)) continue;
                if (c.state != 'Z') return false;
                ::waitpid(c.pid, nullptr, 0);
            }
            return true;
        },
        20);
}

Program run_python(const std::string& code, std::vector<std::string> args = {}) {
    args.insert(args.begin(), {python(), "-c", std::string(py_prelude) + code});
    return Program(std::move(args));
}

// ---- children ----

void child_write(mp::Connection c, std::string name) {
    smem::SharedMemory shm(name);
    mp::test::child_check(shm.size() == 4096, 3);
    mp::test::child_check(text(shm, 5) == "hello", 4);
    put(shm, "HELLO");
    c.send(true);
}

// Creates a block, reports its name, then waits to be killed.
void child_create_and_wait(mp::Connection c) {
    auto shm = smem::SharedMemory::create(1 << 16);
    put(shm, "from the creator");
    c.send(shm.name());
    (void)c.recv<int>();
}

// Makes and removes 1000 blocks (records struck from the watcher's ring),
// then makes 300 it keeps (past the ring's half and its end; one more made
// and removed among them), reports their names, and waits to be killed.
void child_churn_then_keep(mp::Connection c) {
    for (int i = 0; i < 1000; ++i) {
        auto shm = smem::SharedMemory::create(4096);
        shm.close();
        shm.unlink();
    }
    std::vector<smem::SharedMemory> kept;
    std::vector<std::string> names;
    for (int i = 0; i < 300; ++i) {
        if (i == 150) smem::SharedMemory::create(4096).close();  // struck amid kept ones
        kept.push_back(smem::SharedMemory::create(4096));
        names.push_back(kept.back().name());
    }
    c.send(names);
    (void)c.recv<int>();
}

// Attaches, reports, and closes when told (or waits to be killed).
void child_hold(mp::Connection c, std::string name) {
    smem::SharedMemory shm(name);
    c.send(text(shm, 16));
    (void)c.recv<int>();
    shm.close();
    c.send(true);
}

void child_list(mp::Connection c, std::string name) {
    smem::ShareableList l{std::string_view(name)};
    l.set(0, l[0].as<std::int64_t>() * 2);
    l.set(1, "child");
    c.send(l.repr());
}

}  // namespace

// ---- SharedMemory ----

TEST_CASE("SharedMemory: create, attach, buf, close, unlink", "[shared_memory]") {
    auto a = smem::SharedMemory::create(10000);
    CHECK(a.name().starts_with("mproc_"));
    CHECK(a.name().size() == 22);
    CHECK(a.size() == 10000);
    CHECK(a.buf().size() == 10000);
    CHECK(exists(a.name()));
    CHECK(a.repr() == "SharedMemory('" + a.name() + "', size=10000)");
    for (auto b : a.buf()) REQUIRE(b == std::byte{0});
    put(a, "shared bytes");
    smem::SharedMemory b(a.name());
    CHECK(b.size() == 10000);
    CHECK(text(b, 12) == "shared bytes");
    put(b, "SHARED");
    CHECK(text(a, 12) == "SHARED bytes");
    b.close();
    CHECK(b.closed());
    b.close();  // idempotent
    a.close();
    a.unlink();  // Python's pattern: close(); unlink() (close removed it already)
    CHECK_FALSE(exists(a.name()));

    // unlink while open: the memory stays, the name goes
    smem::SharedMemory c("", true, 100);
    smem::SharedMemory d(c.name());
    c.unlink();
    CHECK_FALSE(exists(c.name()));
    put(d, "still here");
    CHECK(text(c, 10) == "still here");
    CHECK_NOTHROW(c.unlink());  // tracked: gone already is fine

    smem::SharedMemory e("", true, 100, false);  // untracked: Python's rules
    e.unlink();
    CHECK_THROWS_AS(e.unlink(), mp::FileNotFoundError);
}

TEST_CASE("SharedMemory: a given name, generated names, moves", "[shared_memory]") {
    std::string name = "mproc_test_" + std::to_string(::getpid());
    smem::SharedMemory a(name, true, 64);
    CHECK(a.name() == name);
    smem::SharedMemory b("/" + name);  // a leading slash, as POSIX writes names
    CHECK(b.name() == name);
    smem::SharedMemory c = std::move(b);
    CHECK(b.closed());
    CHECK_FALSE(c.closed());
    c = smem::SharedMemory::create(8);
    CHECK(c.name() != name);
    CHECK(c.name().starts_with("mproc_"));
    std::string second = c.name();
    c.close();
    CHECK_FALSE(exists(second));
    CHECK(exists(name));
    a.close();
    CHECK_FALSE(exists(name));
}

TEST_CASE("SharedMemory: errors", "[shared_memory]") {
    auto a = smem::SharedMemory::create(64);
    CHECK_THROWS_MATCHES(
        smem::SharedMemory(a.name(), true, 64), mp::FileExistsError,
        Catch::Matchers::Message("shared memory block '" + a.name() + "' already exists"));
    CHECK_THROWS_MATCHES(
        smem::SharedMemory("mproc_no_such_block"), mp::FileNotFoundError,
        Catch::Matchers::Message("no shared memory block named 'mproc_no_such_block'"));
    CHECK_THROWS_WITH(smem::SharedMemory("", true, 0), Contains("different from zero"));
    CHECK_THROWS_WITH(smem::SharedMemory("", true, -5), Contains("positive"));
    CHECK_THROWS_AS(smem::SharedMemory(a.name(), false, -1), mp::ValueError);
    CHECK_THROWS_WITH(smem::SharedMemory(""), Contains("only be empty when create=true"));
    CHECK_THROWS_WITH(smem::SharedMemory("a/b", true, 8), Contains("not a valid name"));
    CHECK_THROWS_WITH(smem::SharedMemory("..", true, 8), Contains("not a valid name"));
    CHECK_THROWS_WITH(smem::SharedMemory(std::string(256, 'x'), true, 8),
                      Contains("the limit is 255"));
    a.close();
    CHECK_THROWS_MATCHES(a.buf(), mp::ClosedError,
                         Catch::Matchers::Message("SharedMemory '" + a.name() + "' is closed"));
    CHECK(a.name().starts_with("mproc_"));  // name and size still answer, as in Python
    CHECK(a.size() == 64);
}

TEST_CASE("SharedMemory: a child attaches by name", "[shared_memory]") {
    FOR_EACH_START_METHOD(ctx);
    auto shm = smem::SharedMemory::create(4096);
    put(shm, "hello");
    auto [r, w] = ctx.Pipe(false);
    auto p = ctx.Process(child_write, w, shm.name());
    p.start();
    w.close();
    REQUIRE(r.poll(30s));
    CHECK(r.recv<bool>());
    p.join(30s);
    CHECK(p.exitcode() == 0);
    CHECK(text(shm, 5) == "HELLO");
}

TEST_CASE("SharedMemory: an unrelated program attaches by name, and creates", "[shared_memory]") {
    auto shm = smem::SharedMemory::create(3000);
    Program writer({MPROC_TEST_SHM_HELPER, "write", shm.name(), "written by hand"});
    CHECK(writer.read_line() == "3000");
    CHECK(writer.wait() == 0);
    CHECK(text(shm, 15) == "written by hand");

    Program creator({MPROC_TEST_SHM_HELPER, "create", "5000"});
    std::string name = creator.read_line();
    REQUIRE(name.starts_with("mproc_"));
    {
        smem::SharedMemory other(name);
        CHECK(other.size() == 5000);
        CHECK(text(other, 11) == "from helper");
        creator.close_stdin();  // the creator closes and exits; we still use it
        CHECK(creator.wait() == 0);
        CHECK(exists(name));
    }
    CHECK_FALSE(exists(name));  // our close was the last use
}

TEST_CASE("SharedMemory: python3 attaches to ours, we attach to python3's", "[shared_memory]") {
    if (skip_without_python()) return;
    auto shm = smem::SharedMemory::create(1000);
    put(shm, "from C++");
    auto py = run_python(
        "shm = attach(sys.argv[1])\n"
        "print(shm.size, bytes(shm.buf[:8]).decode())\n"
        "shm.buf[:6] = b'PYTHON'\n"
        "shm.close()\n",
        {shm.name()});
    CHECK(py.read_line() == "1000 from C++");
    CHECK(py.wait() == 0);
    CHECK(text(shm, 8) == "PYTHON++");
    CHECK(exists(shm.name()));  // Python's tracker was kept out of it

    // Python creates; we attach, write, close: a block we did not mark stays
    // until its creator unlinks it (Python's rules for Python's blocks).
    auto creator = run_python(
        "shm = shared_memory.SharedMemory(create=True, size=777)\n"
        "shm.buf[:9] = b'from pyth'\n"
        "print(shm.name, flush=True)\n"
        "sys.stdin.readline()\n"
        "print(bytes(shm.buf[:9]).decode(), flush=True)\n"
        "shm.close()\n"
        "shm.unlink()\n");
    std::string name = creator.read_line();
    REQUIRE(name.starts_with("psm_"));
    {
        smem::SharedMemory p(name);
        CHECK(p.size() == 777);
        CHECK(text(p, 9) == "from pyth");
        put(p, "FROM C++!");
    }
    CHECK(exists(name));
    creator.close_stdin();
    CHECK(creator.read_line() == "FROM C++!");
    CHECK(creator.wait() == 0);
    CHECK_FALSE(exists(name));
}

// ---- the tracker ----

TEST_CASE("Tracker: the last close removes a block, not an earlier one", "[shared_memory]") {
    auto a = smem::SharedMemory::create(100);
    std::string name = a.name();
    {
        smem::SharedMemory b(name);
        smem::SharedMemory c(name);
        a.close();
        b.close();
        CHECK(exists(name));
        put(c, "c still uses it");
    }
    CHECK_FALSE(exists(name));
    CHECK_NOTHROW(a.unlink());  // gone with its last user: a no-op
}

TEST_CASE("Tracker: track=false opts out, Python's way", "[shared_memory]") {
    std::string name;
    {
        smem::SharedMemory a("", true, 100, false);
        name = a.name();
        CHECK_FALSE(a.tracked());
    }
    CHECK(exists(name));  // closed, not removed: lives until unlink
    {
        smem::SharedMemory b(name);  // attach: an unmarked block is not tracked
        CHECK_FALSE(b.tracked());
    }
    CHECK(exists(name));
    smem::SharedMemory(name, false, 0, false).unlink();
    CHECK_FALSE(exists(name));
}

TEST_CASE("Tracker: a SIGKILLed creator's block lives while another process holds it",
          "[shared_memory]") {
    FOR_EACH_START_METHOD(ctx);
    auto [cr, cw] = ctx.Pipe();
    auto creator = ctx.Process(child_create_and_wait, cw);
    creator.start();
    REQUIRE(cr.poll(30s));
    auto name = cr.recv<std::string>();
    REQUIRE(exists(name));

    auto [hr, hw] = ctx.Pipe();
    auto holder = ctx.Process(child_hold, hw, name);
    holder.start();
    REQUIRE(hr.poll(30s));
    CHECK(hr.recv<std::string>() == "from the creator");

    creator.kill();
    creator.join(30s);
    CHECK(creator.exitcode() == -SIGKILL);
    // Well past the watcher's 100 ms checks: still there, the holder has it.
    std::this_thread::sleep_for(500ms);
    CHECK(exists(name));
    hr.send(1);  // close it now
    REQUIRE(hr.poll(30s));
    CHECK(hr.recv<bool>());
    CHECK_FALSE(exists(name));  // the holder's close was the last use
    holder.join(30s);
    CHECK(holder.exitcode() == 0);
}

TEST_CASE("Tracker: when every user is SIGKILLed the block is gone within 2 s", "[shared_memory]") {
    FOR_EACH_START_METHOD(ctx);
    auto [cr, cw] = ctx.Pipe();
    auto creator = ctx.Process(child_create_and_wait, cw);
    creator.start();
    REQUIRE(cr.poll(30s));
    auto name = cr.recv<std::string>();
    auto [hr, hw] = ctx.Pipe();
    auto holder = ctx.Process(child_hold, hw, name);
    holder.start();
    REQUIRE(hr.poll(30s));
    CHECK(hr.recv<std::string>() == "from the creator");
    REQUIRE(exists(name));
    creator.kill();
    holder.kill();
    creator.join(30s);
    holder.join(30s);
    auto killed = std::chrono::steady_clock::now();
    mp::test::wait_until([&] { return !exists(name); }, 2.0);
    CHECK(mp::test::seconds_since(killed) < 2.0);
}

TEST_CASE("Tracker: blocks a busy SIGKILLed process kept are all gone within 2 s",
          "[shared_memory]") {
    FOR_EACH_START_METHOD(ctx);
    auto [r, w] = ctx.Pipe();
    auto p = ctx.Process(child_churn_then_keep, w);
    p.start();
    REQUIRE(r.poll(60s));
    auto names = r.recv<std::vector<std::string>>();
    REQUIRE(names.size() == 300);
    for (const auto& n : names) REQUIRE(exists(n));
    p.kill();
    p.join(30s);
    auto killed = std::chrono::steady_clock::now();
    auto left = [&] {
        std::size_t n = 0;
        for (const auto& name : names) n += exists(name) ? 1 : 0;
        return n;
    };
    mp::test::wait_until([&] { return left() == 0; }, 2.0);
    CHECK(left() == 0);
    CHECK(mp::test::seconds_since(killed) < 2.0);
}

TEST_CASE("Tracker: a SIGKILLed program's block, held by us, goes at our close",
          "[shared_memory]") {
    Program creator({MPROC_TEST_SHM_HELPER, "create", "4096"});
    std::string name = creator.read_line();
    REQUIRE(name.starts_with("mproc_"));
    smem::SharedMemory shm(name);
    creator.kill();
    CHECK(creator.wait() == 128 + SIGKILL);
    std::this_thread::sleep_for(300ms);  // the creator's watcher checks meanwhile
    CHECK(exists(name));
    CHECK(text(shm, 11) == "from helper");
    shm.close();
    CHECK_FALSE(exists(name));
}

TEST_CASE("Tracker: an unrelated program holding the block keeps it", "[shared_memory]") {
    std::string name;
    std::optional<Program> holder;
    {
        auto shm = smem::SharedMemory::create(512);
        name = shm.name();
        holder.emplace(std::vector<std::string>{MPROC_TEST_SHM_HELPER, "hold", name});
        CHECK(holder->read_line() == "held");
    }
    CHECK(exists(name));  // our close was not the last
    holder->kill();       // nor did it close: the watcher removes it
    CHECK(holder->wait() == 128 + SIGKILL);
    mp::test::wait_until([&] { return !exists(name); }, 2.0);
}

// ---- ShareableList ----

TEST_CASE("ShareableList: items, set, count, index, format, errors", "[shared_memory]") {
    smem::ShareableList l(
        mp::list{1, 2.5, true, mp::None, "howdy", mp::bytes{std::byte{'b'}}, "", -7, 1});
    CHECK(l.size() == 9);
    CHECK(l.format() == "qdxxxxxxx?xxxxxx?x8s8s8sqq");
    CHECK(l[0] == mp::object(1));
    CHECK(l[1] == mp::object(2.5));
    CHECK(l[2] == mp::object(true));
    CHECK(l[3].is_none());
    CHECK(l[4] == mp::object("howdy"));
    CHECK(l[5] == mp::object(mp::bytes{std::byte{'b'}}));
    CHECK(l[6] == mp::object(""));
    CHECK(l[-2] == mp::object(-7));
    CHECK(l.count(1) == 2);
    CHECK(l.count(1.0) == 0);  // kinds differ (unlike Python's 1 == 1.0)
    CHECK(l.index("howdy") == 4);
    CHECK_THROWS_WITH(l.index("nope"), "'nope' not in this container");
    CHECK_THROWS_WITH(l[9], Contains("out of range"));
    CHECK_THROWS_WITH(l[-10], Contains("out of range"));

    l.set(4, "12345678");  // fills the 8-byte slot
    CHECK(l[4] == mp::object("12345678"));
    CHECK_THROWS_MATCHES(l.set(4, "123456789"), mp::ValueError,
                         Catch::Matchers::Message("ShareableList item 4: a str of 9 bytes exceeds "
                                                  "the slot's capacity of 8 bytes"));
    l.set(0, "as str");  // a type may change within the capacity, as in Python
    CHECK(l[0] == mp::object("as str"));
    CHECK(l.format().starts_with("8sd"));
    l.set(4, 3.25);
    CHECK(l[4] == mp::object(3.25));
    l.set(3, false);
    CHECK(l[3] == mp::object(false));
    l.set(2, mp::None);
    CHECK(l[2].is_none());
    CHECK_THROWS_WITH(l.set(1, mp::list{1}), Contains("a list cannot be stored"));
    CHECK_THROWS_WITH(smem::ShareableList(mp::list{mp::dict{}}),
                      Contains("a dict cannot be stored"));
    CHECK(l.repr() == "ShareableList(['as str', 2.5, None, False, 3.25, b'b', '', -7, 1], name='" +
                          l.shm().name() + "')");

    smem::ShareableList empty(mp::list{});
    CHECK(empty.size() == 0);
    CHECK(empty.shm().size() == 16);
    CHECK(empty.format().empty());
}

TEST_CASE("ShareableList: trailing NUL bytes are kept", "[shared_memory]") {
    std::string s("ab\0", 3);
    mp::bytes b{std::byte{0}, std::byte{1}, std::byte{0}};
    std::string full("1234567\0", 8);
    smem::ShareableList l(mp::list{s, b, "x"});
    CHECK(l[0] == mp::object(s));
    CHECK(l[1] == mp::object(b));
    CHECK(l.format() == "3s5x3s5x8s");
    l.set(2, full);  // fills the slot exactly, ending in NUL
    CHECK(l[2] == mp::object(full));
    CHECK(l.format() == "3s5x3s5x8s0x");
    l.set(0, "plain");
    CHECK(l[0] == mp::object("plain"));
    CHECK(l.format() == "8s3s5x8s0x");
}

TEST_CASE("ShareableList: a child attaches by name", "[shared_memory]") {
    FOR_EACH_START_METHOD(ctx);
    smem::ShareableList l(mp::list{21, "parent", 0.5});
    auto [r, w] = ctx.Pipe(false);
    auto p = ctx.Process(child_list, w, l.shm().name());
    p.start();
    w.close();
    REQUIRE(r.poll(30s));
    CHECK(r.recv<std::string>() ==
          "ShareableList([42, 'child', 0.5], name='" + l.shm().name() + "')");
    p.join(30s);
    CHECK(p.exitcode() == 0);
    CHECK(l[0] == mp::object(42));
    CHECK(l[1] == mp::object("child"));
}

TEST_CASE("ShareableList: byte for byte Python's layout, read and written both ways",
          "[shared_memory]") {
    if (skip_without_python()) return;
    // Python builds a list, prints its block's bytes; ours must be identical.
    const char* items_py =
        "[1, -2, 3.5, True, False, None, 'howdy', b'bytes!', '', 'exactly8', "
        "'a longer string of text', 2**62]";
    mp::list items{1,
                   -2,
                   3.5,
                   true,
                   false,
                   mp::None,
                   "howdy",
                   mp::bytes{std::byte{'b'}, std::byte{'y'}, std::byte{'t'}, std::byte{'e'},
                             std::byte{'s'}, std::byte{'!'}},
                   "",
                   "exactly8",
                   "a longer string of text",
                   std::int64_t(1) << 62};
    auto py = run_python(std::string("l = shared_memory.ShareableList(") + items_py +
                         ")\n"
                         "print(bytes(l.shm.buf).hex())\n"
                         "print(l.format)\n"
                         "l.shm.close()\n"
                         "l.shm.unlink()\n");
    std::string python_hex = py.read_line();
    std::string python_format = py.read_line();
    CHECK(py.wait() == 0);
    smem::ShareableList l(items);
    std::string ours;
    for (auto b : l.shm().buf()) ours += fmt::format("{:02x}", unsigned(b));
    CHECK(ours == python_hex);
    CHECK(l.format() == python_format);

    // Python reads ours (and loses a trailing NUL, as it does), writes.
    l.set(8, std::string("nul\0", 4));
    auto reader = run_python(
        "l = attach_list(sys.argv[1])\n"
        "print(list(l))\n"
        "l[0] = 99\n"
        "l[6] = 'hi'\n"
        "l[8] = 'from py'\n"
        "l[5] = 1.25\n"
        "l.shm.close()\n",
        {l.shm().name()});
    CHECK(reader.read_line() ==
          "[1, -2, 3.5, True, False, None, 'howdy', b'bytes!', 'nul', 'exactly8', "
          "'a longer string of text', 4611686018427387904]");
    CHECK(reader.wait() == 0);
    CHECK(l.repr() ==
          "ShareableList([99, -2, 3.5, True, False, 1.25, 'hi', b'bytes!', 'from py', "
          "'exactly8', 'a longer string of text', 4611686018427387904], name='" +
              l.shm().name() + "')");
    CHECK(exists(l.shm().name()));

    // Python makes one; an unrelated C++ program reads it.
    auto maker = run_python(
        "l = shared_memory.ShareableList([7, 'seven', None, b'\\x00\\x01'])\n"
        "print(l.shm.name, flush=True)\n"
        "sys.stdin.readline()\n"
        "print(list(l), flush=True)\n"
        "l.shm.close()\n"
        "l.shm.unlink()\n");
    std::string name = maker.read_line();
    Program cpp({MPROC_TEST_SHM_HELPER, "list", name});
    CHECK(cpp.read_line() ==
          "ShareableList([7, 'seven', None, b'\\x00\\x01'], name='" + name + "')");
    CHECK(cpp.wait() == 0);
    {
        smem::ShareableList theirs{std::string_view(name)};
        theirs.set(1, "SEVEN");
        theirs.set(0, std::int64_t(-1));
    }
    maker.close_stdin();
    CHECK(maker.read_line() == "[-1, 'SEVEN', None, b'\\x00\\x01']");
    CHECK(maker.wait() == 0);
    CHECK_FALSE(exists(name));
}

TEST_CASE("ShareableList: a UTF-8 str gets room for its bytes", "[shared_memory]") {
    // Python sizes a str slot by characters and truncates longer UTF-8; we
    // size by bytes, and Python reads the result.
    smem::ShareableList l(mp::list{"ünïcödé"});  // 7 characters, 11 bytes
    CHECK(l.format() == "16s");
    CHECK(l[0] == mp::object("ünïcödé"));
    if (skip_without_python()) return;
    auto reader =
        run_python("l = attach_list(sys.argv[1])\nprint(l[0] == 'ünïcödé')\nl.shm.close()\n",
                   {l.shm().name()});
    CHECK(reader.read_line() == "True");
    CHECK(reader.wait() == 0);
}

TEST_CASE("ShareableList: a block that is not a list is refused", "[shared_memory]") {
    auto shm = smem::SharedMemory::create(64);
    std::int64_t n = 1000;
    std::memcpy(shm.buf().data(), &n, sizeof n);
    CHECK_THROWS_WITH(smem::ShareableList(std::string_view(shm.name())),
                      Contains("not a ShareableList layout (1000 items in 64 bytes)"));
    auto tiny = smem::SharedMemory::create(8);
    CHECK_THROWS_WITH(smem::ShareableList(std::string_view(tiny.name())),
                      Contains("not a ShareableList layout (8 bytes)"));
}

namespace {
void wait_for_word(mp::Connection c) {
    (void)c.recv<int>();
}
}  // namespace

TEST_CASE("Tracker: a fork child that inherited a block's mapping keeps it", "[shared_memory]") {
    // Python's fork children inherit the mmap; here they count as users.
    auto ctx = mp::get_context("fork");
    auto shm = smem::SharedMemory::create(4096);
    std::string name = shm.name();
    auto [r, w] = ctx.Pipe();
    auto p = ctx.Process(wait_for_word, r);
    p.start();
    shm.close();  // the child still maps it
    CHECK(exists(name));
    w.send(1);
    p.join(30s);
    CHECK(p.exitcode() == 0);
    mp::test::wait_until([&] { return !exists(name); }, 2.0);  // the watcher's work
}

TEST_CASE("Tracker: a new watcher sweeps marked blocks that nobody holds", "[shared_memory]") {
    // What a killed watcher leaves: a marked block no process holds and no
    // watcher knows. An unmarked one (Python's, track=false) stays.
    std::string marked = "mproc_sweep_" + std::to_string(::getpid());
    std::string plain = marked + "_plain";
    int fd = ::shm_open(("/" + marked).c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 01600);
    REQUIRE(fd >= 0);
    ::close(fd);
    fd = ::shm_open(("/" + plain).c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    ::close(fd);
    Program helper({MPROC_TEST_SHM_HELPER, "create", "64"});  // a new program, a new watcher
    CHECK(helper.read_line().starts_with("mproc_"));
    mp::test::wait_until([&] { return !exists(marked); }, 5);
    CHECK(exists(plain));
    helper.close_stdin();
    CHECK(helper.wait() == 0);
    ::shm_unlink(("/" + plain).c_str());
}

// ---- as arguments: they cross by name (issue 16, as Python pickles them) ----

namespace {

// True while pid exists and is not a zombie.
bool alive(int pid) {
    char state = mp::test::process_state(pid);
    return state != '?' && state != 'Z';
}

void argument_child(mp::Connection c, smem::SharedMemory shm, const smem::ShareableList& l) {
    put(shm, "ARG");
    auto copy = l;  // another handle on the same block
    copy.set(0, std::int64_t(42));
    c.send(l[1].as<std::string>());
}

std::int64_t pool_sum(smem::ShareableList l, std::int64_t from, std::int64_t to) {
    std::int64_t sum = 0;
    for (auto i = from; i < to; ++i) sum += l[i].as<std::int64_t>();
    return sum;
}

std::string pool_read(smem::SharedMemory shm) {
    return text(shm, 3);
}

void queue_child(mp::Queue<smem::SharedMemory> q, mp::Connection c) {
    auto shm = q.get();
    put(shm, "QUE");
    c.send(shm.name());
}

}  // namespace

TEST_CASE("SharedMemory: copies are handles on one mapping, each closing on its own",
          "[shared_memory]") {
    auto a = smem::SharedMemory::create(4096);
    auto b = a;
    smem::SharedMemory c(a.name());  // attached in the same process: the same mapping
    CHECK(b.buf().data() == a.buf().data());
    CHECK(c.buf().data() == a.buf().data());
    put(a, "one");
    CHECK(text(c, 3) == "one");
    a.close();
    CHECK(a.closed());
    CHECK(text(b, 3) == "one");
    CHECK(exists(b.name()));
    b.close();
    CHECK(exists(c.name()));  // c still holds it
    smem::SharedMemory d;
    d = c;
    c.close();
    CHECK(exists(d.name()));
    const auto name = d.name();
    d.close();
    CHECK_FALSE(exists(name));  // the last handle's close removed it
    smem::SharedMemory closed_copy = d;
    CHECK(closed_copy.closed());
    CHECK_THROWS_AS(closed_copy.buf(), mp::ClosedError);
}

TEST_CASE("SharedMemory: an attach by a name this process has open sees the name's block",
          "[shared_memory]") {
    auto a = smem::SharedMemory::create(4096, {}, false);
    put(a, "old");
    const auto name = a.name();
    a.unlink();
    CHECK_THROWS_AS(smem::SharedMemory(name, false, 0, false), mp::FileNotFoundError);
    // The name now names another block: an attach must find that one.
    auto b = smem::SharedMemory::create(8192, name, false);
    put(b, "new");
    smem::SharedMemory c(name, false, 0, false);
    CHECK(c.size() == 8192);
    CHECK(text(c, 3) == "new");
    CHECK(text(a, 3) == "old");
    b.unlink();
}

TEST_CASE("SharedMemory and ShareableList cross as Process, Pool and Queue arguments",
          "[shared_memory]") {
    FOR_EACH_START_METHOD(ctx);
    auto shm = smem::SharedMemory::create(4096);
    put(shm, "abc");
    smem::ShareableList l(mp::list{1, "two", 3});

    auto [a, b] = ctx.Pipe();
    auto p = ctx.Process(argument_child, b, shm, l);
    p.start();
    b.close();
    REQUIRE(a.poll(60s));
    CHECK(a.recv<std::string>() == "two");
    p.join(60s);
    CHECK(p.exitcode() == 0);
    CHECK(text(shm, 3) == "ARG");
    CHECK(l[0] == mp::object(42));

    {
        auto pool = ctx.Pool(2);
        smem::ShareableList numbers(mp::list{1, 2, 3});
        CHECK(pool.apply(pool_sum, numbers, std::int64_t(0), std::int64_t(3)) == 6);
        CHECK(pool.apply(pool_read, shm) == "ARG");
        auto names = pool.map(pool_read, std::vector<smem::SharedMemory>{shm, shm});
        CHECK(names == std::vector<std::string>{"ARG", "ARG"});
    }

    auto q = ctx.Queue<smem::SharedMemory>();
    auto [qa, qb] = ctx.Pipe();
    auto qp = ctx.Process(queue_child, q, qb);
    qp.start();
    qb.close();
    q.put(shm);
    REQUIRE(qa.poll(60s));
    CHECK(qa.recv<std::string>() == shm.name());
    qp.join(60s);
    CHECK(text(shm, 3) == "QUE");
    // Read as a string, it is the name.
    auto e = mp::default_serializer().make_encoder();
    mp::encode(*e, l);
    auto d = mp::default_serializer().make_decoder();
    d->reset(e->data());
    CHECK(mp::decode<std::string>(*d) == l.shm().name());
}

// ---- SharedMemoryManager ----

namespace {

void square_slots(smem::ShareableList sl, std::int64_t from, std::int64_t to) {
    for (auto i = from; i < to; ++i) sl.set(i, i * i);
}

// Starts a SharedMemoryManager, makes two blocks, reports their names and
// the server's pid, then waits to be killed.
void owner_of_blocks(mp::Connection c) {
    mp::SharedMemoryManager smm;
    smm.start();
    auto raw = smm.SharedMemory(4096);
    auto sl = smm.ShareableList(mp::list{1, 2});
    c.send(std::vector<std::string>{raw.name(), sl.shm().name()});
    c.send(*smm.pid());
    (void)c.recv<int>();  // never comes
}

}  // namespace

TEST_CASE("SharedMemoryManager: blocks made by its server, unlinked at shutdown",
          "[shared_memory]") {
    FOR_EACH_START_METHOD(ctx);
    mp::SharedMemoryManager smm(ctx);
    smm.start();
    CHECK_THAT(smm.process_name(), Contains("SharedMemoryManager-"));
    auto sl = smm.ShareableList(mp::list{0, 1, 2, 3});
    CHECK_THAT(sl.repr(), Contains("ShareableList([0, 1, 2, 3], name='mproc_"));
    auto raw = smm.SharedMemory(128);
    CHECK(raw.size() == 128);
    auto another = smm.ShareableList(mp::list{"a", "l", "p", "h", "a"});
    CHECK(another.items() == mp::list{"a", "l", "p", "h", "a"});
    CHECK_THROWS_AS(smm.SharedMemory(0), mp::ValueError);
    CHECK_THROWS_AS(smm.ShareableList(mp::list{mp::list{1}}), mp::ValueError);  // not a scalar
    auto names = smm.list_segments();
    CHECK(std::set<std::string>(names.begin(), names.end()) ==
          std::set<std::string>{sl.shm().name(), raw.name(), another.shm().name()});
    const auto raw_name = raw.name();
    raw.close();
    CHECK(exists(raw_name));  // the server holds it until it stops
    smm.shutdown();
    CHECK_FALSE(exists(raw_name));
    CHECK_FALSE(exists(sl.shm().name()));
    CHECK_FALSE(exists(another.shm().name()));
    CHECK(sl[3] == mp::object(3));  // our mapping stays
}

TEST_CASE("SharedMemoryManager: the docs' two workers, unlinked at scope exit", "[shared_memory]") {
    FOR_EACH_START_METHOD(ctx);
    std::string name;
    {
        mp::SharedMemoryManager smm(ctx);
        smm.start();
        auto sl = smm.ShareableList(mp::list(200, mp::object(std::int64_t(0))));
        name = sl.shm().name();
        auto p1 = ctx.Process(square_slots, sl, std::int64_t(0), std::int64_t(100));
        auto p2 = ctx.Process(square_slots, sl, std::int64_t(100), std::int64_t(200));
        p1.start();
        p2.start();
        p1.join(60s);
        p2.join(60s);
        std::int64_t total = 0;
        for (std::size_t i = 0; i < sl.size(); ++i) total += sl[std::int64_t(i)].as<std::int64_t>();
        CHECK(total == 199 * 200 * 399 / 6);
        CHECK(exists(name));
    }
    CHECK_FALSE(exists(name));
}

TEST_CASE("SharedMemoryManager: its owner SIGKILLed, the blocks are gone within 2 s",
          "[shared_memory]") {
    FOR_EACH_START_METHOD(ctx);
    auto [a, b] = ctx.Pipe();
    auto owner = ctx.Process(owner_of_blocks, b);
    owner.start();
    b.close();
    REQUIRE(a.poll(60s));
    const auto names = a.recv<std::vector<std::string>>();
    const int server = a.recv<int>();
    for (auto& n : names) CHECK(exists(n));
    owner.kill();
    owner.join(60s);
    auto t0 = std::chrono::steady_clock::now();
    mp::test::wait_until([&] { return !exists(names[0]) && !exists(names[1]); }, 10);
    CHECK(mp::test::seconds_since(t0) < 2);
    CHECK_FALSE(exists(names[0]));
    CHECK_FALSE(exists(names[1]));
    mp::test::wait_until([&] { return !alive(server); }, 10);
    // The orphaned server (and the owner's forkserver, if it had one) became
    // our children (the tests are a subreaper), maybe only once they ended:
    // reap them.
    mp::test::wait_until(
        [] {
            for (const auto& c : mp::test::children())
                if (c.state == 'Z') ::waitpid(c.pid, nullptr, WNOHANG);
            return mp::test::child_pids().empty();
        },
        10);
}

TEST_CASE("SharedMemoryManager: its server SIGKILLed, its blocks follow the tracker's rule",
          "[shared_memory]") {
    FOR_EACH_START_METHOD(ctx);
    mp::SharedMemoryManager smm(ctx);
    smm.start();
    auto held = smm.SharedMemory(4096);
    std::string loose;
    {
        auto b = smm.SharedMemory(4096);
        loose = b.name();
    }
    CHECK(exists(loose));  // the server holds it
    ::kill(*smm.pid(), SIGKILL);
    smm.join(60s);
    auto t0 = std::chrono::steady_clock::now();
    mp::test::wait_until([&] { return !exists(loose); }, 10);
    CHECK(mp::test::seconds_since(t0) < 2);  // its last user is gone
    CHECK(exists(held.name()));              // we still use this one
    const auto name = held.name();
    held.close();
    CHECK_FALSE(exists(name));
    smm.shutdown();
}
