// A started child as its start method sees it, and what the core asks a
// start method to start (part of the plugin ABI, see backend.hpp).
#pragma once

#include <mproc/export.hpp>

#include <cstddef>
#include <optional>
#include <span>

#include <mproc/plugin/host.hpp>
#include <mproc/timeout.hpp>

namespace mproc::plugin {

/// A started child process, as seen by its parent.
class MPROC_API ProcessHandle {
  public:
    virtual ~ProcessHandle();
    /// Handles come from libmproc's pool of process records (the heap for
    /// large ones): a fork parent that starts and joins a process then
    /// writes one page besides its stack (see core/src/base/record_pool.hpp).
    static void* operator new(std::size_t size);
    static void operator delete(void* p);
    /// The child's process id.
    virtual int pid() const = 0;
    /// The exit code if the child has ended (reaping it), else nullopt.
    /// Exit codes are Python's: the status, or -signal when killed.
    virtual std::optional<int> poll() = 0;
    /// Waits up to timeout for the child to end; returns poll().
    virtual std::optional<int> wait(Timeout timeout) = 0;
    /// Asks the child to stop (SIGTERM / TerminateProcess).
    virtual void terminate() = 0;
    /// Stops the child at once (SIGKILL / TerminateProcess).
    virtual void kill() = 0;
    /// Interrupts the child (SIGINT; Python 3.14's Process.interrupt; on
    /// Windows a start method may map it to CTRL_C_EVENT or refuse). Called
    /// only while poll() says the child runs.
    virtual void interrupt() = 0;
    /// A handle that becomes ready when the child ends (pidfd on Linux).
    virtual NativeHandle sentinel() const = 0;
    /// Releases the OS resources; the child must have been reaped.
    virtual void close() noexcept = 0;
};

/// Everything a backend needs to start one child.
struct MPROC_API LaunchRequest {
    /// For backends that can run code in a copy of the parent (fork): the
    /// child's whole life. It returns the exit code; the backend then calls
    /// _exit with it. Never nullptr.
    int (*child_main)(void* arg) = nullptr;
    /// Argument for child_main.
    void* child_arg = nullptr;
    /// For exec-based backends: the encoded bootstrap message the new
    /// program reads on start (empty where the target cannot cross exec).
    std::span<const std::byte> payload;
    /// Handles the child needs; their slots are the indexes in this list.
    std::span<const NativeHandle> handles;
};

}  // namespace mproc::plugin
