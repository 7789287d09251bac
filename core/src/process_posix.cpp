// POSIX pieces of Process: pids, signals, streams, the parent's sentinel.
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <stdio_ext.h>
#include <cstdio>
#include <ext/stdio_sync_filebuf.h>

#include <iostream>

#include <mproc/process.hpp>

#include "poll_posix.hpp"
#include "process_state.hpp"

namespace mproc {

int cpu_count() {
    long n = ::sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? int(n) : 1;
}

namespace detail {

// Flushes only what has output pending: every page a fork child writes is
// copied, and fflush(NULL) would write to every FILE there is. As in Python,
// the standard streams are flushed, not files the program opened.
void flush_std_streams() {
    // iostreams synchronised with stdio (the default) keep nothing of their
    // own; unsynchronised ones are flushed.
    for (std::ostream* os : {&std::cout, &std::cerr, &std::clog}) {
        if (dynamic_cast<__gnu_cxx::stdio_sync_filebuf<char>*>(os->rdbuf()) == nullptr) os->flush();
    }
    for (FILE* f : {stdout, stderr})
        if (__fpending(f) > 0) std::fflush(f);
}

int current_pid() {
    return int(::getpid());
}

std::string signal_name(int sig) {
    if (const char* abbrev = ::sigabbrev_np(sig)) return std::string("SIG") + abbrev;
    return std::to_string(sig);
}

void redirect_stdin_to_devnull() {
    int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    if (fd != 0) {
        ::dup2(fd, 0);  // dup2 clears close-on-exec on the new descriptor
        ::close(fd);
    }
}

int open_parent_sentinel(int parent_pid) {
    int fd = int(::syscall(SYS_pidfd_open, parent_pid, 0));
    if (fd < 0) return -1;
    // If the parent is still our parent now, the pidfd opened before it could
    // have been reaped, so it refers to the right process.
    if (::getppid() != parent_pid) {
        ::close(fd);
        return -1;
    }
    return fd;
}

int open_own_sentinel() {
    return int(::syscall(SYS_pidfd_open, ::getpid(), 0));
}

bool sentinel_ready(int fd, Timeout timeout) {
    return poll_readable(fd, timeout);
}

void close_handle(int fd) {
    if (fd >= 0) ::close(fd);
}

}  // namespace detail
}  // namespace mproc
