// A test start method whose processes share no memory and no semaphores (as
// the MPI backend's processes on other hosts will not): it forks like fork,
// but declares only the capabilities it has, so the core must refuse a Lock,
// a Value or a Queue made with it, naming the start method. Its connections
// cross into other processes through its own carrier (ConnectionImpl::carrier
// and ContextBackend::attach_connection), as a backend whose connections are
// not OS handles would carry them.
#include <stdexcept>

#include <mproc/errors.hpp>
#include <mproc/plugin/abi.hpp>
#include <mproc/plugin/backend.hpp>
#include <mproc/plugin/posix/fd_connection.hpp>
#include <mproc/plugin/posix/fork.hpp>

#include "posix_process.hpp"

namespace {

using mproc::plugin::ConnectionImpl;
using mproc::plugin::NativeHandle;

// An fd connection that says it is carried by this backend: it encodes its
// descriptors as handle slots itself (only where handles can travel).
class CarriedConnection final : public ConnectionImpl {
  public:
    explicit CarriedConnection(std::unique_ptr<ConnectionImpl> inner) : inner_(std::move(inner)) {}
    void write_all(std::span<const std::byte> head, std::span<const std::byte> body) override {
        inner_->write_all(head, body);
    }
    bool read_exact(std::span<std::byte> out) override { return inner_->read_exact(out); }
    bool poll(mproc::Timeout timeout) override { return inner_->poll(timeout); }
    NativeHandle wait_handle() const override { return inner_->wait_handle(); }
    std::vector<NativeHandle> native_handles() const override { return inner_->native_handles(); }
    void close() noexcept override { inner_->close(); }
    std::size_t buffered() const override { return inner_->buffered(); }
    std::vector<std::byte> peek_buffered() const override { return inner_->peek_buffered(); }
    void prime(std::span<const std::byte> data) override { inner_->prime(data); }
    std::string_view carrier() const override { return "noshare"; }
    void encode(mproc::Encoder& e) const override {
        if (e.handles == nullptr)
            throw mproc::ValueError("noshare connections cross only as Process arguments");
        auto handles = inner_->native_handles();
        e.begin_array(2);
        e.write_str("noshare-fds");
        e.begin_array(handles.size());
        for (auto h : handles) e.write_handle(e.handles->add(h));
    }

  private:
    std::unique_ptr<ConnectionImpl> inner_;
};

class NoShare final : public mproc::plugin::ContextBackend {
  public:
    std::string_view name() const override { return "noshare"; }
    mproc::plugin::Capabilities capabilities() const override {
        using mproc::plugin::Capability;
        return {Capability::runs_closures, Capability::fd_handles, Capability::pollable_sentinels,
                Capability::handle_passing};
    }
    std::unique_ptr<mproc::plugin::ProcessHandle> start(
        const mproc::plugin::LaunchRequest& req) override {
        auto child = std::make_unique<mproc::posix::PosixProcess>();
        child->attach(mproc::plugin::fork_and_run(req));
        return child;
    }
    std::pair<std::unique_ptr<ConnectionImpl>, std::unique_ptr<ConnectionImpl>> make_pipe(
        bool duplex) override {
        auto [a, b] = mproc::plugin::make_fd_pipe(duplex);
        return {std::make_unique<CarriedConnection>(std::move(a)),
                std::make_unique<CarriedConnection>(std::move(b))};
    }
    std::unique_ptr<ConnectionImpl> attach_connection(mproc::Decoder& d) override {
        if (d.read_array() != 2 || d.read_str() != "noshare-fds")
            throw mproc::SerializationError("not a noshare connection");
        std::size_t n = d.read_array();
        if (n < 1 || n > 2) throw mproc::SerializationError("a noshare connection has 1 or 2 fds");
        int fd[2] = {-1, -1};
        for (std::size_t i = 0; i < n; ++i) fd[i] = int(d.handles->get(d.read_handle()));
        return std::make_unique<CarriedConnection>(
            mproc::plugin::make_fd_connection(fd[0], n == 2 ? fd[1] : fd[0]));
    }
    // What its capabilities say it has not: the core never calls these.
    std::unique_ptr<mproc::plugin::SharedMemoryImpl> make_shared_memory(std::size_t) override {
        throw std::logic_error("noshare: make_shared_memory called despite its capabilities");
    }
    std::unique_ptr<mproc::plugin::SharedMemoryImpl> attach_shared_memory(NativeHandle,
                                                                          std::size_t) override {
        throw std::logic_error("noshare: attach_shared_memory called despite its capabilities");
    }
    std::size_t semaphore_state_size() const override { return 0; }
    std::unique_ptr<mproc::plugin::SemaphoreImpl> make_semaphore(std::span<std::byte>,
                                                                 mproc::plugin::SemaphoreKind, int,
                                                                 int) override {
        throw std::logic_error("noshare: make_semaphore called despite its capabilities");
    }
    std::unique_ptr<mproc::plugin::SemaphoreImpl> attach_semaphore(std::span<std::byte>) override {
        throw std::logic_error("noshare: attach_semaphore called despite its capabilities");
    }
};

}  // namespace

MPROC_PLUGIN_DEFINE(start_method, "noshare", NoShare)
