// mproc exceptions: the C++ twins of Python's multiprocessing exceptions.
//
//   try { conn.recv<int>(); } catch (const mproc::EOFError&) { /* peer closed */ }
//   try { run(); } catch (const mproc::Error& e) { /* anything mproc threw */ }
//
// The hierarchy follows Python's, under one root mproc::Error (Python's
// Exception, as far as mproc raises it):
//
//   Error                       (std::runtime_error)
//   +-- ProcessError            multiprocessing.ProcessError
//   |   +-- TimeoutError        multiprocessing.TimeoutError
//   |   +-- AuthenticationError multiprocessing.AuthenticationError
//   |   +-- BufferTooShort      multiprocessing.BufferTooShort
//   |   +-- AbandonedLock       (no twin: Python hangs)
//   +-- EOFError                EOFError (beside ProcessError, as in Python)
//   +-- ValueError              ValueError
//   |   +-- ClosedError         ValueError/OSError "... is closed"
//   |   +-- PluginError         ValueError "cannot find context for ..."
//   +-- SerializationError      pickle.PicklingError/UnpicklingError
//   +-- BrokenBarrierError      threading.BrokenBarrierError (a RuntimeError)
//   +-- Empty                   queue.Empty
//   +-- Full                    queue.Full
//   +-- ShutDown                queue.ShutDown (Python 3.13)
//
// So `catch (const mproc::ProcessError&)` catches what Python's `except
// ProcessError` would, and not an EOFError, Empty or Full. mproc also throws
// std::system_error (Python's OSError) and std::out_of_range (IndexError).
// SystemExit (mproc::exit) is not an exception class, as Python's is not an
// Exception.
//
// Every exception type is defined and exported by libmproc, so a plugin and
// the program catch the same types.
#pragma once

#include <mproc/export.hpp>

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace mproc {

/// The root of every exception mproc defines (Python: Exception).
class MPROC_API Error : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
    ~Error() override;
};

/// Errors of processes and their communication (Python:
/// multiprocessing.ProcessError).
class MPROC_API ProcessError : public Error {
  public:
    using Error::Error;
    ~ProcessError() override;
};

/// A timed operation ran out of time (Python: multiprocessing.TimeoutError).
class MPROC_API TimeoutError : public ProcessError {
  public:
    using ProcessError::ProcessError;
    ~TimeoutError() override;
};

/// The peer failed HMAC authentication (Python: AuthenticationError).
class MPROC_API AuthenticationError : public ProcessError {
  public:
    using ProcessError::ProcessError;
    ~AuthenticationError() override;
};

/// A message did not fit the buffer given to recv_bytes_into; the whole
/// message is kept in message() (Python: BufferTooShort, args[0]).
class MPROC_API BufferTooShort : public ProcessError {
  public:
    explicit BufferTooShort(std::vector<std::byte> message);
    ~BufferTooShort() override;
    /// The complete message that did not fit.
    const std::vector<std::byte>& message() const noexcept { return message_; }

  private:
    std::vector<std::byte> message_;
};

/// End of stream: the other end of a connection is closed (Python: EOFError).
class MPROC_API EOFError : public Error {
  public:
    using Error::Error;
    ~EOFError() override;
};

/// Misuse of an object in its current state or a bad argument, e.g. joining
/// a process that was never started or closing a running one (Python raises
/// ValueError or AssertionError for these).
class MPROC_API ValueError : public Error {
  public:
    using Error::Error;
    ~ValueError() override;
};

/// An operation on a closed object (Python: OSError "handle is closed" or
/// ValueError "process object is closed").
class MPROC_API ClosedError : public ValueError {
  public:
    using ValueError::ValueError;
    ~ClosedError() override;
};

/// A message could not be encoded or decoded: truncated, malformed,
/// oversized or of the wrong type (Python: pickle's PicklingError and
/// UnpicklingError).
class MPROC_API SerializationError : public Error {
  public:
    using Error::Error;
    ~SerializationError() override;
};

/// A plugin (start method or serializer) could not be found or was refused
/// (Python: ValueError "cannot find context for 'bogus'").
class MPROC_API PluginError : public ValueError {
  public:
    using ValueError::ValueError;
    ~PluginError() override;
};

