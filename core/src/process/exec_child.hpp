// Children that start as a new program (spawn, forkserver): the bootstrap
// message the parent sends, and the child's side of it (internal to core).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <mproc/callable.hpp>
#include <mproc/process.hpp>

namespace mproc::detail {

/// What an exec-based backend is given to start a child.
struct ExecLaunch {
    std::vector<std::byte> payload;      ///< the bootstrap message
    std::vector<std::intptr_t> handles;  ///< index = slot in the child
    int own_sentinel = -1;               ///< our pidfd, closed when done
    ExecLaunch() = default;
    ExecLaunch(const ExecLaunch&) = delete;
    ExecLaunch& operator=(const ExecLaunch&) = delete;
    ~ExecLaunch();
};

/// Encodes what a new program needs to become `self` and run its target.
/// Throws ValueError if the target cannot cross exec.
void build_exec_payload(Process& self, const Target* target, ExecLaunch& out);

/// In a new program: becomes the child described by payload and runs it;
/// ends the process when the child does (returns 1 only if the message is
/// malformed). Takes ownership of the handles.
int run_exec_child(std::span<const std::byte> payload, std::span<const std::intptr_t> handles);

/// What an exec child's command line points at: its bootstrap message and
/// the handles that came with it.
struct ExecBootstrap {
    std::vector<std::byte> payload;
    std::vector<std::intptr_t> handles;
};
/// Reads the bootstrap an exec child's command line names (argv[2]: where
/// the message is, argv[3]: how many handles follow it); nullopt if the
/// command line is malformed.
std::optional<ExecBootstrap> read_exec_bootstrap(int argc, char** argv);
/// Flushes the standard streams and ends this process at once.
[[noreturn]] void end_process(int code);

/// The name under which a function was registered, if any.
std::optional<std::string> registered_name(void* function);
/// The function registered under a name, if any.
std::optional<ExecTarget> registered_function(std::string_view name);

/// Sets the default start method without loading it (a child inherits its
/// parent's default; most children never start a process).
void set_default_start_method(std::string name);

/// Stops a program that was started as an exec child but called mproc
/// before freeze_support(argc, argv) ran its bootstrap (else it would run
/// main again and start children recursively).
void check_bootstrapped();

}  // namespace mproc::detail
