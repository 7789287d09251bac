// Who the calling thread and process are, cheaply (cached, reset in a fork
// child), and whether another process still lives: what the futex locks
// record about a holder.
#pragma once

#include <atomic>
#include <cstdint>

namespace mproc::posix {

namespace identity {
// The caches, read inline on the lock fast path. Initial-exec TLS: no
// __tls_get_addr call even though the backend is dlopen'ed (4 bytes of the
// static TLS surplus glibc keeps for such modules).
extern thread_local std::uint32_t tid
    __attribute__((tls_model("initial-exec"), visibility("hidden")));
extern std::atomic<int> pid __attribute__((visibility("hidden")));
extern std::atomic<std::uint64_t> start __attribute__((visibility("hidden")));
std::uint32_t fetch_tid() noexcept;
int fetch_pid() noexcept;
std::uint64_t fetch_start() noexcept;
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

}  // namespace mproc::posix
