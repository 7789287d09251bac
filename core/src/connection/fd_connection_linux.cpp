// Connection ends over POSIX file descriptors: one writev per message sent,
// exact reads with no buffering (so poll() on the fd tells the truth).
#include <mproc/plugin/posix/fd_connection.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <deque>
#include <mutex>
#include <system_error>

#include <fmt/format.h>

#include <mproc/errors.hpp>

#include "base/poll_linux.hpp"
#include "connection/handle_passing.hpp"

namespace mproc::plugin {

namespace {

[[noreturn]] void throw_errno(const char* what) {
    throw std::system_error(errno, std::generic_category(), what);
}

bool is_socket(int fd) {
    struct stat st {};
    return fd >= 0 && ::fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

class FdConnection final : public ConnectionImpl {
  public:
    FdConnection(int rfd, int wfd)
        : rfd_(rfd),
          wfd_(wfd),
          socket_(is_socket(wfd)),
          rsocket_(rfd == wfd ? socket_ : is_socket(rfd)) {
        if (!socket_ && wfd_ >= 0) ignore_sigpipe_once();
    }
    ~FdConnection() override { close(); }

    void write_all(std::span<const std::byte> head, std::span<const std::byte> body) override {
        if (wfd_ < 0) throw ClosedError("handle is closed");
        // A small message goes out as one contiguous write, which costs the
        // kernel less than gathering it (as Python does below 16 KiB).
        if (head.size() + body.size() <= small_message) {
            std::byte buf[small_message];
            std::memcpy(buf, head.data(), head.size());
            if (!body.empty()) std::memcpy(buf + head.size(), body.data(), body.size());
            return write_iov(iovec{buf, head.size() + body.size()}, iovec{nullptr, 0});
        }
        write_iov(iovec{const_cast<std::byte*>(head.data()), head.size()},
                  iovec{const_cast<std::byte*>(body.data()), body.size()});
    }

  private:
    static constexpr std::size_t small_message = 4096;

    void write_iov(iovec a, iovec b) {
        iovec iov[2] = {a, b};
        int first = 0;
        while (first < 2) {
            ssize_t n;
            if (socket_) {
                msghdr mh{};
                mh.msg_iov = iov + first;
                mh.msg_iovlen = 2 - first;
                n = ::sendmsg(wfd_, &mh, MSG_NOSIGNAL);
            } else if (first == 1 || iov[1].iov_len == 0) {
                n = ::write(wfd_, iov[first].iov_base, iov[first].iov_len);
            } else {
                n = ::writev(wfd_, iov + first, 2 - first);
            }
            if (n < 0) {
                if (errno == EINTR) continue;
                if (errno == EPIPE || errno == ECONNRESET)
                    throw std::system_error(errno, std::generic_category(),
                                            "send: the other end of the connection is closed");
                throw_errno("send");
            }
            auto left = std::size_t(n);
            while (first < 2 && left >= iov[first].iov_len) left -= iov[first++].iov_len;
            if (first < 2) {
                iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + left;
                iov[first].iov_len -= left;
            }
        }
    }

  public:
    bool read_exact(std::span<std::byte> out) override {
        if (rfd_ < 0) throw ClosedError("handle is closed");
        std::size_t got = take_buffered(out);
        while (got < out.size()) {
            std::size_t need = out.size() - got;
            // Small reads go through the read-ahead buffer: one read() then
            // serves many messages. Large ones go straight to their place.
            bool direct = need >= read_ahead_size / 2;
            if (!direct && !buffer_)
                buffer_ = std::make_unique_for_overwrite<std::byte[]>(read_ahead_size);
            std::byte* dst = direct ? out.data() + got : buffer_.get();
            ssize_t n = receive(dst, direct ? need : read_ahead_size);
            if (n < 0) {
                if (errno == EINTR) continue;
                if (errno == ECONNRESET)
                    n = 0;  // a reset peer is an ended stream
                else
                    throw_errno("recv");
            }
            if (n == 0) {
                if (got == 0) return false;
                throw EOFError("end of stream inside a message");
            }
            if (direct) {
                got += std::size_t(n);
            } else {
                begin_ = 0;
                end_ = std::size_t(n);
                got += take_buffered(out.subspan(got));
            }
        }
        return true;
    }

    bool poll(Timeout timeout) override {
        if (rfd_ < 0) throw ClosedError("handle is closed");
        return end_ > begin_ || detail::poll_readable(rfd_, timeout);
    }

    std::size_t buffered() const override { return end_ - begin_; }

    std::vector<std::byte> peek_buffered() const override {
        return {buffer_.get() + begin_, buffer_.get() + end_};
    }

    void prime(std::span<const std::byte> data) override {
        if (data.empty()) return;
        std::size_t size = std::max(read_ahead_size, data.size());
        auto fresh = std::make_unique_for_overwrite<std::byte[]>(size);
        std::memcpy(fresh.get(), data.data(), data.size());
        buffer_ = std::move(fresh);  // prime() comes before any read
        begin_ = 0;
        end_ = data.size();
    }

    NativeHandle wait_handle() const override { return rfd_ >= 0 ? rfd_ : wfd_; }

    std::vector<NativeHandle> native_handles() const override {
        std::vector<NativeHandle> v;
        if (rfd_ >= 0) v.push_back(rfd_);
        if (wfd_ >= 0 && wfd_ != rfd_) v.push_back(wfd_);
        return v;
    }

    void close() noexcept override {
        for (int fd : passed_) ::close(fd);
        passed_.clear();
        begin_ = end_ = 0;
        if (rfd_ >= 0) ::close(rfd_);
        if (wfd_ >= 0 && wfd_ != rfd_) ::close(wfd_);
        rfd_ = wfd_ = -1;
    }

    // send_handle: one byte (the count, as Python's sendfds) with fd attached.
    void send_handle(int fd) {
        if (wfd_ < 0) throw ClosedError("handle is closed");
        if (!socket_)
            throw std::system_error(ENOTSOCK, std::generic_category(),
                                    "send_handle: the connection is not a Unix socket (use a "
                                    "duplex Pipe or an AF_UNIX Listener/Client connection)");
        const std::byte count{1};
        const int fds[1] = {fd};
        if (send_with_handles(wfd_, std::span(&count, 1), fds) != 1) {
            if (errno == EPIPE || errno == ECONNRESET)
                throw std::system_error(errno, std::generic_category(),
                                        "send_handle: the other end of the connection is closed");
            throw_errno("send_handle");
        }
    }

    // recv_handle: the byte, then the descriptor that arrived with it.
    int recv_handle() {
        if (rfd_ < 0) throw ClosedError("handle is closed");
        if (!rsocket_)
            throw std::system_error(ENOTSOCK, std::generic_category(),
                                    "recv_handle: the connection is not a Unix socket");
        std::byte count{};
        if (!read_exact(std::span(&count, 1)))
            throw EOFError("end of stream: the other end of the connection is closed");
        if (passed_.empty())
            throw ProcessError("Invalid data received: no descriptor came with the message");
        int fd = passed_.front();
        passed_.pop_front();
        if (count != std::byte{1}) {
            ::close(fd);
            throw ProcessError(fmt::format(
                "Invalid data received: {} descriptors announced, 1 expected", int(count)));
        }
        return fd;
    }

  private:
    static constexpr std::size_t read_ahead_size = 64 * 1024;

    // One read. On a socket, descriptors sent along (send_handle) are kept
    // in passed_, in order: a plain read would drop (close) them.
    ssize_t receive(std::byte* dst, std::size_t n) {
        if (!rsocket_) return ::read(rfd_, dst, n);
        std::vector<NativeHandle> got;
        long r = recv_with_handles(rfd_, std::span(dst, n), got);
        for (auto h : got) passed_.push_back(int(h));
        return r;
    }

    // Copies what the buffer holds into out; returns how much.
    std::size_t take_buffered(std::span<std::byte> out) {
        std::size_t n = std::min(out.size(), end_ - begin_);
        if (n > 0) {
            std::memcpy(out.data(), buffer_.get() + begin_, n);
            begin_ += n;
        }
        return n;
    }

    int rfd_;
    int wfd_;
    bool socket_;                          // wfd_ is a socket
    bool rsocket_;                         // rfd_ is a socket
    std::deque<int> passed_;               // descriptors received, not yet taken
    std::unique_ptr<std::byte[]> buffer_;  // allocated on the first small read
    std::size_t begin_ = 0, end_ = 0;      // unread bytes: [begin_, end_)
};

std::pair<int, int> make_os_pipe() {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) throw_errno("pipe2");
    return {p[0], p[1]};
}

}  // namespace

// A function-local static rather than std::call_once, which writes two
// thread-local variables on every call (each page a fork parent writes costs
// it a fault): done once, then only read.
void ignore_sigpipe_once() {
    static const bool done = [] {
        struct sigaction old {};
        if (::sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL &&
            !(old.sa_flags & SA_SIGINFO))
            ::signal(SIGPIPE, SIG_IGN);
        return true;
    }();
    (void)done;
}

long send_with_handles(int socket, std::span<const std::byte> data, std::span<const int> handles) {
    if (handles.size() > max_passed_handles) {
        errno = EINVAL;
        return -1;
    }
    iovec iov{const_cast<std::byte*>(data.data()), data.size()};
    std::array<char, CMSG_SPACE(sizeof(int) * max_passed_handles)> control{};
    msghdr mh{};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    if (!handles.empty()) {
        mh.msg_control = control.data();
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * handles.size());
        cmsghdr* c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * handles.size());
        std::memcpy(CMSG_DATA(c), handles.data(), sizeof(int) * handles.size());
    }
    ssize_t n;
    do n = ::sendmsg(socket, &mh, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return long(n);
}

