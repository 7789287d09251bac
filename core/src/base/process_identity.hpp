// Who the calling thread and process are, cheaply (cached; libmproc resets
// the caches in a fork child), and whether another process still lives: what
// the futex locks record about a holder (internal to libmproc: one cache
// per process, however many backends are loaded).
#pragma once

#include <atomic>
#include <cstdint>

namespace mproc::detail {

namespace identity {
// The caches, read inline on the lock fast path. Initial-exec TLS: no
// __tls_get_addr call (libmproc is loaded with the program, so its TLS is in
// the static block).
extern thread_local std::uint32_t tid __attribute__((tls_model("initial-exec")));
extern std::atomic<int> pid;
extern std::atomic<std::uint64_t> start;
std::uint32_t fetch_tid() noexcept;
int fetch_pid() noexcept;
std::uint64_t fetch_start() noexcept;
/// Empties the caches: in a fork child they describe the parent. Called by
/// libmproc's fork handler, before any other.
void forget() noexcept;
}  // namespace identity

/// The calling thread's kernel thread id.
inline std::uint32_t this_thread_id() noexcept {
    std::uint32_t t = identity::tid;
    return t != 0 ? t : identity::fetch_tid();
}
/// The calling process's id.
inline int this_process_id() noexcept {
    int p = identity::pid.load(std::memory_order_relaxed);
    return p != 0 ? p : identity::fetch_pid();
}
/// The calling process's start time (clock ticks after boot; /proc/self/stat).
inline std::uint64_t this_process_start_time() noexcept {
    std::uint64_t s = identity::start.load(std::memory_order_relaxed);
    return s != 0 ? s : identity::fetch_start();
}
/// False if process (or thread) pid has ended, is a zombie, or is another
/// process reusing the pid (its start time differs from start, if non-zero).
bool process_alive(int pid, std::uint64_t start) noexcept;

}  // namespace mproc::detail
