// A child process seen through a pidfd: shared by the POSIX start methods
// whose children are direct children of this process (fork, spawn).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>

#include <mproc/plugin/backend.hpp>

namespace mproc::posix {

/// Python's exit code for a waitpid status: the exit status, or -signal.
int exitcode_from_status(int status);

/// A direct child, reaped with waitpid, waited on through a pidfd.
class PosixProcess final : public plugin::ProcessHandle {
  public:
    /// Takes a freshly started child; opens its pidfd.
    explicit PosixProcess(pid_t pid);
    /// A handle to be attached to a child about to be started (allocating
    /// before fork() spares the parent a copied page after it).
    PosixProcess() = default;
    /// Takes the child just started; opens its pidfd.
    void attach(pid_t pid);
    ~PosixProcess() override;

    int pid() const override { return pid_; }
    std::optional<int> poll() override;
    std::optional<int> wait(Timeout timeout) override;
    void terminate() override;
    void kill() override;
    void interrupt() override;
    plugin::NativeHandle sentinel() const override { return pidfd_; }
    void close() noexcept override;

  private:
    void signal(int sig);

    pid_t pid_ = -1;
    int pidfd_ = -1;
    std::mutex reap_mutex_;
    std::atomic<bool> done_{false};
    int exitcode_ = 0;
};

}  // namespace mproc::posix
