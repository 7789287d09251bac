// The forkserver start method. One server per program, started on first use
// as a new copy of the program in helper mode (so it holds no state of the
// program but what set_forkserver_preload loads), forks every child on
// request. Each request is one connection to a Unix socket in Linux's
// abstract namespace (nothing on disk, so nothing is left behind when the
// program is killed), under a random name; the server serves only peers of
// its own user (SO_PEERCRED), what a 0700 directory gave before. The client
// sends the bootstrap message with the child's handles (SCM_RIGHTS); the
// server answers the child's pid and, when the child ends, its exit code
// (Python's: status, or -signal) on the same connection, which is the
// child's sentinel.
//
// Each request is authenticated (Python 3.14's forkserver authenticates its
// requests too): the program starts the server with a random key (through a
// pipe, never on the command line) and sends it with each request; the server
// compares it in constant time and answers a wrong one with pid -1, which
// makes start() throw AuthenticationError. Sending the key itself, where
// Python runs an HMAC challenge both ways (three round trips), is as safe
// here: the listening socket was made by the program and handed only to the
// server, so no one else can accept the request and read the key, and a
// Unix socket cannot be sniffed; it costs no round trip.
//
// The server ends when the program does, SIGKILL included: it watches a pipe
// whose write end only the program holds. It ignores SIGINT (Python: "protect
// the process from ^C"), so a Ctrl-C in a terminal leaves it, and the exit
// codes it reports, alone; its children get SIGINT's default action back. If
// the server was killed, the next start() starts a new one; children of the
// dead server report exit code 255.
#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <system_error>
#include <vector>

#include <fmt/format.h>

#include <mproc/errors.hpp>
#include <mproc/plugin/abi.hpp>
#include <mproc/plugin/backend.hpp>
#include <mproc/plugin/posix/fd_connection.hpp>
#include <mproc/plugin/posix/posix_backend.hpp>

#include "exec_launch.hpp"
#include "posix_process.hpp"

