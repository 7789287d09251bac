// Listener and Client sockets on POSIX: TCP (IPv4, as Python's AF_INET) and
// Unix domain sockets, all close-on-exec.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <system_error>

#include <fmt/format.h>

#include <mproc/errors.hpp>
#include <mproc/plugin/posix/fd_connection.hpp>

#include "base/environment.hpp"
#include "base/poll_linux.hpp"
#include "listener/listener_socket.hpp"

namespace mproc::connection::detail {

namespace env = mproc::env;

namespace {

[[noreturn]] void fail(const std::string& what) {
    throw std::system_error(errno, std::generic_category(), what);
}

// Closes a descriptor unless released (for error paths).
struct FdGuard {
    int fd;
    ~FdGuard() {
        if (fd >= 0) ::close(fd);
    }
    int release() { return std::exchange(fd, -1); }
};

sockaddr_un unix_address(const std::string& path, socklen_t& len) {
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (path.empty()) throw ValueError("an AF_UNIX address must not be empty");
    if (path.size() >= sizeof sa.sun_path)
        throw ValueError(fmt::format("AF_UNIX path too long ({} bytes; at most {})", path.size(),
                                     sizeof sa.sun_path - 1));
    std::memcpy(sa.sun_path, path.data(), path.size());
    // An abstract name ('\0' first) is exactly its bytes; a path ends at its NUL.
    len = socklen_t(offsetof(sockaddr_un, sun_path) + path.size() + (path[0] == '\0' ? 0 : 1));
    return sa;
}

sockaddr_in inet_address(const InetAddress& a) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(a.port);
    if (a.host.empty()) {
        sa.sin_addr.s_addr = htonl(INADDR_ANY);
        return sa;
    }
    addrinfo hints{};
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    int rc = ::getaddrinfo(a.host.c_str(), nullptr, &hints, &res);
    if (rc != 0 || res == nullptr)
        throw std::system_error(
            std::make_error_code(std::errc::address_not_available),
            fmt::format("cannot resolve host '{}' (AF_INET): {}", a.host, ::gai_strerror(rc)));
    sa.sin_addr = reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_addr;
    ::freeaddrinfo(res);
    return sa;
}

Address from_sockaddr(const sockaddr_storage& ss, socklen_t len) {
    if (ss.ss_family == AF_INET) {
        auto& sa = reinterpret_cast<const sockaddr_in&>(ss);
        char host[INET_ADDRSTRLEN] = "";
        ::inet_ntop(AF_INET, &sa.sin_addr, host, sizeof host);
        return InetAddress{host, ntohs(sa.sin_port)};
    }
    auto& sa = reinterpret_cast<const sockaddr_un&>(ss);
    std::size_t n =
        len > offsetof(sockaddr_un, sun_path) ? len - offsetof(sockaddr_un, sun_path) : 0;
    std::string path(sa.sun_path, n);
    if (!path.empty() && path[0] != '\0') path.resize(std::strlen(path.c_str()));
    return Address(std::move(path));
}

// A fresh private directory (mode 0700) for a default AF_UNIX address.
std::string make_private_dir() {
    std::string dir = env::tmpdir().value_or("/tmp") + "/mproc-listener-XXXXXX";
    if (::mkdtemp(dir.data()) == nullptr) fail("mkdtemp " + dir);
    return dir;
}

}  // namespace

