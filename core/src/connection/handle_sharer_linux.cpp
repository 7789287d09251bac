// The handle sharer on Linux: an abstract Unix socket made on first use; a
// receiver connects, proves it runs as the same user (SO_PEERCRED) and knows
// the 16-byte random key, and gets the descriptors by SCM_RIGHTS. Each key
// is served once. A thread serves the socket only while handles wait to be
// fetched: it decides to end when it hands out the last one, and is joined
// before the next start, before a fork (so that a fork rarely copies a
// process with this thread in it) and at the normal end of the process.
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <system_error>
#include <thread>

#include <fmt/format.h>

#include <mproc/errors.hpp>
#include <mproc/plugin/backend.hpp>
#include <mproc/plugin/posix/fd_connection.hpp>

#include "base/fork_guard.hpp"
#include "connection/handle_sharer.hpp"
#include "process/authkey.hpp"
#include "process/exit_hooks.hpp"

namespace mproc::detail {

namespace {

constexpr std::size_t key_size = 16;
constexpr std::size_t max_handles = plugin::max_passed_handles;

[[noreturn]] void fail(const char* what) {
    throw std::system_error(errno, std::generic_category(), what);
}

sockaddr_un abstract_address(const std::string& name, socklen_t& len) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    addr.sun_path[0] = '\0';  // abstract: no file to clean up
    std::memcpy(addr.sun_path + 1, name.data(), std::min(name.size(), sizeof addr.sun_path - 2));
    len = socklen_t(offsetof(sockaddr_un, sun_path) + 1 + name.size());
    return addr;
}

class Sharer {
  public:
    SharedHandles share(std::span<const std::intptr_t> handles) {
        if (handles.size() > max_handles)
            throw ValueError(fmt::format("at most {} handles can be shared at once", max_handles));
        register_hooks();
        std::lock_guard lock(mutex_);
        ensure_running();
        std::vector<int> dups;
        for (auto h : handles) {
            int d = ::fcntl(int(h), F_DUPFD_CLOEXEC, 0);
            if (d < 0) {
                for (int x : dups) ::close(x);
                fail("dup of a shared handle");
            }
            dups.push_back(d);
        }
        auto key = random_bytes(key_size);
        table_[std::string(reinterpret_cast<const char*>(key.data()), key.size())] =
            std::move(dups);
        if (!serving_) {
            join_finished();
            serving_ = true;
            thread_ = new std::thread([this] { serve(); });
        }
        return {name_, key};
    }

    // At the end of the process that started the thread: stop and join it,
    // close what was never fetched.
    void stop() {
        std::unique_lock lock(mutex_);
        if (owner_ != ::getpid() || listener_ < 0) return;
        ::shutdown(listener_, SHUT_RDWR);  // wakes accept()
        std::thread* t = std::exchange(thread_, nullptr);
        lock.unlock();
        if (t != nullptr) t->join();
        delete t;
        lock.lock();
        serving_ = false;
        ::close(listener_);
        listener_ = -1;
        for (auto& [k, fds] : table_)
            for (int fd : fds) ::close(fd);
        table_.clear();
    }

  private:
    void ensure_running() {
        if (owner_ != ::getpid()) {
            // A fork child: the thread is not here, the socket and the
            // duplicates are the parent's to serve.
            if (listener_ >= 0) ::close(listener_);
            for (auto& [k, fds] : table_)
                for (int fd : fds) ::close(fd);
            table_.clear();
            listener_ = -1;
            thread_ = nullptr;  // the parent's thread object; not ours to join
            serving_ = false;
            owner_ = ::getpid();
        }
        if (listener_ >= 0) return;
        auto suffix = random_bytes(8);
        name_ = fmt::format("mproc-sharer-{}-", ::getpid());
        for (auto b : suffix) name_ += fmt::format("{:02x}", std::to_integer<unsigned>(b));
        int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s < 0) fail("socket");
        socklen_t len;
        auto addr = abstract_address(name_, len);
        if (::bind(s, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(s, 64) != 0) {
            int e = errno;
            ::close(s);
            errno = e;
            fail("handle sharer socket");
        }
        listener_ = s;
    }

