// Listener and Client: address families as Python infers them, the
// authentication handshake around accept and connect.
#include <mproc/listener.hpp>

#include <system_error>

#include <fmt/format.h>

#include <mproc/authentication.hpp>
#include <mproc/errors.hpp>
#include <mproc/process.hpp>

#include "listener/listener_socket.hpp"

namespace mproc::connection {

Family family_from_string(std::string_view name) {
    if (name == "AF_INET") return Family::af_inet;
    if (name == "AF_UNIX") return Family::af_unix;
    if (name == "AF_PIPE") return Family::af_pipe;
    throw ValueError(
        fmt::format("unrecognized family '{}' (use AF_INET, AF_UNIX or AF_PIPE)", name));
}

std::string_view to_string(Family family) {
    switch (family) {
        case Family::af_inet:
            return "AF_INET";
        case Family::af_unix:
            return "AF_UNIX";
        case Family::af_pipe:
            return "AF_PIPE";
    }
    return "?";
}

Family default_family() {
    return Family::af_unix;
}

Address::Address(std::string host, long port) {
    if (port < 0 || port > 65535)
        throw ValueError(fmt::format("port must be 0-65535, not {}", port));
    value_ = InetAddress{std::move(host), std::uint16_t(port)};
}

namespace {

// Python's repr of a str: single quotes, escapes for what is not printable.
std::string py_str_repr(std::string_view s) {
    std::string out = "'";
    for (unsigned char c : s) {
        if (c == '\'' || c == '\\')
            out += fmt::format("\\{}", char(c));
        else if (c == '\n')
            out += "\\n";
        else if (c < 0x20 || c == 0x7f)
            out += fmt::format("\\x{:02x}", c);
        else
            out += char(c);
    }
    return out + "'";
}

}  // namespace

std::string Address::repr() const {
    if (auto* a = inet()) return fmt::format("({}, {})", py_str_repr(a->host), a->port);
    if (auto* p = path()) return py_str_repr(*p);
    return "None";
}

Family address_type(const Address& address) {
    if (address.inet()) return Family::af_inet;
    if (auto* p = address.path()) return p->starts_with("\\\\") ? Family::af_pipe : Family::af_unix;
    throw ValueError("address type of None unrecognized: give an address or a family");
}

std::optional<bytes> AuthKey::resolve() const {
    switch (kind_) {
        case Kind::not_given:
        case Kind::none:
            return std::nullopt;
        case Kind::given:
            return key_;
        case Kind::current_process:
            break;
    }
    return current_process().authkey();
}

std::optional<bytes> AuthKey::resolve_or_process_key() const {
    if (kind_ == Kind::not_given) return current_process().authkey();
    return resolve();
}

namespace {

// The family to use, checked against the address (Python's _validate_family
// plus the address-shape checks its socket calls would make).
Family resolve_family(const Address& address, std::optional<Family> family) {
    Family f = family ? *family : address.empty() ? default_family() : address_type(address);
    if (f == Family::af_pipe)
        throw ValueError("Family AF_PIPE is not recognized: named pipes exist only on Windows");
    if (!address.empty()) {
        if (f == Family::af_inet && !address.inet())
            throw ValueError(fmt::format(
                "an AF_INET address is a (host, port) pair, not the path {}", address.repr()));
        if (f == Family::af_unix && !address.path())
            throw ValueError(fmt::format("an AF_UNIX address is a path, not {}", address.repr()));
    }
    return f;
}

}  // namespace

struct Listener::Impl {
    detail::SocketListener socket;
};

Listener::Listener(Address address, std::optional<Family> family, int backlog, AuthKey authkey)
    : authkey_(authkey.resolve()) {
    Family f = resolve_family(address, family);
    if (backlog < 0) throw ValueError(fmt::format("backlog must be >= 0, not {}", backlog));
    impl_ = std::unique_ptr<Impl>(new Impl{detail::SocketListener(address, f, backlog)});
}

Listener::Listener(Address address, AuthKey authkey)
    : Listener(std::move(address), std::nullopt, 1, std::move(authkey)) {}

Listener::Listener(Listener&&) noexcept = default;
Listener& Listener::operator=(Listener&& other) noexcept {
    if (this != &other) {
        close();
        impl_ = std::move(other.impl_);
        authkey_ = std::move(other.authkey_);
        last_accepted_ = std::move(other.last_accepted_);
        handshake_timeout_ = other.handshake_timeout_;
    }
    return *this;
}

Listener::~Listener() {
    close();
}

Connection Listener::accept(Timeout timeout) {
    if (closed()) throw ClosedError("listener is closed");
    auto got = impl_->socket.accept(timeout);
    if (!got) throw TimeoutError("accept: no client connected in time");
    auto& [conn, peer] = *got;
    last_accepted_ = peer;
    if (authkey_) {
        try {
            // The deadline is checked between messages; the socket timeout
            // bounds each wait inside one (a client stalling mid-message).
            detail::set_receive_timeout(conn, handshake_timeout_);
            deliver_challenge(conn, *authkey_, "sha256", handshake_timeout_);
            answer_challenge(conn, *authkey_, handshake_timeout_);
            detail::set_receive_timeout(conn, std::nullopt);
        } catch (const std::system_error& e) {
            conn.close();
            if (e.code() == std::errc::resource_unavailable_try_again)
                throw TimeoutError("accept: the client stalled during authentication");
            throw;
        } catch (...) {
            conn.close();
            throw;
        }
    }
    return std::move(conn);
}

void Listener::close() noexcept {
    if (impl_) impl_->socket.close();
}

bool Listener::closed() const noexcept {
    return !impl_ || impl_->socket.closed();
}

const Address& Listener::address() const {
    if (!impl_) throw ClosedError("listener is closed");
    return impl_->socket.address();
}

const std::optional<Address>& Listener::last_accepted() const noexcept {
    return last_accepted_;
}

Family Listener::family() const noexcept {
    return impl_ ? impl_->socket.family() : default_family();
}

std::intptr_t Listener::fileno() const {
    if (closed()) throw ClosedError("listener is closed");
    return impl_->socket.fileno();
}

Connection Client(const Address& address, std::optional<Family> family, AuthKey authkey) {
    if (address.empty()) throw ValueError("Client needs an address");
    Family f = resolve_family(address, family);
    auto key = authkey.resolve();
    Connection conn = detail::connect_socket(address, f);
    if (key) {
        try {
            answer_challenge(conn, *key);
            deliver_challenge(conn, *key);
        } catch (...) {
            conn.close();
            throw;
        }
    }
    return conn;
}

Connection Client(const Address& address, AuthKey authkey) {
    return Client(address, std::nullopt, std::move(authkey));
}

}  // namespace mproc::connection
