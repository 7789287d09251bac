// tour: a short guided tour of what mproc does today, run once under each
// start method that can be loaded (mproc::get_all_start_methods()). It
// gathers the basics of the Python docs and the tutorial (seeds 000-004) in
// one program: processes with arguments, subclasses, exit codes, daemons,
// Pipe objects and raw bytes, wait() over connections and sentinels, and
// logging.
//
// Every target is a plain function (or a subclass without state), so the
// same code will run under spawn and forkserver, which start a new program
// instead of copying this one.
#include <array>
#include <cctype>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <map>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/core.h>
#include <fmt/format.h>  // fmt::join

#include <mproc/mproc.hpp>

namespace mp = mproc;
using namespace std::chrono_literals;

namespace {

// Python's spelling of a few values.
const char* py(bool b) {
    return b ? "True" : "False";
}

std::string py(std::span<const std::byte> bytes) {
    std::string out = "b'";
    for (std::byte b : bytes) {
        auto c = std::to_integer<unsigned char>(b);
        if (c == '\'' || c == '\\')
            out += fmt::format("\\{}", char(c));
        else if (std::isprint(c))
            out += char(c);
        else
            out += fmt::format("\\x{:02x}", c);
    }
    return out + "'";
}

std::string py(const std::optional<int>& v) {
    return v ? std::to_string(*v) : "None";
}

void section(std::string_view title) {
    fmt::print("-- {}\n", title);
}

// Blocks until killed: waits for a message nobody will send.
void block_forever() {
    auto [reader, writer] = mp::Pipe(false);
    reader.recv<int>();
}

// 1. Processes with arguments ------------------------------------------------

void greet(std::string who, int times) {
    for (int i = 1; i <= times; ++i)
        fmt::print("  hello {} ({}/{}) from {}\n", who, i, times, mp::current_process().name());
}

void processes_with_arguments(const mp::Context& ctx) {
    section("Process(target, args...)");
    auto p = ctx.Process(greet, "bob", 2);
    p.start();
    p.join();
    fmt::print("  {} exitcode = {}\n", p.name(), py(p.exitcode()));

    auto named = ctx.Process({.name = "greeter"}, greet, "alice", 1);
    named.start();
    named.join();
    fmt::print("  {}\n", named.repr());
}

// 2. Subclassing Process ------------------------------------------------------

struct Announcer : mp::Process {
    void run() override {
        auto* parent = mp::parent_process();
        fmt::print("  In {}, a child of {} (pid {})\n", name(), parent ? parent->name() : "?",
                   parent ? py(parent->pid()) : "?");
    }
};

void subclassing(const mp::Context& ctx) {
    section("subclass of Process overriding run()");
    fmt::print("  the main process: {} (pid {})\n", mp::current_process().name(),
               py(mp::current_process().pid()));
    Announcer a;
    a.set_context(ctx);
    try {
        a.start();
    } catch (const mp::ValueError& e) {
        // Under spawn and forkserver the child is the program started anew:
        // plain functions can be found there, an object's run() cannot.
        fmt::print("  refused under {}: {}\n", ctx.get_start_method(), e.what());
        fmt::print("  (subclasses need the fork start method; elsewhere pass a target function)\n");
        return;
    }
    a.join();
    fmt::print("  {}\n", a.repr());
}

// 3. Exit codes ---------------------------------------------------------------

void returns() {}
void calls_exit() {
    mp::exit(3);
}
void throws() {
    throw std::runtime_error("something went wrong");
}

void exit_codes(const mp::Context& ctx) {
    section("exit codes");
    std::vector<mp::Process> jobs;
    jobs.push_back(ctx.Process({.name = "returns"}, returns));
    jobs.push_back(ctx.Process({.name = "calls_exit"}, calls_exit));
    jobs.push_back(ctx.Process({.name = "throws"}, throws));
    jobs.push_back(ctx.Process({.name = "terminated"}, block_forever));
    jobs.push_back(ctx.Process({.name = "killed"}, block_forever));
    for (auto& j : jobs) j.start();
    jobs[3].terminate();  // SIGTERM first: the polite way
    jobs[4].kill();       // SIGKILL: when terminate() is not enough
    for (auto& j : jobs) {
        j.join();
        fmt::print("  {:<10} exitcode = {}\n", j.name(), py(j.exitcode()));
    }
    fmt::print("  (the exception thrown by 'throws' was printed on stderr)\n");
}

// 4. Daemons, join(timeout), active_children() ---------------------------------

void try_to_have_children(mp::Connection report) {
    try {
        mp::Process grandchild(returns);
        grandchild.start();
        report.send(std::string("started a child?!"));
    } catch (const mp::ValueError& e) {
        report.send(std::string(e.what()));
    }
}

void daemons(const mp::Context& ctx) {
    section("daemons, join(timeout), active_children()");
    auto d = ctx.Process({.name = "sleeper", .daemon = true}, block_forever);
    d.start();
    d.join(100ms);
    fmt::print("  after join(100ms): is_alive() = {}\n", py(d.is_alive()));
    fmt::print("  active_children(): {}\n", mp::active_children().size());
    d.terminate();
    d.join();
    fmt::print("  after terminate() and join(): {}\n", d.repr());
    fmt::print("  active_children(): {}\n", mp::active_children().size());

    auto [reader, writer] = ctx.Pipe(false);
    auto parent = ctx.Process({.daemon = true}, try_to_have_children, writer);
    parent.start();
    writer.close();
    fmt::print("  a daemon that starts a process gets: {}\n", reader.recv<std::string>());
    parent.join();
}

// 5. Pipes: objects and bytes -------------------------------------------------

void pipe_partner(mp::Connection conn) {
    auto text = conn.recv<std::string>();
    for (char& c : text) c = char(std::toupper(static_cast<unsigned char>(c)));
    conn.send(text);

    auto lists = conn.recv<std::map<std::string, std::vector<int>>>();
    std::map<std::string, int> sums;
    for (const auto& [key, values] : lists)
        for (int v : values) sums[key] += v;
    conn.send(sums);

    conn.send_bytes(conn.recv_bytes());  // echo, twice
    conn.send_bytes(conn.recv_bytes());
    conn.send_bytes(std::string_view("0123456789abcdef"));
    conn.close();
}

void pipes(const mp::Context& ctx) {
    section("Pipe(): send/recv objects, send_bytes/recv_bytes, poll, EOFError");
    auto [conn, child_conn] = ctx.Pipe();
    auto p = ctx.Process(pipe_partner, child_conn);
    p.start();
    // The child has its own copy: the end of stream shows only once ours is closed too.
    child_conn.close();

    fmt::print("  poll(100ms) before anything was sent: {}\n", py(conn.poll(100ms)));

    conn.send(std::string("hello"));
    fmt::print("  sent 'hello', got back '{}'\n", conn.recv<std::string>());

    conn.send(
        std::map<std::string, std::vector<int>>{{"primes", {2, 3, 5, 7}}, {"squares", {1, 4, 9}}});
    auto sums = conn.recv<std::map<std::string, int>>();
    fmt::print("  sums: {{'primes': {}, 'squares': {}}}\n", sums["primes"], sums["squares"]);

    std::string_view framed = "--hello world--";
    conn.send_bytes(std::as_bytes(std::span(framed)), 2, 11);
    fmt::print("  send_bytes(buf, offset=2, size=11) echoed as {}\n", py(conn.recv_bytes()));

    std::array<int, 5> numbers{0, 1, 2, 3, 4};
    conn.send_bytes(std::as_bytes(std::span(numbers)));
    std::array<int, 5> arr{};
    std::size_t n = conn.recv_bytes_into(std::as_writable_bytes(std::span(arr)));
    fmt::print("  recv_bytes_into: {} bytes -> [{}]\n", n, fmt::join(arr, ", "));

    fmt::print("  poll(5s) when a message is on its way: {}\n", py(conn.poll(5s)));
    std::array<std::byte, 8> small{};
    try {
        conn.recv_bytes_into(small);
    } catch (const mp::BufferTooShort& e) {
        fmt::print("  8-byte buffer: BufferTooShort, holding the whole message {}\n",
                   py(e.message()));
    }

    try {
        conn.recv<std::string>();
    } catch (const mp::EOFError&) {
        fmt::print("  recv() after the child closed its end: EOFError\n");
    }
    p.join();
}

// 6. wait() over connections and sentinels -----------------------------------

void waiter(mp::Connection conn, int code) {
    conn.recv<bool>();  // wait for our turn
    conn.send(fmt::format("{} says goodbye", mp::current_process().name()));
    mp::exit(code);
}

void waiting(const mp::Context& ctx) {
    section("wait() over connections and sentinels");
    std::vector<mp::Process> procs;
    std::vector<mp::Connection> conns;
    for (int i = 0; i < 3; ++i) {
        auto [mine, theirs] = ctx.Pipe();
        procs.push_back(ctx.Process(waiter, theirs, 10 + i));
        procs.back().start();
        theirs.close();
        conns.push_back(mine);
    }

    std::vector<mp::Waitable> sentinels;
    for (auto& p : procs) sentinels.push_back(p.sentinel());
    fmt::print("  wait(sentinels, 50ms) while all block: {} ready\n",
               mp::wait(sentinels, 50ms).size());
    fmt::print("  wait(connections, 50ms) while all block: {} ready\n",
               mp::wait(conns, 50ms).size());

    for (int k : {2, 0, 1}) {  // release them out of order
        conns[k].send(true);
        std::vector<mp::Waitable> objects{conns[k], procs[k].sentinel()};
        std::string message;
        bool ended = false;
        while (message.empty() || !ended) {
            for (auto& ready : mp::wait(objects)) {
                if (ready == conns[k] && message.empty()) message = conns[k].recv<std::string>();
                if (ready == procs[k].sentinel()) ended = true;
            }
            if (!message.empty()) objects = {procs[k].sentinel()};
        }
        procs[k].join();
        fmt::print("  released #{}: got '{}', sentinel ready, exitcode = {}\n", k, message,
                   py(procs[k].exitcode()));
    }
}

// 7. Logging -----------------------------------------------------------------

void logs_something() {
    mp::get_logger().info("a message from {}", mp::current_process().name());
}

void logging(const mp::Context& ctx) {
    section("log_to_stderr(), get_logger()");
    auto& logger = mp::log_to_stderr(mp::logging::INFO);
    logger.info("the tour logs through the library's logger");
    auto p = ctx.Process({.name = "logger"}, logs_something);
    p.start();
    p.join();
    logger.set_level(mp::logging::WARNING);  // quiet again for what follows
    fmt::print(
        "  the child's lifecycle and its own message went to stderr as [LEVEL/name] lines\n");
}

}  // namespace

int main(int argc, char** argv) {
    mp::freeze_support(argc, argv);
    auto methods = mp::get_all_start_methods();
    fmt::print("start methods: {} (default first); cpu_count() = {}\n", fmt::join(methods, ", "),
               mp::cpu_count());
    for (const auto& method : methods) {
        auto ctx = mp::get_context(method);
        fmt::print("=== start method: {} ===\n", ctx.get_start_method());
        processes_with_arguments(ctx);
        subclassing(ctx);
        exit_codes(ctx);
        daemons(ctx);
        pipes(ctx);
        waiting(ctx);
        logging(ctx);
        std::fflush(stdout);
    }
    fmt::print("tour complete\n");
}
