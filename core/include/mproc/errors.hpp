// mproc exceptions: the C++ twins of Python's multiprocessing exceptions.
//
//   try { conn.recv<int>(); } catch (const mproc::EOFError&) { /* peer closed */ }
//
// Every exception type is defined and exported by libmproc, so a plugin and
// the program catch the same types.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

namespace mproc {

/// Base of mproc's runtime errors (Python: multiprocessing.ProcessError).
class ProcessError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
    ~ProcessError() override;
};

/// A timed operation ran out of time (Python: multiprocessing.TimeoutError).
class TimeoutError : public ProcessError {
  public:
    using ProcessError::ProcessError;
    ~TimeoutError() override;
};

/// The peer failed HMAC authentication (Python: AuthenticationError).
class AuthenticationError : public ProcessError {
  public:
    using ProcessError::ProcessError;
    ~AuthenticationError() override;
};

/// A message did not fit the buffer given to recv_bytes_into; the whole
/// message is kept in message() (Python: BufferTooShort, args[0]).
class BufferTooShort : public ProcessError {
  public:
    explicit BufferTooShort(std::vector<std::byte> message);
    ~BufferTooShort() override;
    /// The complete message that did not fit.
    const std::vector<std::byte>& message() const noexcept { return message_; }

  private:
    std::vector<std::byte> message_;
};

/// End of stream: the other end of a connection is closed (Python: EOFError).
class EOFError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
    ~EOFError() override;
};

/// Misuse of an object in its current state or a bad argument, e.g. joining
/// a process that was never started or closing a running one (Python raises
/// ValueError or AssertionError for these).
class ValueError : public std::logic_error {
  public:
    using std::logic_error::logic_error;
    ~ValueError() override;
};

/// An operation on a closed object (Python: OSError "handle is closed" or
/// ValueError "process object is closed").
class ClosedError : public ValueError {
  public:
    using ValueError::ValueError;
    ~ClosedError() override;
};

/// A message could not be encoded or decoded: truncated, malformed,
/// oversized or of the wrong type.
class SerializationError : public ProcessError {
  public:
    using ProcessError::ProcessError;
    ~SerializationError() override;
};

/// A plugin (start method or serializer) could not be found or was refused.
class PluginError : public ProcessError {
  public:
    using ProcessError::ProcessError;
    ~PluginError() override;
};

/// A lock (Lock or RLock) was acquired from a holder process that died
/// holding it (beyond Python, which hangs). The acquirer now HOLDS the lock:
/// what it guards may be half-updated. Repair it, then release the lock,
/// e.g. `catch (const mproc::AbandonedLock&) { std::unique_lock g(lock,
/// std::adopt_lock); repair(); }`.
class AbandonedLock : public ProcessError {
  public:
    using ProcessError::ProcessError;
    ~AbandonedLock() override;
};

/// A Barrier was broken (aborted, reset or timed out) while or before a
/// process waited on it (Python: threading.BrokenBarrierError).
class BrokenBarrierError : public ProcessError {
  public:
    using ProcessError::ProcessError;
    ~BrokenBarrierError() override;
};

/// Queue::get found nothing in time (Python: queue.Empty).
class Empty : public ProcessError {
  public:
    using ProcessError::ProcessError;
    ~Empty() override;
};

/// Queue::put found no room in time (Python: queue.Full).
class Full : public ProcessError {
  public:
    using ProcessError::ProcessError;
    ~Full() override;
};

/// A task run by a Pool worker threw an exception of a type that does not
/// cross as itself (Python: multiprocessing.pool.RemoteTraceback's role):
/// carries the type's name, the message and the worker's name.
class RemoteError : public ProcessError {
  public:
    RemoteError(std::string type_name, std::string message, std::string worker);
    ~RemoteError() override;
    /// The exception's type as the worker saw it ("my::ParseError").
    const std::string& type_name() const noexcept { return type_name_; }
    /// Its what().
    const std::string& message() const noexcept { return message_; }
    /// The worker's process name ("ForkPoolWorker-3").
    const std::string& worker() const noexcept { return worker_; }

  private:
    std::string type_name_, message_, worker_;
};

/// The Pool worker running a task ended before it finished (killed by a
/// signal, crashed, or called exit()): the task failed (beyond Python,
/// whose Pool hangs). The pool has started a replacement.
class WorkerLostError : public ProcessError {
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
class KeyboardInterrupt : public ProcessError {
  public:
    using ProcessError::ProcessError;
    ~KeyboardInterrupt() override;
};

/// Thrown by mproc::exit(code) to end the current process's target with an
/// exit code, as Python's SystemExit; the child bootstrap catches it.
class SystemExit {
  public:
    explicit SystemExit(int code) noexcept : code_(code) {}
    /// The exit code requested.
    int code() const noexcept { return code_; }

  private:
    int code_;
};

}  // namespace mproc
