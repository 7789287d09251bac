// The fork start method: the child is a copy of the parent made by fork(),
// so any callable can be a target.
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include <mproc/plugin/abi.hpp>
#include <mproc/plugin/backend.hpp>
#include <mproc/plugin/fd_connection.hpp>

#include "posix_backend.hpp"
#include "posix_process.hpp"

namespace {

class ForkBackend final : public mproc::posix::PosixBackend {
  public:
    std::string_view name() const override { return "fork"; }

    std::unique_ptr<mproc::plugin::ProcessHandle> start(
        const mproc::plugin::LaunchRequest& req) override {
        auto child = std::make_unique<mproc::posix::PosixProcess>();
        pid_t pid = ::fork();
        if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
        if (pid == 0) ::_exit(req.child_main(req.child_arg));
        child->attach(pid);
        return child;
    }

    bool runs_closures() const override { return true; }
};

void* make_backend() {
    static ForkBackend backend;
    return &backend;
}

const mproc::plugin::PluginInfo info = {mproc::plugin::abi_version,
                                        MPROC_TOOLCHAIN_TAG,
                                        mproc::plugin::PluginKind::start_method,
                                        "fork",
                                        "0.1.0",
                                        &make_backend};

}  // namespace

MPROC_PLUGIN_EXPORT(info)
