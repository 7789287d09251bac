// A start method built outside backends/, as a third party would ship one:
// it forks like the fork backend but counts its starts and marks its
// children through an environment variable, so a test can tell it was used.
// Connections, semaphores and shared memory come from mproc's POSIX backend
// helpers (<mproc/plugin/posix/posix_backend.hpp>, installed with mproc and
// exported by libmproc). Built against the installed headers only in the
// install check (tests/install/check.sh).
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <system_error>

#include <mproc/plugin/abi.hpp>
#include <mproc/plugin/backend.hpp>
#include <mproc/plugin/posix/fd_connection.hpp>

#include <mproc/plugin/posix/posix_backend.hpp>

// Its name: "thirdparty", or another for the copy the tests link into
// mproc_tests (tests/plugins/meson.build).
#ifndef MPROC_TEST_THIRD_PARTY_NAME
#define MPROC_TEST_THIRD_PARTY_NAME "thirdparty"
#endif

namespace {

// A child handle of its own (third parties do not get mproc's internal helpers).
class Child final : public mproc::plugin::ProcessHandle {
  public:
    explicit Child(pid_t pid) : pid_(pid), pidfd_(int(::syscall(SYS_pidfd_open, pid, 0))) {}
    ~Child() override { close(); }
    int pid() const override { return pid_; }
    std::optional<int> poll() override { return reap(WNOHANG); }
    std::optional<int> wait(mproc::Timeout timeout) override {
        if (!timeout) return reap(0);
        if (!mproc::plugin::poll_handle(pidfd_, timeout)) return std::nullopt;
        return reap(WNOHANG);
    }
    void terminate() override {
        if (!code_) ::kill(pid_, SIGTERM);
    }
    void kill() override {
        if (!code_) ::kill(pid_, SIGKILL);
    }
    void interrupt() override {
        if (!code_) ::kill(pid_, SIGINT);
    }
    mproc::plugin::NativeHandle sentinel() const override { return pidfd_; }
    void close() noexcept override {
        if (pidfd_ >= 0) ::close(pidfd_);
        pidfd_ = -1;
    }

  private:
    std::optional<int> reap(int flags) {
        if (code_) return code_;
        int st = 0;
        pid_t r = ::waitpid(pid_, &st, flags);
        if (r <= 0) return std::nullopt;
        code_ = WIFSIGNALED(st) ? -WTERMSIG(st) : WEXITSTATUS(st);
        return code_;
    }
    pid_t pid_;
    int pidfd_;
    std::optional<int> code_;
};

class ThirdParty final : public mproc::posix::PosixBackend {
  public:
    std::string_view name() const override { return MPROC_TEST_THIRD_PARTY_NAME; }
    std::unique_ptr<mproc::plugin::ProcessHandle> start(
        const mproc::plugin::LaunchRequest& req) override {
        pid_t pid = ::fork();
        if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
        if (pid == 0) {
            ::setenv("MPROC_TEST_THIRD_PARTY_CHILD", "1", 1);
            ::_exit(req.child_main(req.child_arg));
        }
        return std::make_unique<Child>(pid);
    }
    mproc::plugin::Capabilities capabilities() const override {
        using mproc::plugin::Capability;
        return {Capability::runs_closures,      Capability::shared_memory,
                Capability::shared_semaphores,  Capability::fd_handles,
                Capability::pollable_sentinels, Capability::handle_passing};
    }
};
}  // namespace

MPROC_PLUGIN_DEFINE(start_method, MPROC_TEST_THIRD_PARTY_NAME, ThirdParty)
