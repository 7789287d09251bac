// The services the core passes into a plugin (Mesa GBM's gbm_core,
// PipeWire's spa_support): what a backend needs of the core it is loaded
// into, handed to its factory, so that a plugin calls no core function
// behind the ABI's back.
//
//   class MyBackend final : public mproc::plugin::ContextBackend {
//     public:
//       explicit MyBackend(const mproc::plugin::Host& host) : host_(host) {}
//       ... host_.at_process_exit(&cleanup); ...
//     private:
//       const mproc::plugin::Host& host_;  // lives as long as the program
//   };
#pragma once

#include <mproc/export.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace mproc {
class Serializer;
}

namespace mproc::plugin {

/// A native OS handle: a file descriptor on POSIX, a HANDLE on Windows.
using NativeHandle = std::intptr_t;

/// The core's services (one table for the program's life).
struct MPROC_API Host {
    /// Registers a function the core calls when this process ends normally
    /// (the main program at exit, every child after its target), after its
    /// children were joined. A fork child inherits the registrations: check
    /// who you are.
    void (*at_process_exit)(void (*hook)());
    /// The plugin search path an exec child needs to find the plugins this
    /// program found (directories added in code, then this program's own),
    /// in the form MPROC_PLUGIN_PATH takes.
    std::string (*child_plugin_path)();
    /// The program to start for an exec child: set_executable's, else this
    /// program.
    std::string (*child_executable)();
    /// In a new program or a forkserver's child: becomes the child described
    /// by a bootstrap message and runs it; returns the exit code. Takes
    /// ownership of the handles.
    int (*run_exec_child)(std::span<const std::byte> payload,
                          std::span<const NativeHandle> handles);
    /// The libraries set with set_forkserver_preload (for a backend that
    /// keeps a server process, to load them there once).
    std::vector<std::string> (*forkserver_preload)();
    /// The default serializer, loaded (for a server process to load it once,
    /// before it forks children).
    Serializer& (*default_serializer)();
};

}  // namespace mproc::plugin
