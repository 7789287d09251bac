// The fork start method: the child is a copy of the parent made by fork(),
// so any callable can be a target.
#include <mproc/plugin/abi.hpp>
#include <mproc/plugin/backend.hpp>
#include <mproc/plugin/posix/fd_connection.hpp>
#include <mproc/plugin/posix/fork.hpp>

#include <mproc/plugin/posix/posix_backend.hpp>
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

    mproc::plugin::Capabilities capabilities() const override {
        using mproc::plugin::Capability;
        return {Capability::runs_closures,      Capability::shared_memory,
                Capability::shared_semaphores,  Capability::fd_handles,
                Capability::pollable_sentinels, Capability::handle_passing};
    }
};

}  // namespace

MPROC_PLUGIN_DEFINE(start_method, "fork", ForkBackend)