long recv_with_handles(int socket, std::span<std::byte> data, std::vector<NativeHandle>& handles) {
    iovec iov{data.data(), data.size()};
    std::array<char, CMSG_SPACE(sizeof(int) * max_passed_handles)> control{};
    msghdr mh{};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = control.data();
    mh.msg_controllen = control.size();
    ssize_t n;
    do n = ::recvmsg(socket, &mh, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        std::size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < k; ++i) {
            int fd;
            std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            handles.push_back(fd);
        }
    }
    return long(n);
}

bool poll_handle(NativeHandle handle, Timeout timeout) {
    return detail::poll_readable(int(handle), timeout);
}

std::unique_ptr<ConnectionImpl> make_fd_connection(int rfd, int wfd) {
    return std::make_unique<FdConnection>(rfd, wfd);
}

std::pair<std::unique_ptr<ConnectionImpl>, std::unique_ptr<ConnectionImpl>> make_fd_pipe(
    bool duplex) {
    if (!duplex) {
        auto [r, w] = make_os_pipe();
        return {make_fd_connection(r, -1), make_fd_connection(-1, w)};
    }
    // A duplex Pipe is a connected pair of Unix stream sockets, as Python's:
    // handles can cross it (send_handle), and large messages move faster
    // than through two pipes.
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) throw_errno("socketpair");
    return {make_fd_connection(sv[0], sv[0]), make_fd_connection(sv[1], sv[1])};
}

}  // namespace mproc::plugin

