// What crosses into a spawn or forkserver child: a target is a plain
// function (free function, static member, or lambda without captures) sent
// as (module build-id, offset in the module), plus its arguments encoded by
// the serializer and decoded in the child into the same C++ types by a typed
// trampoline (itself a plain function sent the same way). The child refuses a
// module whose build-id differs or an offset outside the module's code.
//
//   void work(mproc::Connection c, int n);
//   mproc::get_context("spawn").Process(work, conn, 42).start();   // fine
//   mproc::get_context("spawn").Process([&] { ... }).start();       // refused:
//       // a capturing lambda cannot cross exec (fork accepts it)
//
// When the child is another program (set_executable), functions are found by
// a name both programs register:
//
//   MPROC_REGISTER_FUNCTION(work);   // at namespace scope, in both programs
//
// Bound arguments must have an mproc::codec adapter (<mproc/codec.hpp>);
// Connections cross as out-of-band handles.
#pragma once

#include <mproc/export.hpp>

#include <filesystem>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include <mproc/codec.hpp>
#include <mproc/detail/target.hpp>
#include <mproc/serializer.hpp>

namespace mproc {

/// The program spawn starts for a child (default: this program, by
/// /proc/self/exe). An empty path restores the default. With another program,
/// targets cross by registered name (MPROC_REGISTER_FUNCTION).
MPROC_API void set_executable(const std::filesystem::path& program);
/// The program set with set_executable, or empty.
MPROC_API std::filesystem::path get_executable();

}  // namespace mproc

/// Registers a plain function by its name so that another program (see
/// set_executable) can run it as a target. Use at namespace scope in both.
#define MPROC_REGISTER_FUNCTION(fn)                               \
    [[maybe_unused]] static const bool mproc_registered_##fn##_ = \
        ::mproc::detail::register_function(#fn, &fn)
