// The spawn start method: the child is a fresh copy of the program
// (/proc/self/exe, or set_executable's) started with clone + execve. It gets
// only the descriptors it needs: the bootstrap message on fd 3 and the
// handles after it; freeze_support() in its main() runs the child.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <system_error>

#include <mproc/errors.hpp>
#include <mproc/plugin/abi.hpp>
#include <mproc/plugin/backend.hpp>
#include <mproc/plugin/posix/fd_connection.hpp>

#include <mproc/plugin/posix/posix_backend.hpp>

#include "exec_launch.hpp"
#include "posix_process.hpp"

namespace {

class SpawnBackend final : public mproc::posix::PosixBackend {
  public:
    explicit SpawnBackend(const mproc::plugin::Host& host) : host_(host) {}
    std::string_view name() const override { return "spawn"; }

    std::unique_ptr<mproc::plugin::ProcessHandle> start(
        const mproc::plugin::LaunchRequest& req) override {
        int p[2];
        if (::pipe2(p, O_CLOEXEC) != 0)
            throw std::system_error(errno, std::generic_category(), "pipe2");
        std::vector<int> pass{p[0]};
        for (auto h : req.handles) pass.push_back(int(h));
        pid_t pid;
        try {
            pid = mproc::posix::spawn_program(
                host_, {mproc::plugin::exec_child_flag, "3", std::to_string(req.handles.size())},
                pass);
        } catch (...) {
            ::close(p[0]);
            ::close(p[1]);
            throw;
        }
        ::close(p[0]);
        auto child = std::make_unique<mproc::posix::PosixProcess>(pid);
        // Written after the start: a large message would fill the pipe
        // before the child could read it. A child that died early makes
        // this fail with EPIPE; its exit code tells the rest.
        try {
            mproc::posix::write_all(p[1], req.payload);
        } catch (const std::system_error&) {
        }
        ::close(p[1]);
        return child;
    }

    mproc::plugin::Capabilities capabilities() const override {
        return mproc::plugin::posix_capabilities;
    }

  private:
    const mproc::plugin::Host& host_;
};

}  // namespace

MPROC_PLUGIN_DEFINE(start_method, "spawn", SpawnBackend)
