// Helpers shared by the tests.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include <mproc/mproc.hpp>

namespace mproc::test {

/// The start methods to run process tests under: every one that loads here
/// except the test-only third-party backend.
std::vector<std::string> start_methods();

/// A process seen in /proc.
struct ProcInfo {
    int pid = 0;
    char state = '?';  ///< 'Z' for a zombie
    std::string comm;  ///< the name in /proc/PID/stat
    std::vector<std::string> args;
};

/// The state letter of a process from /proc ('S' sleeping, 'R' running,
/// 'Z' zombie), or '?' if there is no such process.
char process_state(int pid);

/// The child processes of this process that exist right now (zombies too).
std::vector<ProcInfo> children();

/// Child processes that a test could have left behind: all children but the
/// forkserver's server, which lives as long as the test program, and the
/// shared memory watchers ("mproc-shmwatch"), which outlive their programs
/// by up to 100 ms (docs/shared_memory.md).
std::vector<int> child_pids();

/// The names in directory dir that start with prefix, sorted.
std::vector<std::string> entries_with_prefix(const std::string& dir, std::string_view prefix);

/// The entries of /dev/shm named as mproc names blocks ("mproc_*").
std::vector<std::string> shm_entries();

/// The entries of the temporary directory ($TMPDIR: the runner gives each
/// run its own) named as mproc names its things there ("mproc-*").
std::vector<std::string> temp_entries();

/// A connected Unix stream socket to address (its exact bytes: '\0' first
/// for Linux's abstract namespace), or -1.
int connect_unix(const std::string& address);

/// A Process target (fork): becomes user nobody, connects to the Unix socket
/// at address, sends hello (if not empty) and reports through c "answered"
/// if the server then sent anything, "refused" if it closed the connection,
/// else why it could not try.
void connect_as_nobody(Connection c, std::string address, std::string hello);

/// Everything readable from fd until end of file.
std::string read_all(int fd);

/// Number of open file descriptors of this process.
int open_fd_count();

/// Number of threads of this process.
int thread_count();

/// Polls done() every millisecond until it holds; fails the test after
/// limit seconds.
void wait_until(const std::function<bool()>& done, double limit = 30);

/// Seconds since t.
inline double seconds_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

/// In a child: ends it with exit code `code` unless ok (children report
/// failed checks through their exit code).
inline void child_check(bool ok, int code) {
    if (!ok) ::mproc::exit(code);
}

/// The bytes of a string (for send_bytes and comparisons).
inline std::span<const std::byte> as_bytes(std::string_view s) {
    return std::as_bytes(std::span(s));
}

/// Bytes as a string (for readable comparisons).
inline std::string to_string(std::span<const std::byte> b) {
    return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

}  // namespace mproc::test

/// Runs the rest of the test case once per start method, with `ctx` the
/// context; a failure names the method.
#define FOR_EACH_START_METHOD(ctx)                                                          \
    const std::string mproc_method_ = GENERATE(from_range(::mproc::test::start_methods())); \
    INFO("start method: " << mproc_method_);                                                \
    ::mproc::Context ctx = ::mproc::get_context(mproc_method_)