SocketListener::SocketListener(const Address& address, Family family, int backlog)
    : family_(family), owner_pid_(::getpid()) {
    int domain = family == Family::af_inet ? AF_INET : AF_UNIX;
    FdGuard fd{::socket(domain, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    if (fd.fd < 0) fail("socket");
    if (family == Family::af_inet) {
        // As Python on POSIX: a restarted server can bind the port at once.
        int one = 1;
        ::setsockopt(fd.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        InetAddress want = address.empty() ? InetAddress{"localhost", 0} : *address.inet();
        sockaddr_in sa = inet_address(want);
        if (::bind(fd.fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0)
            fail(fmt::format("bind to {}", Address(want).repr()));
    } else {
        std::string path;
        if (address.empty()) {
            private_dir_ = make_private_dir();
            path = private_dir_ + "/listener";
        } else {
            path = *address.path();
        }
        socklen_t len = 0;
        sockaddr_un sa;
        try {
            sa = unix_address(path, len);
        } catch (...) {
            if (!private_dir_.empty()) ::rmdir(private_dir_.c_str());
            throw;
        }
        if (::bind(fd.fd, reinterpret_cast<sockaddr*>(&sa), len) != 0) {
            int e = errno;
            if (!private_dir_.empty()) ::rmdir(private_dir_.c_str());
            errno = e;
            fail(fmt::format("bind to {}", Address(path).repr()));
        }
        if (path[0] != '\0') unlink_path_ = path;
    }
    if (::listen(fd.fd, backlog) != 0) {
        int e = errno;
        fd_ = fd.release();
        close();
        errno = e;
        fail("listen");
    }
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getsockname(fd.fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
        int e = errno;
        fd_ = fd.release();
        close();
        errno = e;
        fail("getsockname");
    }
    address_ = from_sockaddr(ss, len);
    fd_ = fd.release();
}

SocketListener::~SocketListener() {
    close();
}

std::optional<std::pair<Connection, Address>> SocketListener::accept(Timeout timeout) {
    if (fd_ < 0) throw ClosedError("listener is closed");
    if (timeout && !mproc::detail::poll_readable(fd_, timeout)) return std::nullopt;
    sockaddr_storage ss{};
    socklen_t len;
    int c;
    do {
        len = sizeof ss;
        c = ::accept4(fd_, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_CLOEXEC);
    } while (c < 0 && (errno == EINTR || errno == ECONNABORTED));
    if (c < 0) fail("accept");
    Address peer = from_sockaddr(ss, len);
    Connection conn(plugin::make_fd_connection(c, c), true, true);
    return std::pair{std::move(conn), std::move(peer)};
}

void SocketListener::close() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    // A forked child's copy must not remove the parent's socket (Python's
    // Finalize is bound to its creating process too).
    if (owner_pid_ == ::getpid()) {
        if (!unlink_path_.empty()) ::unlink(unlink_path_.c_str());
        if (!private_dir_.empty()) ::rmdir(private_dir_.c_str());
    }
    unlink_path_.clear();
    private_dir_.clear();
}

Connection connect_socket(const Address& address, Family family) {
    int domain = family == Family::af_inet ? AF_INET : AF_UNIX;
    FdGuard fd{::socket(domain, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    if (fd.fd < 0) fail("socket");
    int rc;
    if (family == Family::af_inet) {
        sockaddr_in sa = inet_address(*address.inet());
        do rc = ::connect(fd.fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
        while (rc != 0 && errno == EINTR);
    } else {
        socklen_t len = 0;
        sockaddr_un sa = unix_address(*address.path(), len);
        do rc = ::connect(fd.fd, reinterpret_cast<sockaddr*>(&sa), len);
        while (rc != 0 && errno == EINTR);
    }
    if (rc != 0) fail(fmt::format("connect to {}", address.repr()));
    int s = fd.release();
    return Connection(plugin::make_fd_connection(s, s), true, true);
}

void set_receive_timeout(const Connection& conn, Timeout timeout) {
    timeval tv{};
    if (timeout) {
        auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                      std::max(*timeout, std::chrono::duration<double>(0)))
                      .count();
        if (us == 0) us = 1;  // 0 would mean "no timeout"
        tv.tv_sec = us / 1000000;
        tv.tv_usec = us % 1000000;
    }
    if (::setsockopt(int(conn.fileno()), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0)
        fail("setsockopt SO_RCVTIMEO");
}

}  // namespace mproc::connection::detail
