// send_handle / recv_handle and DupFd (Python's multiprocessing.reduction).
#include <mproc/reduction.hpp>

#include <fmt/format.h>

#include <mproc/errors.hpp>

#include "connection/handle_passing.hpp"
#include "connection/handle_sharer.hpp"

namespace mproc {

namespace {

plugin::ConnectionImpl& open_end(Connection& conn, bool for_reading) {
    if (conn.closed()) throw ClosedError("handle is closed");
    if (for_reading && !conn.readable()) throw ValueError("connection is write-only");
    if (!for_reading && !conn.writable()) throw ValueError("connection is read-only");
    return *conn.impl();
}

}  // namespace

void send_handle(Connection& conn, std::intptr_t handle, long /*destination_pid*/) {
    if (handle < 0) throw ValueError("invalid handle");
    detail::pass_handle(open_end(conn, false), int(handle));
}

std::intptr_t recv_handle(Connection& conn) {
    return detail::take_passed_handle(open_end(conn, true));
}

struct DupFd::Owned {
    std::intptr_t fd = -1;
    ~Owned() { detail::close_native_handle(fd); }
};

DupFd::DupFd(std::intptr_t fd) {
    if (fd < 0) throw ValueError("invalid handle");
    *this = adopt(detail::duplicate_handle(fd));
}

DupFd DupFd::adopt(std::intptr_t fd) {
    DupFd d;
    d.fd_ = std::make_shared<Owned>();
    d.fd_->fd = fd;
    return d;
}

std::intptr_t DupFd::detach() {
    if (!*this) throw ClosedError("DupFd holds no descriptor (never given, or detached)");
    return std::exchange(fd_->fd, -1);
}

std::intptr_t DupFd::fileno() const {
    if (!*this) throw ClosedError("DupFd holds no descriptor (never given, or detached)");
    return fd_->fd;
}

DupFd::operator bool() const noexcept {
    return fd_ && fd_->fd >= 0;
}

// [handle] out of band, or [sharer address, key] inside a message.
void codec<DupFd>::encode(Encoder& e, const DupFd& fd) {
    std::intptr_t h = fd.fileno();
    if (e.handles != nullptr) {
        e.begin_array(1);
        e.write_handle(e.handles->add(h));
        return;
    }
    auto shared = detail::share_handles(std::span(&h, 1));
    e.begin_array(2);
    e.write_str(shared.address);
    e.write_bin(shared.key);
}

DupFd codec<DupFd>::decode(Decoder& d) {
    std::size_t items = d.read_array();
    if (items == 1) {
        if (d.handles == nullptr)
            throw SerializationError("a DupFd's handle arrived where handles cannot");
        return DupFd::adopt(d.handles->get(d.read_handle()));
    }
    if (items != 2) throw SerializationError("a DupFd is an array of 1 or 2 items");
    detail::SharedHandles from;
    from.address = std::string(d.read_str());
    auto key = d.read_bin();
    from.key.assign(key.begin(), key.end());
    auto got = detail::fetch_handles(from, 1);
    if (got.size() != 1) throw SerializationError("a DupFd carries one handle");
    return DupFd::adopt(got[0]);
}

}  // namespace mproc
