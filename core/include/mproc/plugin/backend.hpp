// The start-method backend interface: what a plugin implements to start
// processes and make connections for a Context. Core builds everything else
// (Process, Pipe framing, wait, ...) on top of it.
//
//   class MyBackend final : public mproc::plugin::ContextBackend { ... };
//   MPROC_PLUGIN_DEFINE(start_method, "mine", MyBackend)
//
// Any change to a class here raises abi_version (see abi.hpp): plugins are
// built against the headers of the core they are loaded into.
#pragma once

#include <mproc/export.hpp>

#include <memory>
#include <span>
#include <string_view>
#include <utility>

#include <mproc/plugin/abi.hpp>
#include <mproc/plugin/capabilities.hpp>
#include <mproc/plugin/connection.hpp>
#include <mproc/plugin/exec_protocol.hpp>
#include <mproc/plugin/host.hpp>
#include <mproc/plugin/process_handle.hpp>
#include <mproc/plugin/semaphore.hpp>
#include <mproc/plugin/shared_memory.hpp>
#include <mproc/serializer.hpp>

namespace mproc::plugin {

/// A start method: starts processes and makes connections.
class MPROC_API ContextBackend {
  public:
    virtual ~ContextBackend();
    /// The start method's name ("fork"), equal to the plugin's name.
    virtual std::string_view name() const = 0;
    /// Starts a child; throws std::system_error or ProcessError on failure.
    virtual std::unique_ptr<ProcessHandle> start(const LaunchRequest& request) = 0;
    /// A connected pair (duplex: both ends read and write; else the first
    /// end only reads and the second only writes).
    virtual std::pair<std::unique_ptr<ConnectionImpl>, std::unique_ptr<ConnectionImpl>> make_pipe(
        bool duplex) = 0;
    /// What this start method's processes can do and share.
    virtual Capabilities capabilities() const = 0;
    /// Rebuilds a connection end another process wrote with its encode()
    /// (see ConnectionImpl::carrier). The default refuses.
    virtual std::unique_ptr<ConnectionImpl> attach_connection(Decoder& d);
    /// Runs a helper mode of this backend in a program started for it (the
    /// forkserver's server: argv[1] is "--mproc-helper", argv[2] the backend
    /// name); returns the exit code. The default refuses.
    virtual int run_helper(int argc, char** argv);

    /// New zero-filled shared memory of size bytes; its handle is
    /// close-on-exec and crosses into children as an out-of-band handle.
    virtual std::unique_ptr<SharedMemoryImpl> make_shared_memory(std::size_t size) = 0;
    /// Maps shared memory received from another process; handle stays the
    /// caller's (the mapping keeps a duplicate where it needs one). Throws
    /// ProcessError if it is not shared memory of that size.
    virtual std::unique_ptr<SharedMemoryImpl> attach_shared_memory(NativeHandle handle,
                                                                   std::size_t size) = 0;
    /// Bytes of shared memory one semaphore's state needs (at most 256).
    virtual std::size_t semaphore_state_size() const = 0;
    /// Makes a semaphore in state (semaphore_state_size() zeroed bytes of
    /// shared memory, 8-byte aligned) with a value and maximum value.
    virtual std::unique_ptr<SemaphoreImpl> make_semaphore(std::span<std::byte> state,
                                                          SemaphoreKind kind, int value,
                                                          int max_value) = 0;
    /// Uses a semaphore another process made in state; throws ProcessError
    /// if state does not hold one.
    virtual std::unique_ptr<SemaphoreImpl> attach_semaphore(std::span<std::byte> state) = 0;
};

/// The interface a start-method plugin implements (see MPROC_PLUGIN_DEFINE).
template <>
struct PluginInterface<PluginKind::start_method> {
    using type = ContextBackend;
};

}  // namespace mproc::plugin
