// Process: a child process running a target (Python: multiprocessing.Process).
//
//   void f(std::string name) { fmt::print("hello {}\n", name); }
//
//   int main(int argc, char** argv) {
//       mproc::freeze_support(argc, argv);
//       mproc::Process p(f, "bob");   // stored as a std::string
//       p.start();
//       p.join();
//   }
//
// Or subclass and override run():
//
//   struct Worker : mproc::Process {
//       void run() override { fmt::print("In {}\n", name()); }   // "In Worker-1"
//   };
//
// Semantics follow Python's: names "Process-N1:N2:..." (the class name for
// subclasses), daemon inherited from the creating process, daemonic
// processes may not create children, exit codes are the status or -signal,
// an exception escaping the target prints "Process NAME:" and the
// exception's type and message on stderr and gives exit code 1, and
// mproc::exit(n) ends the target with code n.
//
// Lifetime policy: destroying a Process object whose child still runs does
// not stop the child. It stays in active_children(); at normal program exit
// daemonic children are terminated and the others joined, as in Python.
// Process objects may be moved but not copied.
//
// Gotcha (fork start method): the child is a copy of the parent made by
// fork(). Only the forking thread exists in the child; a lock held by another
// thread at the time of fork stays locked there. mproc's own locks are
// fork-safe; yours may not be. Prefer starting processes before threads.
#pragma once

#include <mproc/export.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <mproc/callable.hpp>
#include <mproc/errors.hpp>
#include <mproc/timeout.hpp>

namespace mproc {

namespace plugin {
class ContextBackend;
}
class Context;

/// Options of a Process (Python's keyword arguments).
struct MPROC_API ProcessOptions {
    /// The name; empty means the default "ClassName-N1:N2".
    std::string name = {};
    /// Daemon flag; unset means inherited from the creating process.
    std::optional<bool> daemon = std::nullopt;
};

/// A handle that becomes ready when a process ends (Python: Process.sentinel).
struct MPROC_API Sentinel {
    /// The native handle (a pidfd on Linux).
    std::intptr_t handle = -1;
    /// Equal handles.
    friend bool operator==(const Sentinel&, const Sentinel&) = default;
};

namespace detail {

struct ProcessState;
struct ProcessAccess;

}  // namespace detail

/// A process: start() runs run() (by default the target) in a child.
class MPROC_API Process {
  public:
    /// A process with no target (subclasses override run()).
    Process();
    /// A process with no target and the given options.
    explicit Process(ProcessOptions options);

    /// A process that will call f(args...) in the child. Arguments are
    /// copied (or moved) into the Process object, as Python binds them when
    /// the Process is made. For a plain function (or a lambda without
    /// captures) each argument is stored as the type of its parameter when
    /// it converts to it and that type has a codec, so what crosses exec is
    /// what f takes: Process(f, "bob") with f(std::string) works under every
    /// start method.
    template <class F, class... A>
    requires detail::BindableTarget<F, A...>
    explicit Process(F&& f, A&&... args)
        : Process(ProcessOptions{}, std::forward<F>(f), std::forward<A>(args)...) {}

    /// The same, with options first.
    template <class F, class... A>
    requires detail::BindableTarget<F, A...> Process(ProcessOptions options, F&& f, A&&... args)
        : Process(std::move(options)) {
        set_target(std::make_unique<detail::bound_target_t<F, A...>>(std::forward<F>(f),
                                                                     std::forward<A>(args)...));
    }

    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;
    /// Moves the process (started or not) into a new object.
    Process(Process&& other) noexcept;
    /// Moves the process; this object must not hold a started process.
    Process& operator=(Process&& other) noexcept;
    /// See the lifetime policy above.
    virtual ~Process();

    /// The child's work: calls the target. Override in subclasses.
    virtual void run();

    /// Starts the child; at most once per Process object.
    void start();
    /// Waits for the child to end, up to timeout (forever by default).
    /// May be called many times; returns early without error on timeout.
    void join(Timeout timeout = std::nullopt);
    /// True from start() until the child has ended.
    bool is_alive();
    /// Sends SIGTERM (Windows: TerminateProcess). Children of the child are
    /// not terminated; they become orphans.
    void terminate();
    /// Sends SIGKILL.
    void kill();
    /// Sends SIGINT (Python 3.14's interrupt()). A C++ child has no
    /// KeyboardInterrupt: unless it handles SIGINT it ends with exit code
    /// -SIGINT (a Python child prints the KeyboardInterrupt and exits with 1).
    void interrupt();
    /// Releases the process's resources; it must have ended. Most calls
    /// on a closed Process throw ClosedError.
    void close();