namespace {

using mproc::plugin::NativeHandle;

constexpr std::size_t max_handles = mproc::plugin::max_passed_handles;
constexpr std::uint64_t max_payload = std::uint64_t(1) << 30;
constexpr std::size_t authkey_size = 32;  // Python's _AUTHKEY_LEN
constexpr std::int32_t refused = -1;      // the pid answered to a wrong key

[[noreturn]] void fail(const char* what) {
    throw std::system_error(errno, std::generic_category(), what);
}

// Reads exactly n bytes; false at end of stream.
bool read_exact(int fd, void* buf, std::size_t n) {
    auto* p = static_cast<char*>(buf);
    while (n > 0) {
        ssize_t r = ::read(fd, p, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        p += r;
        n -= std::size_t(r);
    }
    return true;
}

struct RequestHeader {
    std::uint64_t payload_size;
    std::uint32_t handle_count;
    std::uint32_t reserved;
    std::array<std::byte, authkey_size> key;  // the server's, if the requester knows it
};

// Compares keys in time independent of where they differ.
bool same_key(std::span<const std::byte> a, std::span<const std::byte> b) {
    if (a.size() != b.size()) return false;
    volatile unsigned char diff = 0;
    for (std::size_t i = 0; i < a.size(); ++i)
        diff = diff | static_cast<unsigned char>(a[i] ^ b[i]);
    return diff == 0;
}

// A child of the server, seen from the program.
class ForkserverProcess final : public mproc::plugin::ProcessHandle {
  public:
    ForkserverProcess(int pid, int sock) : pid_(pid), sock_(sock) {}
    ~ForkserverProcess() override { close(); }

    int pid() const override { return pid_; }

    std::optional<int> poll() override {
        if (done_.load(std::memory_order_acquire)) return code_;
        std::lock_guard lock(mutex_);
        if (done_.load(std::memory_order_relaxed)) return code_;
        if (!mproc::plugin::poll_handle(sock_, std::chrono::seconds(0))) return std::nullopt;
        std::int32_t code;
        code_ = read_exact(sock_, &code, sizeof code) ? code : 255;  // 255: the server died
        done_.store(true, std::memory_order_release);
        return code_;
    }

    std::optional<int> wait(mproc::Timeout timeout) override {
        if (done_.load(std::memory_order_acquire)) return code_;
        if (!mproc::plugin::poll_handle(sock_, timeout)) return std::nullopt;
        return poll();
    }

    void terminate() override { signal(SIGTERM); }
    void kill() override { signal(SIGKILL); }
    void interrupt() override { signal(SIGINT); }
    NativeHandle sentinel() const override { return sock_; }

    void close() noexcept override {
        if (sock_ >= 0) ::close(sock_);
        sock_ = -1;
    }

  private:
    void signal(int sig) {
        if (done_.load(std::memory_order_acquire)) return;
        if (::kill(pid_, sig) != 0 && errno != ESRCH) fail("kill");
    }

    int pid_;
    int sock_;
    std::mutex mutex_;
    std::atomic<bool> done_{false};
    int code_ = 0;
};

// The address of a socket in the abstract namespace (name without its
// leading NUL); returns the address length.
socklen_t abstract_address(const std::string& name, sockaddr_un& addr) {
    addr = {};
    addr.sun_family = AF_UNIX;
    std::size_t n = std::min(name.size(), sizeof addr.sun_path - 1);
    std::memcpy(addr.sun_path + 1, name.data(), n);
    return socklen_t(offsetof(sockaddr_un, sun_path) + 1 + n);
}

class ForkserverBackend final : public mproc::posix::PosixBackend {
  public:
    explicit ForkserverBackend(const mproc::plugin::Host& host) : host_(host) { self_ = this; }
    std::string_view name() const override { return "forkserver"; }
    mproc::plugin::Capabilities capabilities() const override {
        return mproc::plugin::posix_capabilities;
    }

    std::unique_ptr<mproc::plugin::ProcessHandle> start(
        const mproc::plugin::LaunchRequest& req) override {
        if (req.handles.size() > max_handles)
            throw mproc::ValueError(
                fmt::format("a forkserver child can get at most {} handles", max_handles));
        // A server killed a moment ago may still accept and then close the
        // request: then it is replaced and the request made once more.
        for (int attempt = 0;; ++attempt) {
            std::vector<std::byte> key;
            int sock = connect_to_server(key);
            try {
                send_request(sock, req, key);
                std::int32_t pid;
                if (read_exact(sock, &pid, sizeof pid)) {
                    if (pid == refused) {
                        ::close(sock);
                        throw mproc::AuthenticationError(
                            "the forkserver refused the request: wrong authentication key");
                    }
                    return std::make_unique<ForkserverProcess>(pid, sock);
                }
            } catch (const std::system_error&) {
                if (attempt > 0) {
                    ::close(sock);
                    throw;
                }
            }
            ::close(sock);
            if (attempt > 0)
                throw mproc::ProcessError("the forkserver closed the request without a pid");
            std::lock_guard lock(mutex_);
            stop_server();
        }
    }

    int run_helper(int argc, char** argv) override;

    /// The one instance, once made.
    static ForkserverBackend* instance() { return self_; }

    // Exchanges the key this program authenticates with (test hook).
    void swap_authkey(std::vector<std::byte>& key) {
        std::lock_guard lock(mutex_);
        authkey_.swap(key);
    }

  private:
    // Connects to the running server, starting (or restarting) it first;
    // sets key to the one to authenticate with.
    int connect_to_server(std::vector<std::byte>& key) {
        std::lock_guard lock(mutex_);
        for (int attempt = 0; attempt < 2; ++attempt) {
            ensure_running();
            key = authkey_;
            int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (s < 0) fail("socket");
            sockaddr_un addr;
            socklen_t len = abstract_address(socket_name_, addr);
            if (::connect(s, reinterpret_cast<sockaddr*>(&addr), len) == 0) return s;
            int err = errno;
            ::close(s);
            if (err != ECONNREFUSED && err != ENOENT)
                throw std::system_error(err, std::generic_category(), "connect to the forkserver");
            stop_server();  // it died between the check and the connect
        }
        throw mproc::ProcessError("the forkserver could not be started");
    }

    void ensure_running() {
        if (owner_pid_ != ::getpid()) {
            // A fork child inherited its parent's server: leave it (and its
            // socket) to the parent and start one of our own.
            if (alive_w_ >= 0) ::close(alive_w_);
            alive_w_ = -1;
            server_pid_ = -1;
            socket_name_.clear();
            owner_pid_ = ::getpid();
        }
        if (server_pid_ > 0) {
            int st;
            pid_t r = ::waitpid(server_pid_, &st, WNOHANG);
            if (r == 0) return;
            stop_server();
        }
        std::uint64_t nonce[2];
        if (::getrandom(nonce, sizeof nonce, 0) != ssize_t(sizeof nonce)) fail("getrandom");
        socket_name_ =
            fmt::format("mproc-forkserver-{}-{:016x}{:016x}", ::getpid(), nonce[0], nonce[1]);
        int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (listener < 0) fail("socket");
        sockaddr_un addr;
        socklen_t len = abstract_address(socket_name_, addr);
        int alive[2] = {-1, -1}, keypipe[2] = {-1, -1};
        if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
            ::listen(listener, 128) != 0 || ::pipe2(alive, O_CLOEXEC) != 0 ||
            ::pipe2(keypipe, O_CLOEXEC) != 0) {
            int e = errno;
            for (int fd : {listener, alive[0], alive[1]})
                if (fd >= 0) ::close(fd);
            errno = e;
            fail("forkserver socket");
        }
        // The key goes through a pipe (it fits in the pipe's buffer).
        std::vector<std::byte> key(authkey_size);
        if (::getrandom(key.data(), key.size(), 0) != ssize_t(key.size())) key.clear();
        bool key_sent =
            !key.empty() && ::write(keypipe[1], key.data(), key.size()) == ssize_t(key.size());
        ::close(keypipe[1]);
        std::vector<std::string> args{mproc::plugin::helper_flag, "forkserver"};
        for (const auto& lib : host_.forkserver_preload()) args.push_back(lib);
        int pass[3] = {listener, alive[0], keypipe[0]};
        try {
            if (!key_sent) fail("forkserver key");
            server_pid_ = mproc::posix::spawn_program(host_, args, pass);
        } catch (...) {
            for (int fd : {listener, alive[0], alive[1], keypipe[0]}) ::close(fd);
            throw;
        }
        authkey_ = std::move(key);
        ::close(listener);
        ::close(alive[0]);
        ::close(keypipe[0]);
        alive_w_ = alive[1];
        static std::once_flag cleanup_once;
        std::call_once(cleanup_once, [this] { host_.at_process_exit(&stop_at_exit); });
    }

    void stop_server() {
        if (alive_w_ >= 0) ::close(alive_w_);  // a live server sees EOF and exits
        alive_w_ = -1;
        if (server_pid_ > 0) ::waitpid(server_pid_, nullptr, 0);
        server_pid_ = -1;
        socket_name_.clear();
    }

    static void stop_at_exit();

    void send_request(int sock, const mproc::plugin::LaunchRequest& req,
                      std::span<const std::byte> key) {
        RequestHeader h{req.payload.size(), std::uint32_t(req.handles.size()), 0, {}};
        std::copy_n(key.begin(), std::min(key.size(), h.key.size()), h.key.begin());
        std::vector<int> fds(req.handles.begin(), req.handles.end());
        if (mproc::plugin::send_with_handles(sock, std::as_bytes(std::span(&h, 1)), fds) !=
            long(sizeof h))
            fail("send to the forkserver");
        mproc::posix::write_all(sock, req.payload);
    }

    const mproc::plugin::Host& host_;
    static ForkserverBackend* self_;  // the one instance (never destroyed)
    std::mutex mutex_;
    pid_t owner_pid_ = ::getpid();  // the process that started server_pid_
    pid_t server_pid_ = -1;
    int alive_w_ = -1;
    std::string socket_name_;         // in the abstract namespace
    std::vector<std::byte> authkey_;  // the running server's
};

ForkserverBackend* ForkserverBackend::self_ = nullptr;

// At the normal end of the program that started it (main or child): the
// server is told to go and is reaped, so nothing is left running.
void ForkserverBackend::stop_at_exit() {
    auto& b = *self_;
    std::lock_guard lock(b.mutex_);
    if (b.owner_pid_ == ::getpid()) b.stop_server();
}

// ---- the server ----------------------------------------------------------

struct Server {
    const mproc::plugin::Host& host;
    std::vector<std::byte> authkey;
    int listener = 3;
    int alive = 4;
    int signals = -1;
    std::map<pid_t, int> clients;  // child pid -> its request connection

