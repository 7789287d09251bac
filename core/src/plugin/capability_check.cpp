// Capability checks (see capability_check.hpp).
#include "plugin/capability_check.hpp"

#include <fmt/format.h>

#include <mproc/errors.hpp>

namespace mproc::detail {

namespace {

std::string_view lacks(plugin::Capability cap) {
    using plugin::Capability;
    switch (cap) {
        case Capability::runs_closures:
            return "cannot run closures in its children (use a plain function)";
        case Capability::shared_memory:
            return "has no memory shared between its processes";
        case Capability::shared_semaphores:
            return "has no semaphores shared between its processes";
        case Capability::fd_handles:
            return "does not use POSIX file descriptors";
        case Capability::pollable_sentinels:
            return "has no process sentinels that can be waited on";
        case Capability::handle_passing:
            return "cannot pass OS handles into its children";
    }
    return "lacks a capability";
}

}  // namespace

void require_capability(const plugin::ContextBackend& backend, plugin::Capability cap,
                        std::string_view what) {
    if (backend.capabilities().has(cap)) return;
    throw ValueError(fmt::format(
        "the '{}' start method {}, which {} needs; use a start method that has it, or a "
        "Manager's proxy for the object",
        backend.name(), lacks(cap), what));
}

}  // namespace mproc::detail
