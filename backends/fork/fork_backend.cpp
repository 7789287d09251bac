// The fork start method: the child is a copy of the parent made by fork(),
// so any callable can be a target.
#include <mproc/plugin/abi.hpp>
#include <mproc/plugin/backend.hpp>
#include <mproc/plugin/fd_connection.hpp>
#include <mproc/plugin/fork.hpp>

#include "posix_backend.hpp"
#include "posix_process.hpp"

namespace {

class ForkBackend final : public mproc::posix::PosixBackend {
  public:
    std::string_view name() const override { return "fork"; }

    std::unique_ptr<mproc::plugin::ProcessHandle> start(
        const mproc::plugin::LaunchRequest& req) override {
        auto child = std::make_unique<mproc::posix::PosixProcess>();
        child->attach(mproc::plugin::fork_and_run(req));
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
