// mproc::wait: wait until one or more objects are ready (Python:
// multiprocessing.connection.wait).
//
//   for (auto& r : mproc::wait(readers)) { ... }            // vector<Connection>
//   auto ready = mproc::wait({conn, p.sentinel()}, 1s);     // mixed objects
//   if (!ready.empty() && ready[0] == conn) ...
//
// A Connection is ready when a message or end of stream can be read, a
// Sentinel when its process has ended, a raw handle (socket fd) when
// readable.
#pragma once

#include <mproc/export.hpp>

#include <cstdint>
#include <initializer_list>
#include <span>
#include <variant>
#include <vector>

#include <mproc/connection.hpp>
#include <mproc/process.hpp>
#include <mproc/timeout.hpp>

namespace mproc {

/// Something mproc::wait can wait on.
class MPROC_API Waitable {
  public:
    /// A connection end (ready to read or at end of stream).
    Waitable(const Connection& c) : object_(c) {}  // NOLINT: implicit by design
    /// A process sentinel (ready when the process ends).
    Waitable(Sentinel s) : object_(s) {}  // NOLINT: implicit by design
    /// A raw OS handle such as a socket fd (ready when readable).
    static Waitable from_handle(std::intptr_t h) { return Waitable(RawHandle{h}); }

    /// The native handle waited on.
    std::intptr_t native_handle() const;
    /// The connection, or nullptr if this is not one.
    const Connection* connection() const noexcept { return std::get_if<Connection>(&object_); }
    /// The sentinel, or nullptr if this is not one.
    const Sentinel* sentinel() const noexcept { return std::get_if<Sentinel>(&object_); }

    /// Refers to this connection.
    bool operator==(const Connection& c) const noexcept {
        auto* mine = connection();
        return mine && *mine == c;
    }
    /// Refers to this sentinel.
    bool operator==(const Sentinel& s) const noexcept {
        auto* mine = sentinel();
        return mine && *mine == s;
    }

  private:
    struct RawHandle {
        std::intptr_t handle;
        friend bool operator==(const RawHandle&, const RawHandle&) = default;
    };
    explicit Waitable(RawHandle h) : object_(h) {}
    std::variant<Connection, Sentinel, RawHandle> object_;
};

/// Waits until at least one object is ready or the timeout passes; returns
/// the ready ones (empty on timeout), in the order given.
MPROC_API std::vector<Waitable> wait(std::span<const Waitable> objects,
                                     Timeout timeout = std::nullopt);
/// The same for a braced list.
inline std::vector<Waitable> wait(std::initializer_list<Waitable> objects,
                                  Timeout timeout = std::nullopt) {
    return wait(std::span<const Waitable>(objects.begin(), objects.size()), timeout);
}
/// Waits on connections; returns the ready ones.
MPROC_API std::vector<Connection> wait(const std::vector<Connection>& connections,
                                       Timeout timeout = std::nullopt);

}  // namespace mproc
