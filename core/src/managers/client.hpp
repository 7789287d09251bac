// The client side of a manager (internal). A Session is one process's link
// to one manager: its "anchor" connection carries create/incref/decref, so
// the server counts this process's references on it and drops them when it
// closes (the process ended, even killed). Method calls go over one
// connection per thread (a blocking call blocks only its thread), made on
// first use. A fork child notices the pid change and makes its own.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>

#include <mproc/connection.hpp>
#include <mproc/listener.hpp>
#include <mproc/managers.hpp>
#include <mproc/object.hpp>

namespace mproc::managers::detail {

class Session : public std::enable_shared_from_this<Session> {
  public:
    /// This process's session with the manager at address (made on first use).
    static std::shared_ptr<Session> get(const connection::Address& address, const bytes& authkey);
    /// The authkey of this process's session with address, if there is one.
    static std::optional<bytes> known_authkey(const connection::Address& address);

    Session(connection::Address address, bytes authkey);
    ~Session();
    /// A server-level call (create, incref, ...) on the anchor connection.
    object anchor_call(std::string_view method, list args);
    /// A call on this thread's connection (id: the referent, or nullopt).
    /// A "#PROXY" reply (a new referent, referenced by this thread's
    /// connection) sets *made when given.
    object call(std::optional<std::int64_t> id, std::string_view method, list args,
                bool* made = nullptr);
    /// Drops a reference; never throws (the server may be gone).
    void decref(std::int64_t id) noexcept;

    const connection::Address& address() const noexcept { return address_; }
    const bytes& authkey() const noexcept { return authkey_; }
    int pid() const noexcept { return pid_; }
    std::uint64_t serial() const noexcept { return serial_; }

  private:
    Connection connect() const;
    object roundtrip(Connection& c, std::optional<std::int64_t> id, std::string_view method,
                     list args, bool* made = nullptr) const;

    friend struct ThreadConnections;
    Connection& thread_connection();
    void forget_thread(std::thread::id t) noexcept;

    connection::Address address_;
    bytes authkey_;
    int pid_;
    std::uint64_t serial_;
    std::mutex mu_;
    Connection anchor_;
    // One connection per thread, owned here so that they close with the
    // session (a thread that ends closes its own first).
    std::mutex threads_mu_;
    std::unordered_map<std::thread::id, Connection> threads_;
};

/// The shared state behind a proxy and its copies.
struct ProxyState {
    Token token;
    bytes authkey;
    std::string cls = "BaseProxy";
    /// The session holding this process's reference (null: not yet taken,
    /// e.g. a copy inherited by a fork child).
    std::shared_ptr<Session> session;
    int pid = 0;
    std::mutex mu;

    ~ProxyState();
    /// The session of this process, taking a reference first if this state
    /// came from another process (fork).
    Session& local();
};

/// A state for a referent just created (the creation reference is ours).
std::shared_ptr<ProxyState> created_state(std::shared_ptr<Session> s, std::string type_id,
                                          std::int64_t id);
/// A state for a token received, taking a reference.
std::shared_ptr<ProxyState> adopt_state(Token token, std::optional<bytes> authkey);

/// Python's exception for an "#ERROR" reply.
[[noreturn]] void raise_remote(const object& error);

}  // namespace mproc::managers::detail