    /// The name ("Process-1", "Worker-2:1", or the one given).
    std::string name() const;
    /// Sets the name.
    void set_name(std::string name);
    /// The daemon flag.
    bool daemon() const;
    /// Sets the daemon flag; only before start().
    void set_daemon(bool daemon);
    /// The child's process id; nullopt before start(). ClosedError after
    /// close(), as Python's.
    std::optional<int> pid() const;
    /// Same as pid() (Python's ident).
    std::optional<int> ident() const { return pid(); }
    /// The exit code: nullopt while running or before start, the exit status,
    /// or -N if the child was killed by signal N.
    std::optional<int> exitcode();
    /// The authentication key (32 random bytes in the main process, inherited).
    const std::vector<std::byte>& authkey() const;
    /// Sets the authentication key.
    void set_authkey(std::vector<std::byte> key);
    /// A handle ready when the child ends (for mproc::wait); after start().
    Sentinel sentinel() const;
    /// Python's repr: <Process name='Process-1' pid=42 parent=41 started>.
    std::string repr() const;

    /// Binds this process to a context (start method); before start().
    void set_context(const Context& ctx);

    /// Prints repr().
    friend std::ostream& operator<<(std::ostream& os, const Process& p) { return os << p.repr(); }

  protected:
    /// Sets the target (used by the constructors).
    void set_target(std::unique_ptr<detail::Target> target);

  private:
    friend struct detail::ProcessState;
    friend struct detail::ProcessAccess;
    friend class ProcessRegistry;
    friend Process& current_process();
    friend Process* parent_process();
    struct MainTag {};
    struct ParentTag {};
    struct DetachedTag {};
    Process(MainTag);
    Process(ParentTag, std::string name, int pid);
    Process(DetachedTag, std::shared_ptr<detail::ProcessState> state);

    std::unique_ptr<detail::Target> target_;
    std::shared_ptr<detail::ProcessState> state_;
};

/// The Process object of the calling process ("MainProcess" in the main one).
MPROC_API Process& current_process();
/// The parent of the calling process, or nullptr in the main process.
MPROC_API Process* parent_process();
/// Children of the calling process that are still running; reaps the others.
MPROC_API std::vector<Process*> active_children();
/// Number of CPUs in the system.
MPROC_API int cpu_count();
/// What mproc::exit takes, as Python's sys.exit(arg): an exit code, or a
/// message (written to stderr; the exit code is then 1).
struct MPROC_API ExitStatus {
    /// An exit code.
    ExitStatus(int code) noexcept : code(code) {}  // NOLINT: implicit, as sys.exit(3)
    /// A message; exit code 1.
    ExitStatus(std::string_view text) : code(1), message(std::string(text)) {}   // NOLINT
    ExitStatus(const char* text) : ExitStatus(std::string_view(text)) {}         // NOLINT
    ExitStatus(const std::string& text) : ExitStatus(std::string_view(text)) {}  // NOLINT
    int code;
    std::optional<std::string> message;
};

/// Ends the current process's target (Python's sys.exit inside a child):
/// mproc::exit(3) with exit code 3; mproc::exit("text") writes the text and
/// a newline to stderr and exits with 1. In the main process it does the
/// same through std::exit. One function (not overloads), so that it can be
/// a target: ctx.Process(mproc::exit, 3).
[[noreturn]] MPROC_API void exit(ExitStatus status);

/// Call first thing in main(). Under the spawn and forkserver start methods
/// a child starts as a new copy of the program; there freeze_support runs
/// the child and never returns. In the main program it returns at once.
MPROC_API void freeze_support(int argc, char** argv);

}  // namespace mproc

/// fmt::print("{}", process) prints repr().
template <>
struct fmt::formatter<mproc::Process> : fmt::formatter<std::string_view> {
    template <class Ctx>
    auto format(const mproc::Process& p, Ctx& ctx) const {
        return fmt::formatter<std::string_view>::format(p.repr(), ctx);
    }
};
