// POSIX pieces of Process: pids, signals, streams, the parent's sentinel,
// fork. Functions a fork child runs are [[gnu::hot]]: see fork_guard_linux.cpp.
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>  // on_exit
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <stdio_ext.h>
#include <cstdio>
#include <ext/stdio_sync_filebuf.h>

#include <atomic>
#include <cerrno>
#include <iostream>
#include <system_error>

#include <mproc/plugin/posix/fork.hpp>
#include <mproc/process.hpp>
#include "base/process_identity.hpp"

#include "base/poll_linux.hpp"
#include "process/process_state.hpp"

// The C++ ABI's exit list, called directly: std::atexit is linked
// statically into libmproc and would reach it through a lazily bound PLT
// entry, that is the dynamic linker in every fork child (see meson.build).
extern "C" int __cxa_atexit(void (*fn)(void*), void* arg, void* dso);
extern "C" void __cxa_finalize(void* dso);
extern "C" __attribute__((visibility("hidden"))) void* __dso_handle;

namespace mproc {

int cpu_count() {
    long n = ::sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? int(n) : 1;
}

namespace detail {

namespace {

// True if os keeps output of its own: iostreams synchronised with stdio (the
// default) write straight through. The streambuf last seen synchronised is
// remembered, so that a fork child (whose parent flushed before forking)
// only compares pointers instead of running dynamic_cast's code.
[[gnu::hot]] bool buffers_own_output(std::ostream& os, std::atomic<std::streambuf*>& synced) {
    std::streambuf* b = os.rdbuf();
    if (b == nullptr) return false;
    if (b == synced.load(std::memory_order_relaxed)) return false;
    if (dynamic_cast<__gnu_cxx::stdio_sync_filebuf<char>*>(b) == nullptr) return true;
    synced.store(b, std::memory_order_relaxed);
    return false;
}

// __fpending, inline for glibc's narrow streams.
[[gnu::hot]] bool has_pending_output(FILE* f) {
#if defined(__GLIBC__)
    if (f->_mode <= 0) return f->_IO_write_ptr > f->_IO_write_base;
#endif
    return __fpending(f) > 0;
}

}  // namespace

// Flushes only what has output pending: every page a fork child writes is
// copied, and fflush(NULL) would write to every FILE there is. As in Python,
// the standard streams are flushed, not files the program opened.
[[gnu::hot]] void flush_std_streams() {
    static std::atomic<std::streambuf*> synced[3];
    std::ostream* streams[3] = {&std::cout, &std::cerr, &std::clog};
    for (int i = 0; i < 3; ++i)
        if (buffers_own_output(*streams[i], synced[i])) streams[i]->flush();
    for (FILE* f : {stdout, stderr})
        if (has_pending_output(f)) std::fflush(f);
}

[[gnu::hot]] int current_pid() {
    return detail::this_process_id();
}

std::string signal_name(int sig) {
    if (const char* abbrev = ::sigabbrev_np(sig)) return std::string("SIG") + abbrev;
    return std::to_string(sig);
}

[[gnu::hot]] void redirect_stdin_to_devnull() {
    // On the stack: a fork child would fault in a page of constants for it.
    const char path[] = "/dev/null";
    int fd = ::open(path, O_RDONLY | O_CLOEXEC);
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

namespace {
int child_exit_code = 0;
bool child_ending = false;
int exit_status = 0;  // what std::exit(n) in the target gave, from on_exit
bool exit_status_known = false;
// Registered before the target runs: reached after the child's own
// handlers, it ends the process before any inherited one runs. glibc also
// passes the status to __cxa_atexit functions (its exit_function's
// signature), but that is not documented and a sanitizer's interceptor
// drops it: the on_exit recorder, registered just after (so run just
// before), says it.
[[gnu::hot]] void end_at_mark(void*, int status) {
    flush_std_streams();
    ::_exit(child_ending ? child_exit_code : exit_status_known ? exit_status : status);
}
void record_exit_status(int status, void*) {
    exit_status = status;
    exit_status_known = true;
}
}  // namespace

[[gnu::hot]] void mark_child_atexit() {
    __cxa_atexit(reinterpret_cast<void (*)(void*)>(reinterpret_cast<void (*)()>(&end_at_mark)),
                 nullptr, &__dso_handle);
    ::on_exit(&record_exit_status, nullptr);
}

[[noreturn]] void end_child(int code) {
    child_exit_code = code;
    child_ending = true;
    // The handlers registered with atexit (and the destructors of statics
    // made since), newest first, down to the mark; unlike exit(), no
    // thread_local destructors of a fork parent's thread.
    __cxa_finalize(nullptr);
    flush_std_streams();
    ::_exit(code);
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

namespace plugin {

[[gnu::hot]] int fork_and_run(const LaunchRequest& req) {
    pid_t pid = ::fork();
    if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
    if (pid == 0) ::_exit(req.child_main(req.child_arg));
    return pid;
}

}  // namespace plugin
}  // namespace mproc
