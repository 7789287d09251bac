// The start-method backend interface: what a plugin implements to start
// processes and make connections for a Context. Core builds everything else
// (Process, Pipe framing, wait, ...) on top of it.
//
//   class MyBackend : public mproc::plugin::ContextBackend { ... };
//   void* make_backend() { static MyBackend b; return &b; }
//
// Do not reorder virtual functions; new ones are appended and abi_version is
// raised when a layout changes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <mproc/timeout.hpp>

namespace mproc::plugin {

/// A native OS handle: a file descriptor on POSIX, a HANDLE on Windows.
using NativeHandle = std::intptr_t;

/// One end of a byte-stream connection. Framing, serialisation and the
/// Python-compatible message format are done by core; an implementation only
/// moves bytes. It may read ahead (one read() then serves many small
/// messages); readiness must then count what was read ahead (poll() and
/// buffered()). Not thread-safe (as Python's Connection).
class ConnectionImpl {
  public:
    virtual ~ConnectionImpl();
    /// Writes head then body as one unit (one syscall where possible);
    /// throws EOFError-like BrokenPipe (ProcessError) if the peer is gone.
    virtual void write_all(std::span<const std::byte> head, std::span<const std::byte> body) = 0;
    /// Reads exactly out.size() bytes. Returns false on end of stream before
    /// the first byte; throws EOFError if the stream ends part-way.
    virtual bool read_exact(std::span<std::byte> out) = 0;
    /// True when data (or end of stream) is ready to read within timeout.
    virtual bool poll(Timeout timeout) = 0;
    /// The handle to wait on for readability (Python's fileno()).
    virtual NativeHandle wait_handle() const = 0;
    /// Every native handle this end owns (what must cross into a child).
    virtual std::vector<NativeHandle> native_handles() const = 0;
    /// Releases the handles; idempotent.
    virtual void close() noexcept = 0;
    /// Bytes already read from the OS but not yet consumed (read-ahead).
    virtual std::size_t buffered() const = 0;
    /// A copy of those bytes (they travel with the end into an exec child).
    virtual std::vector<std::byte> peek_buffered() const = 0;
    /// Makes data the first bytes to read (an end received with read-ahead).
    virtual void prime(std::span<const std::byte> data) = 0;
    /// Turns read-ahead on (the default) or off; off where several processes
    /// take turns reading one end (a queue's shared reader).
    virtual void set_read_ahead(bool on) = 0;
};

/// A block of memory shared between processes (memfd on Linux, a file
/// mapping on Windows). Mapped for the object's life; the memory itself is
/// released by the OS when the last process unmaps it and closes its handle.
class SharedMemoryImpl {
  public:
    virtual ~SharedMemoryImpl();
    /// The mapped bytes (zero-filled when made).
    virtual std::span<std::byte> data() const = 0;
    /// The handle that crosses into a child (see ContextBackend::attach_shared_memory).
    virtual NativeHandle native_handle() const = 0;
};

/// How a semaphore behaves (Python's SemLock kinds, plus a plain mutex).
enum class SemaphoreKind : std::uint32_t {
    counting = 0,         ///< Semaphore / BoundedSemaphore: no owner
    mutex = 1,            ///< Lock: one holder, which anyone may release
    recursive_mutex = 2,  ///< RLock: one holding thread, re-entrant
};

/// What an acquire came to.
enum class AcquireStatus : std::uint32_t {
    timed_out = 0,  ///< not acquired within the timeout
    acquired = 1,   ///< acquired
    abandoned = 2,  ///< acquired from a holder process that died holding it
};

/// A semaphore whose state lives in shared memory given by core (see
/// ContextBackend::make_semaphore). Safe from any thread of any process that
/// maps the state. For the mutex kinds the holder is a thread; a holder
/// *process* that dies holding it is detected by the next acquirer, which
/// gets AcquireStatus::abandoned.
class SemaphoreImpl {
  public:
    virtual ~SemaphoreImpl();
    /// Takes one unit (the lock); a timeout of zero only tries, nullopt
    /// waits for ever. A recursive mutex held by the caller is taken again.
    virtual AcquireStatus acquire(Timeout timeout) = 0;
    /// Gives one unit back. Throws ValueError when that would exceed the
    /// maximum (a lock released while unlocked), or for a recursive mutex
    /// the calling thread does not hold.
    virtual void release() = 0;
    /// The current value (mutex kinds: 1 when free, 0 when held).
    virtual int value() const = 0;
    /// Mutex kinds: the calling thread holds it. Counting: false.
    virtual bool is_mine() const = 0;
    /// How many times the calling thread holds it (recursive: depth; mutex:
    /// 0 or 1; counting: 0).
    virtual int count() const = 0;
    /// Its kind and maximum value, as made.
    virtual SemaphoreKind kind() const = 0;
    virtual int max_value() const = 0;
};

/// A started child process, as seen by its parent.
class ProcessHandle {
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
    /// A handle that becomes ready when the child ends (pidfd on Linux).
    virtual NativeHandle sentinel() const = 0;
    /// Releases the OS resources; the child must have been reaped.
    virtual void close() noexcept = 0;
};

/// Everything a backend needs to start one child. Versioned by its size:
/// new fields are appended, old backends read only what they know.
struct LaunchRequest {
    std::uint32_t struct_size = sizeof(LaunchRequest);
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

/// A start method: starts processes and makes connections.
class ContextBackend {
  public:
    virtual ~ContextBackend();
    /// The start method's name ("fork"), equal to the plugin's name.
    virtual std::string_view name() const = 0;
    /// Starts a child; throws std::system_error or ProcessError on failure.
    virtual std::unique_ptr<ProcessHandle> start(const LaunchRequest& request) = 0;
    /// A connected pair (duplex: both ends read and write; else the first
    /// end only reads and the second only writes).
    virtual std::pair<std::unique_ptr<ConnectionImpl>, std::unique_ptr<ConnectionImpl>> make_pipe(
        bool duplex) = 0;
    /// True if any callable (lambdas with captures, std::function) can be
    /// a target: the child is a copy of the parent (fork).
    virtual bool runs_closures() const = 0;
    /// Runs a helper mode of this backend in a program started for it (the
    /// forkserver's server: argv[1] is "--mproc-helper", argv[2] the backend
    /// name); returns the exit code. The default refuses.
    virtual int run_helper(int argc, char** argv);