    // Registers the exit and fork hooks, once; not under mutex_ (the exit
    // hooks' own mutex is taken before a fork, so no order between the two).
    static void register_hooks() {
        static const bool done = [] {
            detail::at_process_exit([] { instance().stop(); });
            ::pthread_atfork([] { instance().join_if_finishing(); }, nullptr, nullptr);
            return true;
        }();
        (void)done;
    }

    // Joins a thread that has decided to end (the caller holds mutex_).
    void join_finished() {
        if (thread_ != nullptr && !serving_) {
            thread_->join();
            delete thread_;
            thread_ = nullptr;
        }
    }

    void join_if_finishing() {
        std::lock_guard lock(mutex_);
        if (owner_ == ::getpid()) join_finished();
    }

    void serve() {
        for (;;) {
            int c = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
            if (c < 0) {
                if (errno == EINTR || errno == ECONNABORTED) continue;
                return;  // shut down
            }
            bool last = answer(c);
            ::close(c);
            if (last) return;
        }
    }

    // Serves one request; true if that was the last handle waiting (then
    // the thread ends: serving_ is already false).
    bool answer(int c) {
        ucred cred{};
        socklen_t clen = sizeof cred;
        if (::getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &clen) != 0 || cred.uid != ::getuid())
            return false;
        std::array<char, key_size> key{};
        std::size_t got = 0;
        while (got < key.size()) {
            pollfd p{c, POLLIN, 0};
            if (::poll(&p, 1, 5000) <= 0) return false;  // a silent peer does not hold us up
            ssize_t n = ::read(c, key.data() + got, key.size() - got);
            if (n <= 0) return false;
            got += std::size_t(n);
        }
        std::vector<int> fds;
        bool last;
        {
            std::lock_guard lock(mutex_);
            auto it = table_.find(std::string(key.data(), key.size()));
            if (it == table_.end()) return false;
            fds = std::move(it->second);
            table_.erase(it);
            // Decided before the receiver gets its handles, so that whatever
            // the receiver does next finds the thread already ending.
            last = table_.empty();
            if (last) serving_ = false;
        }
        const std::byte ok{1};
        (void)plugin::send_with_handles(c, std::span(&ok, 1), fds);
        for (int fd : fds) ::close(fd);  // the receiver has its own now
        return last;
    }

  public:
    static Sharer& instance() {
        static auto* s = new Sharer();  // used until the very end of exit
        return *s;
    }

  private:
    ForkGuardedMutex mutex_;
    pid_t owner_ = ::getpid();
    int listener_ = -1;
    std::thread* thread_ = nullptr;  // serves while serving_; joined later
    bool serving_ = false;
    std::string name_;
    std::map<std::string, std::vector<int>> table_;
};

}  // namespace

SharedHandles share_handles(std::span<const std::intptr_t> handles) {
    return Sharer::instance().share(handles);
}

std::vector<std::intptr_t> fetch_handles(const SharedHandles& from, std::size_t count) {
    if (count == 0 || count > max_handles || from.key.size() != key_size ||
        from.address.size() > sizeof(sockaddr_un::sun_path) - 2)
        throw SerializationError("malformed shared-handle reference");
    int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) fail("socket");
    socklen_t len;
    auto addr = abstract_address(from.address, len);
    auto gone = [&](const char* why) {
        ::close(s);
        throw ProcessError(fmt::format(
            "cannot receive the Connection: {} (the sending process must still run)", why));
    };
    if (::connect(s, reinterpret_cast<sockaddr*>(&addr), len) != 0) gone("its sender is gone");
    if (::send(s, from.key.data(), from.key.size(), MSG_NOSIGNAL) != ssize_t(from.key.size()))
        gone("its sender closed the connection");
    std::byte ok{0};
    std::vector<std::intptr_t> out;
    long n = plugin::recv_with_handles(s, std::span(&ok, 1), out);
    ::close(s);
    if (n != 1 || ok != std::byte{1} || out.size() != count) {
        for (auto fd : out) ::close(int(fd));
        throw ProcessError("cannot receive the Connection: its sender refused or already gave it");
    }
    return out;
}

}  // namespace mproc::detail
