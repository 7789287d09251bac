// The state behind a Process object, shared with the children registry
// (internal to core).
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <mproc/plugin/backend.hpp>
#include <mproc/process.hpp>

namespace mproc::detail {

struct ProcessState {
    enum class Kind { child, main, parent };
    Kind kind = Kind::child;
    std::string name;        // empty until given or fixed at start()
    bool daemon = false;
    std::vector<int> identity;  // the N1:N2:... numbering
    std::vector<std::byte> authkey;
    int parent_pid = 0;  // the process that created this object
    plugin::ContextBackend* backend = nullptr;
    std::unique_ptr<plugin::ProcessHandle> handle;  // set by start()
    bool closed = false;
    int sentinel_fd = -1;  // parent kind only: lazily opened pidfd of the parent

    ~ProcessState();
};

/// The process whose code is running here (the started Process object in a
/// fork child), or nullptr in the main process.
extern Process* current;

/// Runs a child's life after the start method set it up: logging, run(),
/// exception reporting, exit handling. Returns the exit code.
int bootstrap_run(Process& self);
/// Makes the calling (newly forked) process the child `self`.
void become_child(Process& self, std::string parent_name, int parent_pid);

/// Terminates daemonic children and joins the others (Python's
/// util._exit_function); run at normal exit and at the end of each child.
void exit_function();

/// Registers the exit-time join of children (once).
void ensure_exit_handler();
/// Flushes C stdio and C++ iostreams (before fork, and at child exit).
void flush_std_streams();
/// getpid().
int current_pid();
/// "SIGTERM" for 15; the number as text if unknown.
std::string signal_name(int sig);
/// Replaces stdin with /dev/null in a child, as Python does.
void redirect_stdin_to_devnull();
/// A pidfd for the parent process if it is still our parent, else -1.
int open_parent_sentinel(int parent_pid);
/// True if fd (a pidfd) is ready within timeout.
bool sentinel_ready(int fd, Timeout timeout);
/// Closes a descriptor.
void close_handle(int fd);
/// 32 random bytes from OpenSSL.
std::vector<std::byte> random_authkey();

}  // namespace mproc::detail