namespace mproc::detail {

void pass_handle(plugin::ConnectionImpl& impl, int fd) {
    auto* c = dynamic_cast<plugin::FdConnection*>(&impl);
    if (c == nullptr)
        throw std::system_error(ENOTSOCK, std::generic_category(),
                                "send_handle: the connection is not a Unix socket");
    c->send_handle(fd);
}

int take_passed_handle(plugin::ConnectionImpl& impl) {
    auto* c = dynamic_cast<plugin::FdConnection*>(&impl);
    if (c == nullptr)
        throw std::system_error(ENOTSOCK, std::generic_category(),
                                "recv_handle: the connection is not a Unix socket");
    return c->recv_handle();
}

std::intptr_t duplicate_handle(std::intptr_t fd) {
    int d = ::fcntl(int(fd), F_DUPFD_CLOEXEC, 0);
    if (d < 0) throw std::system_error(errno, std::generic_category(), "DupFd: dup");
    return d;
}

void close_native_handle(std::intptr_t fd) noexcept {
    if (fd >= 0) ::close(int(fd));
}

// The handles arrive in native_handles() order: read end first.
std::unique_ptr<plugin::ConnectionImpl> connection_from_handles(bool readable, bool writable,
                                                                std::intptr_t first,
                                                                std::intptr_t second) {
    int rfd = -1, wfd = -1;
    if (readable && writable) {
        rfd = int(first);
        wfd = second >= 0 ? int(second) : rfd;  // a duplex socket has one fd
    } else if (readable) {
        rfd = int(first);
    } else {
        wfd = int(first);
    }
    return plugin::make_fd_connection(rfd, wfd);
}

}  // namespace mproc::detail
