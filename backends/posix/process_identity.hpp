// Who the calling thread and process are, cheaply (cached, reset in a fork
// child), and whether another process still lives: what the futex locks
// record about a holder.
#pragma once

#include <cstdint>

namespace mproc::posix {

/// The calling thread's kernel thread id.
std::uint32_t this_thread_id() noexcept;
/// The calling process's id.
int this_process_id() noexcept;
/// The calling process's start time (clock ticks after boot; /proc/self/stat).
std::uint64_t this_process_start_time() noexcept;
/// False if process (or thread) pid has ended, is a zombie, or is another
/// process reusing the pid (its start time differs from start, if non-zero).
bool process_alive(int pid, std::uint64_t start) noexcept;

}  // namespace mproc::posix
