// Handle passing on descriptor connections (internal to core; public side in
// <mproc/reduction.hpp>).
#pragma once

#include <cstdint>

#include <mproc/plugin/backend.hpp>

namespace mproc::detail {

/// Sends one descriptor on a socket end in Python's form (one byte, the
/// descriptor attached); std::system_error ENOTSOCK for another end.
void pass_handle(plugin::ConnectionImpl& impl, int fd);
/// Reads the one byte of a passed handle and returns the descriptor that
/// came with it (owned by the caller); EOFError at end of stream.
int take_passed_handle(plugin::ConnectionImpl& impl);
/// A close-on-exec duplicate of fd; std::system_error if fd is not open.
std::intptr_t duplicate_handle(std::intptr_t fd);
/// Closes a descriptor (ignores -1).
void close_native_handle(std::intptr_t fd) noexcept;

}  // namespace mproc::detail
