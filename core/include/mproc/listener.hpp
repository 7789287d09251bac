// Listener and Client: connections between unrelated processes over sockets,
// with HMAC authentication (Python: multiprocessing.connection.Listener and
// Client), wire-compatible with Python's, so a C++ and a Python process can
// talk (send_bytes/recv_bytes; send/recv of msgpack data with mproc::object).
//
//   namespace mpc = mproc::connection;
//   mpc::Listener listener({"localhost", 6000}, "secret password");  // AF_INET
//   mproc::Connection conn = listener.accept();
//   ...
//   mproc::Connection c = mpc::Client({"localhost", 6000}, "secret password");
//
// Families, inferred from the address as Python does: ("host", port) is
// AF_INET; a path is AF_UNIX (a path starting with '\0' is Linux's abstract
// namespace); "\\\\..." is AF_PIPE, which exists only on Windows. With no
// address, AF_UNIX is used, in a private temporary directory that close()
// removes with the socket.
//
// Authentication, Python 3's rule: with no key given there is none (a
// Client returns as soon as it is connected); with a key, both sides run
// the HMAC handshake. Pass mproc::connection::process_authkey for
// current_process().authkey() (Python's "authentication requested but no
// key given"), shared by the processes of one program:
//
//   mpc::Listener listener({}, mpc::process_authkey);
//   mproc::Connection c = mpc::Client(listener.address(), mpc::process_authkey);
//
// No authentication is safe for mproc's own messages, which are data
// (msgpack, never code as Python's pickle may be); authenticate whenever the
// peer must be known. accept() runs deliver_challenge then
// answer_challenge, Client the reverse (see <mproc/authentication.hpp>). A
// client that fails the handshake (wrong key, garbage, disconnection,
// silence past handshake_timeout()) makes accept() throw; the Listener stays
// usable.
#pragma once

#include <mproc/export.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <fmt/format.h>

#include <mproc/codec.hpp>
#include <mproc/connection.hpp>
#include <mproc/timeout.hpp>

namespace mproc::connection {

/// Address families (Python's 'AF_INET', 'AF_UNIX', 'AF_PIPE').
enum class Family {
    af_inet,  ///< a TCP socket: (host, port)
    af_unix,  ///< a Unix domain socket: a path
    af_pipe,  ///< a Windows named pipe: \\.\pipe\name (Windows only)
};

/// The family named by Python's string ("AF_INET", "AF_UNIX", "AF_PIPE");
/// ValueError for any other.
MPROC_API Family family_from_string(std::string_view name);
/// Python's name of a family ("AF_INET", ...).
MPROC_API std::string_view to_string(Family family);
/// The family used when neither address nor family is given (AF_UNIX here).
MPROC_API Family default_family();

/// A TCP address: host name or IP literal, and port.
struct MPROC_API InetAddress {
    std::string host;    ///< "localhost", "127.0.0.1", "::1", "" (any)
    std::uint16_t port;  ///< 0 picks a free port (Listener)
    /// Same host string and port.
    friend bool operator==(const InetAddress&, const InetAddress&) = default;
};

/// A listener or client address: (host, port), a path, or none (pick one).
class MPROC_API Address {
  public:
    /// No address: a Listener picks an arbitrary one.
    Address() = default;
    /// A path (AF_UNIX, or AF_PIPE for "\\\\..."), as Python's str address.
    Address(std::string path) : value_(std::move(path)) {}  // NOLINT: implicit as in Python
    /// A path.
    Address(const char* path) : value_(std::string(path)) {}  // NOLINT
    /// A path.
    Address(std::string_view path) : value_(std::string(path)) {}  // NOLINT
    /// (host, port): AF_INET; ValueError unless 0 <= port <= 65535.
    Address(std::string host, long port);
    /// (host, port).
    Address(InetAddress a) : value_(std::move(a)) {}  // NOLINT

    /// True if no address was given.
    bool empty() const noexcept { return std::holds_alternative<std::monostate>(value_); }
    /// The (host, port), or nullptr if this is a path or empty.
    const InetAddress* inet() const noexcept { return std::get_if<InetAddress>(&value_); }
    /// The path, or nullptr if this is (host, port) or empty.
    const std::string* path() const noexcept { return std::get_if<std::string>(&value_); }
    /// Python's repr: ('127.0.0.1', 6000), '/tmp/x' or None.
    std::string repr() const;
    /// Same address.
    friend bool operator==(const Address&, const Address&) = default;