/// A lock (Lock or RLock) was acquired from a holder process that died
/// holding it (beyond Python, which hangs). The acquirer now HOLDS the lock:
/// what it guards may be half-updated. Repair it, then release the lock,
/// e.g. `catch (const mproc::AbandonedLock&) { std::unique_lock g(lock,
/// std::adopt_lock); repair(); }`.
class MPROC_API AbandonedLock : public ProcessError {
  public:
    using ProcessError::ProcessError;
    ~AbandonedLock() override;
};

/// A Barrier was broken (aborted, reset or timed out) while or before a
/// process waited on it (Python: threading.BrokenBarrierError).
class MPROC_API BrokenBarrierError : public Error {
  public:
    using Error::Error;
    ~BrokenBarrierError() override;
};

/// Queue::get found nothing in time (Python: queue.Empty).
class MPROC_API Empty : public Error {
  public:
    using Error::Error;
    ~Empty() override;
};

/// Queue::put found no room in time (Python: queue.Full).
class MPROC_API Full : public Error {
  public:
    using Error::Error;
    ~Full() override;
};

/// A named thing to be created already exists, e.g. a SharedMemory name
/// (Python: FileExistsError).
class MPROC_API FileExistsError : public Error {
  public:
    using Error::Error;
    ~FileExistsError() override;
};

/// A named thing to be opened does not exist, e.g. a SharedMemory name
/// (Python: FileNotFoundError).
class MPROC_API FileNotFoundError : public Error {
  public:
    using Error::Error;
    ~FileNotFoundError() override;
};

/// A put on a queue that was shut down, or a get on one that was shut down
/// and is empty (or was shut down immediately) (Python 3.13: queue.ShutDown).
class MPROC_API ShutDown : public Error {
  public:
    using Error::Error;
    ~ShutDown() override;
};

/// A task run by a Pool worker, or a method run by a manager's server, threw
/// an exception of a type that does not cross as itself (Python:
/// multiprocessing.managers.RemoteError, pool.RemoteTraceback's role):
/// carries the type's name, the message and, for a Pool, the worker's name.
class MPROC_API RemoteError : public ProcessError {
  public:
    /// what() is "type_name: message", then " (in worker)" if worker is set.
    RemoteError(std::string type_name, std::string message, std::string worker = {});
    ~RemoteError() override;
    /// The exception's type as the worker saw it ("my::ParseError").
    const std::string& type_name() const noexcept { return type_name_; }
    /// Its what().
    const std::string& message() const noexcept { return message_; }
    /// The Pool worker's process name ("ForkPoolWorker-3"), or empty.
    const std::string& worker() const noexcept { return worker_; }

  private:
    std::string type_name_, message_, worker_;
};

/// The Pool worker running a task ended before it finished (killed by a
/// signal, crashed, or called exit()): the task failed (beyond Python,
/// whose Pool hangs). The pool has started a replacement.
class MPROC_API WorkerLostError : public ProcessError {
  public:
    WorkerLostError(int pid, std::string worker, std::string how);
    ~WorkerLostError() override;
    /// The worker's pid.
    int pid() const noexcept { return pid_; }
    /// The worker's name.
    const std::string& worker() const noexcept { return worker_; }
    /// How it ended: "signal 9 (SIGKILL)", "exit code 3".
    const std::string& how() const noexcept { return how_; }

  private:
    int pid_;
    std::string worker_, how_;
};

/// Thrown by a blocking Pool call interrupted by SIGINT (Python:
/// KeyboardInterrupt); the pool was terminated.
class MPROC_API KeyboardInterrupt : public ProcessError {
  public:
    using ProcessError::ProcessError;
    ~KeyboardInterrupt() override;
};

/// Thrown by mproc::exit(code) to end the current process's target with an
/// exit code, as Python's SystemExit; the child bootstrap catches it.
class MPROC_API SystemExit {
  public:
    explicit SystemExit(int code) noexcept : code_(code) {}
    /// Python's SystemExit("text"): exit code 1, the text written to stderr.
    explicit SystemExit(std::string message) : code_(1), message_(std::move(message)) {}
    /// The exit code requested.
    int code() const noexcept { return code_; }
    /// The message to write to stderr, if one was given.
    const std::optional<std::string>& message() const noexcept { return message_; }

  private:
    int code_;
    std::optional<std::string> message_;
};

}  // namespace mproc
