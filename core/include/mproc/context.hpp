// Contexts and start methods (Python: multiprocessing.get_context and
// friends). A start method is a runtime plugin (mproc-backend-<name>.so)
// found on the plugin search path; see docs/plugins.md.
//
//   mproc::set_start_method("spawn");            // once, at the top of main
//   auto ctx = mproc::get_context("forkserver");  // or a context per library
//   auto p = ctx.Process(foo, 42);
//   auto [a, b] = ctx.Pipe();
//   auto names = mproc::get_all_start_methods(); // {"fork", "spawn", "forkserver"}
//
// Several contexts coexist in one program. A Process made without a context
// uses the default one when it starts.
#pragma once

#include <mproc/export.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <mproc/connection.hpp>
#include <mproc/process.hpp>

namespace mproc {

namespace plugin {
class ContextBackend;
}

class Lock;
class RLock;
class Semaphore;
class BoundedSemaphore;
class Condition;
class Event;
class Barrier;
template <class T>
class Queue;
template <class T>
class JoinableQueue;
template <class T>
class SimpleQueue;
class SyncManager;
class Pool;

namespace detail {
/// Names the shared value types for T (defined in <mproc/sharedctypes.hpp>).
template <class T>
struct SharedTypes;
}  // namespace detail

/// A start method and the API bound to it.
class MPROC_API Context {
  public:
    /// Wraps a loaded backend (see get_context).
    explicit Context(plugin::ContextBackend& backend) noexcept : backend_(&backend) {}

    /// The start method's name ("fork").
    std::string_view get_start_method() const;
    /// With no method, this context itself; else get_context(method), as
    /// Python's ctx.get_context(method=None).
    Context get_context(std::optional<std::string_view> method = std::nullopt) const;
    /// A Process bound to this context; arguments as for mproc::Process.
    template <class... A>
    ::mproc::Process Process(A&&... args) const {
        ::mproc::Process p(std::forward<A>(args)...);
        p.set_context(*this);
        return p;
    }
    /// A Process with options, bound to this context.
    template <class... A>
    ::mproc::Process Process(ProcessOptions options, A&&... args) const {
        ::mproc::Process p(std::move(options), std::forward<A>(args)...);
        p.set_context(*this);
        return p;
    }
    /// A connected pair of Connections made by this context's backend.
    std::pair<Connection, Connection> Pipe(bool duplex = true) const;
    // Synchronisation objects and shared values made by this start method
    // (include <mproc/mproc.hpp> or the object's own header to use them).

    /// A new Lock (<mproc/lock.hpp>).
    template <class L = ::mproc::Lock>
    L Lock() const {
        return L(*this);
    }
    /// A new RLock (<mproc/lock.hpp>).
    template <class L = ::mproc::RLock>
    L RLock() const {
        return L(*this);
    }
    /// A new Semaphore (<mproc/semaphore.hpp>).
    template <class S = ::mproc::Semaphore>
    S Semaphore(int value = 1) const {
        return S(*this, value);
    }
    /// A new BoundedSemaphore (<mproc/semaphore.hpp>).
    template <class S = ::mproc::BoundedSemaphore>
    S BoundedSemaphore(int value = 1) const {
        return S(*this, value);
    }
    /// A new Condition over a new RLock, or over the lock given (<mproc/condition.hpp>).
    template <class C = ::mproc::Condition, class... L>
    C Condition(const L&... lock) const {
        if constexpr (sizeof...(L) == 0)
            return C(*this);
        else
            return C(lock...);
    }
    /// A new Event (<mproc/event.hpp>).
    template <class E = ::mproc::Event>
    E Event() const {
        return E(*this);
    }
    /// A new Barrier (<mproc/barrier.hpp>).
    template <class B = ::mproc::Barrier, class... A>
    B Barrier(int parties, A&&... args) const {
        return B(*this, parties, std::forward<A>(args)...);
    }
    /// Shared values and arrays (<mproc/sharedctypes.hpp>): ctx.Value<double>(0.0).
    template <class T, class... A>
    auto Value(A&&... args) const {
        return typename detail::SharedTypes<T>::value(*this, std::forward<A>(args)...);
    }
    template <class T, class... A>
    auto Array(A&&... args) const {
        return typename detail::SharedTypes<T>::array(*this, std::forward<A>(args)...);
    }
    template <class T, class... A>
    auto RawValue(A&&... args) const {
        return typename detail::SharedTypes<T>::raw_value(*this, std::forward<A>(args)...);
    }
    template <class T, class... A>
    auto RawArray(A&&... args) const {
        return typename detail::SharedTypes<T>::raw_array(*this, std::forward<A>(args)...);
    }

    /// Queues (<mproc/queue.hpp>): ctx.Queue<std::string>(maxsize).
    template <class T, class Q = ::mproc::Queue<T>>
    Q Queue(int maxsize = 0) const {
        return Q(*this, maxsize);
    }
    template <class T, class Q = ::mproc::JoinableQueue<T>>
    Q JoinableQueue(int maxsize = 0) const {
        return Q(*this, maxsize);
    }
    template <class T, class Q = ::mproc::SimpleQueue<T>>
    Q SimpleQueue() const {
        return Q(*this);
    }

    /// A started SyncManager whose server is started by this context's
    /// start method (<mproc/managers.hpp>).
    template <class M = ::mproc::SyncManager>
    M Manager() const {
        M m(*this);
        m.start();
        return m;
    }
    /// A process Pool of this start method (<mproc/pool.hpp>): ctx.Pool(4),
    /// ctx.Pool(PoolOptions{...}, initializer, initargs...).
    template <class P = ::mproc::Pool, class... A>
    P Pool(A&&... args) const {
        return P(*this, std::forward<A>(args)...);
    }

    /// The backend (for plugins and core).
    plugin::ContextBackend& backend() const noexcept { return *backend_; }

    /// Same start method.
    friend bool operator==(const Context& a, const Context& b) noexcept {
        return a.backend_ == b.backend_;
    }

  private:
    plugin::ContextBackend* backend_;
};

/// The context of a start method, loading its plugin on first use; with no
/// name, the default context. Throws PluginError (a ValueError) "cannot find
/// context for 'name'" (Python's text), then what is available and why each
/// candidate file was refused. Processes a context makes are named after
/// its class as in Python: ForkProcess-1, SpawnProcess-2, ForkServerProcess-3.
MPROC_API Context get_context(std::optional<std::string_view> method = std::nullopt);
/// Sets the default start method. A second call (or a call after the
/// default was used) throws ValueError unless force is true.
MPROC_API void set_start_method(std::string_view method, bool force = false);
/// The default start method's name; if none was set and allow_none is
/// true, nullopt; else fixes the default (MPROC_START_METHOD, else "fork" on
/// Linux) and returns it.
MPROC_API std::optional<std::string> get_start_method(bool allow_none = false);
/// The start methods that can be loaded here: the default first, then the
/// others in Python's order (fork, spawn, forkserver), then any other.
MPROC_API std::vector<std::string> get_all_start_methods();
/// Shared libraries the forkserver loads (dlopen) when it starts, so that
/// its children start with them loaded (Python: set_forkserver_preload).
MPROC_API void set_forkserver_preload(std::vector<std::string> libraries);
/// The libraries set with set_forkserver_preload.
MPROC_API std::vector<std::string> get_forkserver_preload();
/// Adds a directory to search for plugins, before all others.
MPROC_API void add_plugin_directory(const std::filesystem::path& dir);
/// The directories searched for plugins, in order.
MPROC_API std::vector<std::filesystem::path> plugin_directories();

}  // namespace mproc
