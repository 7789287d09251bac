// mproc exceptions: the C++ twins of Python's multiprocessing exceptions.
//
//   try { conn.recv<int>(); } catch (const mproc::EOFError&) { /* peer closed */ }
//
// Every exception type is defined and exported by libmproc, so a plugin and
// the program catch the same types.
#pragma once

#include <mproc/export.hpp>

#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

namespace mproc {

/// Base of mproc's runtime errors (Python: multiprocessing.ProcessError).
class MPROC_API ProcessError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
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
class MPROC_API EOFError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
    ~EOFError() override;
};

/// Misuse of an object in its current state or a bad argument, e.g. joining
/// a process that was never started or closing a running one (Python raises
/// ValueError or AssertionError for these).
class MPROC_API ValueError : public std::logic_error {
  public:
    using std::logic_error::logic_error;
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
/// oversized or of the wrong type.
class MPROC_API SerializationError : public ProcessError {
  public:
    using ProcessError::ProcessError;
    ~SerializationError() override;
};

/// A plugin (start method or serializer) could not be found or was refused.
class MPROC_API PluginError : public ProcessError {
  public:
    using ProcessError::ProcessError;
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
class MPROC_API BrokenBarrierError : public ProcessError {
  public:
    using ProcessError::ProcessError;
    ~BrokenBarrierError() override;
};

/// Queue::get found nothing in time (Python: queue.Empty).
class MPROC_API Empty : public ProcessError {
  public:
    using ProcessError::ProcessError;
    ~Empty() override;
};

/// Queue::put found no room in time (Python: queue.Full).
class MPROC_API Full : public ProcessError {
  public:
    using ProcessError::ProcessError;
    ~Full() override;
};

/// A named thing to be created already exists, e.g. a SharedMemory name
/// (Python: FileExistsError).
class MPROC_API FileExistsError : public ProcessError {
  public:
    using ProcessError::ProcessError;
    ~FileExistsError() override;
};

/// A named thing to be opened does not exist, e.g. a SharedMemory name
/// (Python: FileNotFoundError).
class MPROC_API FileNotFoundError : public ProcessError {
  public:
    using ProcessError::ProcessError;
    ~FileNotFoundError() override;
};

/// Thrown by mproc::exit(code) to end the current process's target with an
/// exit code, as Python's SystemExit; the child bootstrap catches it.
class MPROC_API SystemExit {
  public:
    explicit SystemExit(int code) noexcept : code_(code) {}
    /// The exit code requested.
    int code() const noexcept { return code_; }

  private:
    int code_;
};

}  // namespace mproc