    // Reads one request and forks its child.
    void serve(int client) {
        RequestHeader h{};
        std::vector<NativeHandle> handles;
        long n = mproc::plugin::recv_with_handles(client, std::as_writable_bytes(std::span(&h, 1)),
                                                  handles);
        auto drop = [&] {
            for (auto fd : handles) ::close(int(fd));
            ::close(client);
        };
        std::vector<std::byte> payload;
        if (n != long(sizeof h) || h.payload_size > max_payload ||
            h.handle_count != handles.size()) {
            drop();
            return;
        }
        payload.resize(h.payload_size);
        if (!read_exact(client, payload.data(), payload.size())) {
            drop();
            return;
        }
        if (!same_key(h.key, authkey)) {
            (void)::send(client, &refused, sizeof refused, MSG_NOSIGNAL);
            drop();
            return;
        }
        pid_t pid = ::fork();
        if (pid < 0) {
            drop();
            return;
        }
        if (pid == 0) {
            ::close(listener);
            ::close(alive);
            ::close(signals);
            ::close(client);
            for (auto& [p, fd] : clients) ::close(fd);
            sigset_t none;
            sigemptyset(&none);
            ::sigprocmask(SIG_SETMASK, &none, nullptr);
            ::signal(SIGCHLD, SIG_DFL);
            ::signal(SIGINT, SIG_DFL);  // the server's protection is not the child's
            // As under spawn: the handles at 3, 4, ... and nothing else open.
            int above = 3 + int(handles.size());
            for (auto& fd : handles) fd = ::fcntl(int(fd), F_DUPFD_CLOEXEC, above);
            for (std::size_t i = 0; i < handles.size(); ++i) {
                ::dup3(int(handles[i]), 3 + int(i), O_CLOEXEC);
                handles[i] = 3 + NativeHandle(i);
            }
            ::close_range(unsigned(above), ~0u, 0);
            ::_exit(host.run_exec_child(payload, handles));
        }
        for (auto fd : handles) ::close(int(fd));
        std::int32_t p32 = pid;
        if (::send(client, &p32, sizeof p32, MSG_NOSIGNAL) != ssize_t(sizeof p32)) {
            ::close(client);  // the requester is gone; the child runs on, unreported
            return;
        }
        clients[pid] = client;
    }