  private:
    std::variant<std::monostate, InetAddress, std::string> value_;
};

/// The family of an address (Python's address_type); ValueError for an
/// empty one.
MPROC_API Family address_type(const Address& address);

/// Python's authkey=None: no authentication handshake at all.
struct MPROC_API NoAuthentication {
    explicit constexpr NoAuthentication(int) {}
};
/// Pass as authkey to skip authentication (Python: authkey=None; what a
/// Listener or Client does when no key is given).
inline constexpr NoAuthentication no_authentication{0};

/// current_process().authkey() as the key.
struct MPROC_API ProcessAuthKey {
    explicit constexpr ProcessAuthKey(int) {}
};
/// Pass as authkey to authenticate with current_process().authkey(), read
/// when the Listener is made or the Client connects (Python:
/// authkey=current_process().authkey).
inline constexpr ProcessAuthKey process_authkey{0};

/// An authentication key argument: not given, a given key, process_authkey
/// or no_authentication.
class MPROC_API AuthKey {
  public:
    /// No key given: a Listener or Client does no authentication (Python 3);
    /// a manager uses current_process().authkey() (Python's managers).
    AuthKey() = default;
    /// No authentication.
    AuthKey(NoAuthentication) : kind_(Kind::none) {}  // NOLINT: implicit by design
    /// current_process().authkey().
    AuthKey(ProcessAuthKey) : kind_(Kind::current_process) {}  // NOLINT: implicit by design
    /// The bytes of a string.
    AuthKey(std::string_view key) : kind_(Kind::given), key_(as_key(key)) {}  // NOLINT
    /// The bytes of a string.
    AuthKey(const char* key) : AuthKey(std::string_view(key)) {}  // NOLINT
    /// The bytes of a string.
    AuthKey(const std::string& key) : AuthKey(std::string_view(key)) {}  // NOLINT
    /// A byte string.
    AuthKey(std::span<const std::byte> key)
        : kind_(Kind::given), key_(key.begin(), key.end()) {}  // NOLINT
    /// A byte string.
    AuthKey(const bytes& key) : kind_(Kind::given), key_(key) {}  // NOLINT

    /// The key to authenticate with, or nullopt for none (also when no key
    /// was given: Listener and Client).
    std::optional<bytes> resolve() const;
    /// As resolve(), but current_process().authkey() when no key was given
    /// (managers: Python's BaseManager(authkey=None)).
    std::optional<bytes> resolve_or_process_key() const;

  private:
    enum class Kind { not_given, current_process, none, given };
    static bytes as_key(std::string_view s) {
        auto b = std::as_bytes(std::span(s));
        return {b.begin(), b.end()};
    }
    Kind kind_ = Kind::not_given;
    bytes key_;
};

/// A bound, listening socket that accepts authenticated connections.
/// Closing (or destroying) it closes the socket and, for AF_UNIX, removes
/// the socket file (and the private directory of a default address).
class MPROC_API Listener {
  public:
    /// Binds and listens (backlog as in listen(2)); address and family as in
    /// Python: either may be omitted. Throws ValueError for a bad
    /// family/address combination, std::system_error if binding fails.
    explicit Listener(Address address = {}, std::optional<Family> family = std::nullopt,
                      int backlog = 1, AuthKey authkey = {});
    /// Listener(address, authkey) with the family inferred and backlog 1.
    Listener(Address address, AuthKey authkey);
    Listener(Listener&&) noexcept;
    Listener& operator=(Listener&&) noexcept;
    Listener(const Listener&) = delete;
    Listener& operator=(const Listener&) = delete;
    /// Closes.
    ~Listener();

    /// Waits for a client (at most timeout: TimeoutError after it; beyond
    /// Python, whose accept always blocks), authenticates it and returns the
    /// connection. AuthenticationError (or EOFError, TimeoutError,
    /// ProcessError for a malformed handshake) if the client fails.
    Connection accept(Timeout timeout = std::nullopt);
    /// Closes the socket and removes an AF_UNIX socket file; idempotent.
    void close() noexcept;
    /// True once closed.
    bool closed() const noexcept;
    /// The bound address (for AF_INET with port 0, the port chosen).
    const Address& address() const;
    /// The address of the last accepted client (a path, often "", for AF_UNIX).
    const std::optional<Address>& last_accepted() const noexcept;
    /// The family.
    Family family() const noexcept;
    /// The listening socket (to wait on with mproc::wait via Waitable::from_handle).
    std::intptr_t fileno() const;
    /// How long accept() lets a client take to complete the handshake
    /// (default 30 s; nullopt waits forever, as Python does), so that a
    /// silent client cannot block the listener: checked between handshake
    /// messages, and bounding each wait for data within one.
    Timeout handshake_timeout() const noexcept { return handshake_timeout_; }
    /// Sets the handshake timeout.
    void set_handshake_timeout(Timeout t) noexcept { handshake_timeout_ = t; }

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::optional<bytes> authkey_;
    std::optional<Address> last_accepted_;
    Timeout handshake_timeout_ = std::chrono::seconds(30);
};

/// Connects to a Listener at address (family inferred if not given) and,
/// given a key, authenticates: answer_challenge then deliver_challenge.
/// Throws std::system_error if the connection is refused,
/// AuthenticationError if the keys differ.
MPROC_API Connection Client(const Address& address, std::optional<Family> family = std::nullopt,
                            AuthKey authkey = {});
/// Client(address, authkey) with the family inferred.
MPROC_API Connection Client(const Address& address, AuthKey authkey);

}  // namespace mproc::connection

/// Prints an address as Python's repr: ('127.0.0.1', 6000) or '/tmp/x'.
template <>
struct fmt::formatter<mproc::connection::Address> : fmt::formatter<std::string_view> {
    /// Formats the repr.
    auto format(const mproc::connection::Address& a, fmt::format_context& ctx) const {
        return fmt::formatter<std::string_view>::format(a.repr(), ctx);
    }
};