    /// New zero-filled shared memory of size bytes; its handle is
    /// close-on-exec and crosses into children as an out-of-band handle.
    virtual std::unique_ptr<SharedMemoryImpl> make_shared_memory(std::size_t size) = 0;
    /// Maps shared memory received from another process; takes ownership of
    /// handle. Throws ProcessError if it is not shared memory of that size.
    virtual std::unique_ptr<SharedMemoryImpl> attach_shared_memory(NativeHandle handle,
                                                                   std::size_t size) = 0;
    /// Bytes of shared memory one semaphore's state needs (at most 256).
    virtual std::size_t semaphore_state_size() const = 0;
    /// Makes a semaphore in state (semaphore_state_size() zeroed bytes of
    /// shared memory, 8-byte aligned) with a value and maximum value.
    virtual std::unique_ptr<SemaphoreImpl> make_semaphore(std::span<std::byte> state,
                                                          SemaphoreKind kind, int value,
                                                          int max_value) = 0;
    /// Uses a semaphore another process made in state; throws ProcessError
    /// if state does not hold one.
    virtual std::unique_ptr<SemaphoreImpl> attach_semaphore(std::span<std::byte> state) = 0;
};

/// argv[1] of a program started as an exec child: argv[2] is the fd of the
/// bootstrap message, argv[3] the number of handles, at the fds after it.
inline constexpr const char* exec_child_flag = "--mproc-exec-child";
/// argv[1] of a program started as a backend helper (see run_helper).
inline constexpr const char* helper_flag = "--mproc-helper";
/// Set in the environment of every program started as an exec child or
/// helper: an mproc call before freeze_support() then fails clearly instead
/// of running main() again (a fork bomb).
inline constexpr const char* exec_child_env = "MPROC_EXEC_CHILD";

/// In a new program or a forkserver's child: becomes the child described by
/// a bootstrap message and runs it; returns the exit code. Takes ownership
/// of the handles.
int run_exec_child(std::span<const std::byte> payload, std::span<const NativeHandle> handles);

/// Registers a function core calls when this process ends normally (the main
/// program at exit, every child after its target), after its children were
/// joined. A fork child inherits the registrations: check who you are.
void at_process_exit(void (*hook)());

/// The MPROC_PLUGIN_PATH an exec child needs to find the plugins this
/// program found: directories added in code, then this program's own.
std::string child_plugin_path();

/// The program to start for an exec child: set_executable's, else this one.
std::string child_executable();

}  // namespace mproc::plugin