    // True if the peer runs as this user: the abstract namespace has no
    // file permissions, so the server checks what a 0700 directory did.
    static bool same_user(int client) {
        ucred cred{};
        socklen_t len = sizeof cred;
        return ::getsockopt(client, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 &&
               cred.uid == ::getuid();
    }

    void reap() {
        signalfd_siginfo info;
        while (::read(signals, &info, sizeof info) == ssize_t(sizeof info)) {
        }
        for (;;) {
            int st;
            pid_t pid = ::waitpid(-1, &st, WNOHANG);
            if (pid <= 0) return;
            auto it = clients.find(pid);
            if (it == clients.end()) continue;
            std::int32_t code = mproc::posix::exitcode_from_status(st);
            (void)::send(it->second, &code, sizeof code, MSG_NOSIGNAL);
            ::close(it->second);
            clients.erase(it);
        }
    }

    int run() {
        sigset_t chld;
        sigemptyset(&chld);
        sigaddset(&chld, SIGCHLD);
        ::sigprocmask(SIG_BLOCK, &chld, nullptr);
        signals = ::signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
        if (signals < 0) fail("signalfd");
        for (;;) {
            pollfd p[3] = {{alive, POLLIN, 0}, {signals, POLLIN, 0}, {listener, POLLIN, 0}};
            if (::poll(p, 3, -1) < 0) {
                if (errno == EINTR) continue;
                fail("poll");
            }
            if (p[0].revents) return 0;  // the program is gone
            if (p[1].revents) reap();
            if (p[2].revents) {
                int c = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
                if (c >= 0 && same_user(c)) {
                    serve(c);
                } else if (c >= 0) {
                    ::close(c);
                }
            }
        }
    }
};

}  // namespace

int ForkserverBackend::run_helper(int argc, char** argv) {
    if (argc < 3) throw mproc::ValueError("forkserver: malformed command line");
    // Python: "protect the process from ^C"; children get the default back.
    ::signal(SIGINT, SIG_IGN);
    constexpr int key_fd = 5;  // after the listener (3) and the alive pipe (4)
    std::vector<std::byte> key(authkey_size);
    if (!read_exact(key_fd, key.data(), key.size()))
        throw mproc::ValueError("forkserver: no authentication key from the program");
    ::close(key_fd);
    for (int i = 3; i < argc; ++i)
        if (::dlopen(argv[i], RTLD_NOW | RTLD_GLOBAL) == nullptr)
            std::fprintf(stderr, "mproc forkserver: cannot preload %s: %s\n", argv[i], ::dlerror());
    host_.default_serializer();  // loaded once here, not in every child
    Server server{host_, std::move(key), 3, 4, -1, {}};
    return server.run();
}

MPROC_PLUGIN_DEFINE(start_method, "forkserver", ForkserverBackend)

// Test hook: exchanges the key this program authenticates to its forkserver
// with the key_size bytes at key (Python's tests patch
// _forkserver._forkserver_authkey the same way). Returns false if the
// forkserver start method is not loaded or no server has been started.
extern "C" __attribute__((visibility("default"))) bool mproc_forkserver_swap_authkey(
    std::byte* key, std::size_t key_size) {
    if (ForkserverBackend::instance() == nullptr || key_size != authkey_size) return false;
    std::vector<std::byte> k(key, key + key_size);
    ForkserverBackend::instance()->swap_authkey(k);
    if (k.size() != key_size) {  // no server yet: put the empty key back
        ForkserverBackend::instance()->swap_authkey(k);
        return false;
    }
    std::copy(k.begin(), k.end(), key);
    return true;
}
