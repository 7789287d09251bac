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

#include "base/record_pool.hpp"

namespace mproc::detail {

/// The N1:N2:... numbering of a process.
using Identity = std::vector<int, RecordAllocator<int>>;

/// A key shared by the records that use it.
std::shared_ptr<const std::vector<std::byte>> shared_authkey(std::vector<std::byte> key);

struct ProcessState {
    enum class Kind { child, main, parent };
    Kind kind = Kind::child;
    std::string name;  // empty until given or fixed at start()
    bool daemon = false;
    Identity identity;  // the N1:N2:... numbering
    // Shared with the processes made from this one (never modified: a new
    // key replaces it), so that making a process copies no key.
    std::shared_ptr<const std::vector<std::byte>> authkey;
    int parent_pid = 0;  // the process that created this object
    plugin::ContextBackend* backend = nullptr;
    std::unique_ptr<plugin::ProcessHandle> handle;  // set by start()
    bool closed = false;
    bool concrete = false;   // made by a context (Python: ctx.Process is SpawnProcess...)
    std::string exec_class;  // an exec child's own record: its class as the parent named it
    int sentinel_fd = -1;    // parent kind only: lazily opened pidfd of the parent

    // ProcessRegistry's links (under its mutex): the registry this started
    // child is listed in (nullptr: none), the Process object that owns it
    // there, and its neighbours in the list. Intrusive: starting a process
    // allocates nothing for its bookkeeping.
    const void* registry = nullptr;
    Process* owner = nullptr;
    ProcessState* prev = nullptr;
    ProcessState* next = nullptr;

    ~ProcessState();
};

/// Core's way into Process's private parts.
struct ProcessAccess {
    static Process* make_parent(std::string name, int pid);
    static Process* make_with_state(std::shared_ptr<ProcessState> state);
    static const Identity& identity(const Process& p);
    static ProcessState* state(Process& p) { return p.state_.get(); }
    static void set_target(Process& p, std::unique_ptr<Target> t) { p.set_target(std::move(t)); }
};

/// The class name Python gives p ("Process", "SpawnProcess", a subclass's).
std::string process_class(const Process& p, const ProcessState& s);

/// The process whose code is running here (the started Process object in a
/// fork child), or nullptr in the main process.
extern Process* current;
/// In a fork child started by a concrete context (ctx.Process): its start
/// method, which becomes the child's default on first use (then nullptr).
extern const plugin::ContextBackend* inherited_start_method;

/// Runs a child's life after the start method set it up: logging, run(),
/// exception reporting, exit handling; then ends the process (end_child).
[[noreturn]] void bootstrap_run(Process& self);
/// Marks the point in the std::atexit list after which handlers belong to
/// this child (called before its target runs).
void mark_child_atexit();
/// Ends a child that returns normally: runs the std::atexit handlers it
/// registered since mark_child_atexit (Python 3.13 runs a child's atexit
/// handlers; the ones inherited from a fork parent never run), then _exits.
[[noreturn]] void end_child(int code);
/// Makes the calling (newly forked) process the child `self`; parent_name
/// must live as long as the child (it is viewed, not copied).
void become_child(Process& self, std::string_view parent_name, int parent_pid);

/// Makes the calling new program (spawn, forkserver) the child `self`; the
/// parent sentinel is a pidfd of the parent passed by it (or -1).
void become_exec_child(Process& self, std::string parent_name, int parent_pid, int parent_sentinel);
/// A new Process object for an exec child (leaked: it lives until exit).
Process* make_exec_child(std::string name, std::vector<int> identity, bool daemon,
                         std::vector<std::byte> authkey, std::unique_ptr<Target> target);
/// A pidfd of this process to give a child (-1 if unsupported).
int open_own_sentinel();

/// Terminates daemonic children and joins the others (Python's
/// util._exit_function); run at normal exit and at the end of each child.
void exit_function();

/// Functions run at the end of exit_function (see plugin::at_process_exit).
std::vector<void (*)()>& exit_hooks();
/// Registers the exit-time join of children (once).
void ensure_exit_handler();
/// Flushes C stdio and C++ iostreams (before fork, and at child exit).
void flush_std_streams();
/// getpid(), cached (detail::this_process_id).
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
/// 32 random bytes (getrandom, as Python's os.urandom).
std::vector<std::byte> random_authkey();

}  // namespace mproc::detail
