// Plain functions as (module build-id, offset): how targets cross exec
// (internal to core; see <mproc/callable.hpp>).
#pragma once

#include <cstdint>
#include <string>

#include <mproc/export.hpp>

namespace mproc::detail {

/// Where a function's code lives.
struct CodeLocation {
    std::string build_id;  ///< hex GNU build-id of the module
    std::uint64_t offset;  ///< address minus the module's load bias
    std::string module;    ///< the module's path, for messages
};

// Exported for the tests (tests/test_spawn.cpp) only.

/// Locates code in a loaded module; throws ProcessError if the address is
/// not in any module's executable segment or the module has no build-id.
MPROC_API CodeLocation locate_code(const void* address);

/// The address of code in the loaded module with this build-id; throws
/// ProcessError if no module has it or the offset is not in its code.
MPROC_API void* resolve_code(const CodeLocation& where);

}  // namespace mproc::detail
