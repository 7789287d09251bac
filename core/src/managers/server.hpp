// The manager's server (internal): a Listener, one thread per connection, a
// table of referents with reference counts kept per connection.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>

#include <mproc/connection.hpp>
#include <mproc/listener.hpp>
#include <mproc/object.hpp>

#include "managers/servant.hpp"

namespace mproc::managers::detail {

/// Serves a registry's types at an address.
class Server {
  public:
    /// Binds and listens; if address is empty, at os::default_address() and
    /// then serves only clients of this process's user.
    Server(const Registry& registry, const connection::Address& address, bytes authkey);
    /// The bound address.
    const connection::Address& address() const { return listener_.address(); }
    /// Serves until shutdown() is requested or the owner process (if > 0)
    /// ends; then removes the socket and ends this process (as Python's
    /// serve_forever ends it with sys.exit).
    [[noreturn]] void serve_forever(int owner_pid, std::intptr_t control_fd = -1);
    /// The referent a stored proxy of this server refers to (Condition(lock)).
    std::shared_ptr<Servant> local_referent(const object& ref);
    /// A referent of type_id around an object a method made (method_to_typeid);
    /// TypeError if type_id is not registered for that C++ type.
    std::shared_ptr<Servant> wrap(const std::string& type_id,
                                  std::pair<std::shared_ptr<void>, const std::type_info*> made);

  private:
    struct Entry {
        std::string type_id;
        std::shared_ptr<Servant> servant;
        std::int64_t refcount = 0;
    };
    using Refs = std::unordered_map<std::int64_t, std::int64_t>;

    void serve_connection(Connection c, std::uint64_t id);
    object dispatch(const object& request, CallContext& cx, Refs& refs, bool& stop);
    object server_call(std::string_view method, list& args, CallContext& cx, Refs& refs,
                       bool& stop);
    void incref(std::int64_t id, Refs& refs);
    void decref(std::int64_t id, Refs& refs);
    void pin_refs(const object& o, int depth = 0);
    std::int64_t add_referent(std::string type_id, std::shared_ptr<Servant> servant, Refs& refs);

    const Registry& registry_;
    bytes authkey_;
    bool same_user_only_;
    connection::Listener listener_;
    std::string address_key_;
    std::mutex mu_;
    std::unordered_map<std::int64_t, Entry> objects_;
    std::set<std::int64_t> pinned_;
    std::int64_t next_id_ = 1;
    std::atomic<int> connections_{0};
    int wake_fd_ = -1;
};

/// The registry of a manager kind, to add to (registrations).
Registry& mutable_registry(std::string_view kind);
/// The registry a server of this manager kind serves ("SyncManager", or a
/// BaseManager's registry name).
const Registry& registry_for(std::string_view kind);

/// Runs fn in this process when a server stops serving (shutdown, or its
/// owner's end), just before the process exits (SharedMemoryManager unlinks
/// its blocks there).
void at_server_exit(std::function<void()> fn);

/// The server process's entry (a plain function, so that spawn and
/// forkserver can start it): serves, after sending its address (or
/// ["#ERROR", message]) through writer.
void run_server(Connection writer, Connection control, bytes authkey, std::int64_t owner_pid,
                object address, std::string kind, bytes initializer,
                std::int64_t local_initializer);

namespace os {
/// A descriptor readable when process pid ends (a pidfd), or -1.
int watch_process(int pid);
/// SIG_IGN for SIGINT (the server ignores ^C as Python's does).
void ignore_sigint();
/// A pipe (read end, write end), close-on-exec.
std::pair<int, int> make_pipe();
/// Makes the read end of a wake pipe readable.
void wake(int fd) noexcept;
/// What woke the server's accept loop.
enum class Ready { client, owner_gone, wake };
/// Waits for a client, the owner's end, or a wake-up (wake_fd, or
/// control_fd if >= 0: readable, or at its end, when the owner asks to stop).
Ready wait_ready(int listen_fd, int owner_fd, int owner_pid, int wake_fd, int control_fd);
/// Flushes stdio and ends the process at once (threads may still block).
[[noreturn]] void exit_now(int code);
/// This process's id.
int current_pid() noexcept;
/// The address a server listens on when none was given: on Linux a fresh,
/// unguessable name in the abstract Unix namespace (nothing on disk: no
/// directory to make or remove, none left behind by a killed server).
connection::Address default_address();
/// Whether the peer of a Unix socket runs as this process's user (or root).
bool peer_is_same_user(std::intptr_t fd) noexcept;
/// Wakes any thread blocked reading a socket (shutdown(2)).
void shutdown_socket(std::intptr_t fd) noexcept;
}  // namespace os

}  // namespace mproc::managers::detail
