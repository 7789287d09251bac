// mproc::wait and the poll helpers on POSIX poll(2).
#include <mproc/wait.hpp>

#include <poll.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <system_error>

#include <mproc/plugin/backend.hpp>

#include "base/poll_linux.hpp"

namespace mproc {

namespace detail {

namespace {

// poll() with Python's timeout rules, EINTR retried; the number of ready
// entries (0 on timeout).
int poll_until(pollfd* pfds, std::size_t n, Timeout timeout) {
    using clock = std::chrono::steady_clock;
    std::optional<clock::time_point> deadline;
    if (timeout) {
        auto t = std::max(timeout->count(), 0.0);  // negative means zero, as in Python
        deadline = clock::now() +
                   std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(t));
    }
    for (;;) {
        int ms = -1;
        if (deadline) {
            auto left = std::chrono::duration<double, std::milli>(*deadline - clock::now()).count();
            ms = left <= 0 ? 0 : int(std::min(std::ceil(left), 2147483647.0));
        }
        int r = ::poll(pfds, n, ms);
        if (r < 0) {
            if (errno == EINTR) continue;
            throw std::system_error(errno, std::generic_category(), "poll");
        }
        if (r > 0 || ms == 0) return r;
        if (deadline && clock::now() >= *deadline) return 0;
    }
}

}  // namespace

std::vector<std::size_t> poll_readable(std::span<const int> fds, Timeout timeout) {
    std::vector<pollfd> pfds(fds.size());
    for (std::size_t i = 0; i < fds.size(); ++i) pfds[i] = {fds[i], POLLIN, 0};
    std::vector<std::size_t> ready;
    if (poll_until(pfds.data(), pfds.size(), timeout) > 0)
        for (std::size_t i = 0; i < pfds.size(); ++i)
            if (pfds[i].revents != 0) ready.push_back(i);
    return ready;
}

// Allocates nothing: a fork parent joining its child writes no heap page for
// it.
bool poll_readable(int fd, Timeout timeout) {
    pollfd p{fd, POLLIN, 0};
    return poll_until(&p, 1, timeout) > 0;
}

}  // namespace detail

std::intptr_t Waitable::native_handle() const {
    if (auto* c = connection()) return c->fileno();
    if (auto* s = sentinel()) return s->handle;
    return std::get<RawHandle>(object_).handle;
}

namespace {

// Bytes a connection has already read ahead: such a connection is ready
// whatever its fd says.
std::size_t read_ahead(const Connection& c) {
    return c.impl() ? c.impl()->buffered() : 0;
}
std::size_t read_ahead(const Waitable& w) {
    return w.connection() ? read_ahead(*w.connection()) : 0;
}

// The objects among `objects` that are ready within timeout, in order.
template <class T, class Handle>
std::vector<T> ready_among(std::span<const T> objects, Timeout timeout, Handle handle_of) {
    std::vector<int> fds;
    fds.reserve(objects.size());
    bool any_buffered = false;
    for (const auto& o : objects) {
        fds.push_back(int(handle_of(o)));
        any_buffered = any_buffered || read_ahead(o) > 0;
    }
    auto polled =
        detail::poll_readable(fds, any_buffered ? Timeout(std::chrono::seconds(0)) : timeout);
    std::vector<T> out;
    for (std::size_t i = 0, k = 0; i < objects.size(); ++i) {
        bool ready_fd = k < polled.size() && polled[k] == i;
        if (ready_fd) ++k;
        if (ready_fd || read_ahead(objects[i]) > 0) out.push_back(objects[i]);
    }
    return out;
}

}  // namespace

std::vector<Waitable> wait(std::span<const Waitable> objects, Timeout timeout) {
    return ready_among(objects, timeout, [](const Waitable& w) { return w.native_handle(); });
}

std::vector<Connection> wait(const std::vector<Connection>& connections, Timeout timeout) {
    return ready_among(std::span<const Connection>(connections), timeout,
                       [](const Connection& c) { return c.fileno(); });
}

}  // namespace mproc
