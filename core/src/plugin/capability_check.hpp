// Refusing, with a clear error, what a start method cannot do (internal to
// core; see plugin::Capability).
#pragma once

#include <string_view>

#include <mproc/plugin/backend.hpp>

namespace mproc::detail {

/// Throws ValueError naming the start method, what it lacks and what needs
/// it (`what`, e.g. "a Lock") unless backend has cap.
void require_capability(const plugin::ContextBackend& backend, plugin::Capability cap,
                        std::string_view what);

}  // namespace mproc::detail
