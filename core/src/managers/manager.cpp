// BaseManager and SyncManager: starting, connecting to and shutting down a
// manager's server.
#include <fmt/format.h>

#include <mproc/managers.hpp>
#include <mproc/process.hpp>

#include "managers/client.hpp"
#include "managers/manager_impl.hpp"
#include "managers/protocol.hpp"
#include "managers/server.hpp"

namespace mproc {

namespace md = managers::detail;

namespace {
bytes resolve_key(const connection::AuthKey& k) {
    auto key = k.resolve_or_process_key();  // Python: authkey=None is the process's
    if (!key) throw ValueError("mproc: a manager needs an authkey (no_authentication given)");
    return *key;
}
}  // namespace

BaseManager::BaseManager() : BaseManager(get_context()) {}

BaseManager::BaseManager(connection::Address address, connection::AuthKey authkey)
    : BaseManager(get_context(), std::move(address), std::move(authkey)) {}

BaseManager::BaseManager(const Context& ctx, connection::Address address,
                         connection::AuthKey authkey)
    : impl_(std::make_unique<md::ManagerImpl>()) {
    impl_->ctx = ctx;
    impl_->address = std::move(address);
    impl_->authkey = resolve_key(authkey);
}

BaseManager::BaseManager(BaseManager&&) noexcept = default;
BaseManager& BaseManager::operator=(BaseManager&& other) noexcept {
    if (this != &other) {
        try {
            shutdown();
        } catch (...) {
        }
        impl_ = std::move(other.impl_);
    }
    return *this;
}

BaseManager::~BaseManager() {
    try {
        shutdown();
    } catch (...) {
    }
}

void BaseManager::start() {
    start_with({}, {});
}

std::string BaseManager::start_method() const {
    if (!impl_) throw ValueError("mproc: use of a moved-from manager");
    return std::string(impl_->ctx->get_start_method());
}

void BaseManager::start_with(bytes initializer, std::function<void()> local_initializer) {
    if (!impl_) throw ValueError("mproc: use of a moved-from manager");
    if (impl_->process) throw ProcessError("mproc: the manager was already started");
    auto [reader, writer] = impl_->ctx->Pipe(false);
    auto [control_r, control_w] = impl_->ctx->Pipe(false);
    // A fork child runs the callable at this address in its copy of our memory.
    const auto local = local_initializer
                           ? std::int64_t(reinterpret_cast<std::intptr_t>(&local_initializer))
                           : std::int64_t(0);
    auto p = impl_->ctx->Process(ProcessOptions{.daemon = true}, &md::run_server, writer, control_r,
                                 impl_->authkey, std::int64_t(md::os::current_pid()),
                                 md::address_to_object(impl_->address), std::string(class_name()),
                                 std::move(initializer), local);
    // Python names the server "SyncManager-N" with the process counter's N.
    const auto name = p.name();
    p.set_name(std::string(class_name()) + name.substr(name.find('-')));
    p.start();
    writer.close();
    control_r.close();
    impl_->control = control_w;
    impl_->process.emplace(std::move(p));
    object reply;
    try {
        if (!reader.poll(std::chrono::seconds(60)))
            throw ManagerError("the manager's server did not report its address within 60 s");
        reply = reader.recv<object>();
    } catch (const EOFError&) {
        impl_->process->join(std::chrono::seconds(5));
        throw ManagerError(
            fmt::format("the manager's server ended before it listened (exit code {})",
                        impl_->process->exitcode().value_or(0)));
    } catch (...) {
        impl_->process->kill();
        impl_->process->join();
        throw;
    }
    if (auto* l = reply.get_if<list>(); l && !l->empty() && (*l)[0] == object(md::kind_error)) {
        impl_->process->join();
        throw ManagerError("the manager's server " +
                           (l->size() > 1 ? (*l)[1].str() : std::string("failed")));
    }
    impl_->address = md::address_from_object(reply);
}

void BaseManager::connect() {
    if (!impl_) throw ValueError("mproc: use of a moved-from manager");
    impl_->session.reset();
    auto& s = impl_->session_now();
    try {
        s.anchor_call("dummy", {});
    } catch (const ManagerError&) {
        // A connection left from a server that went away failed (and was
        // closed): connect afresh, to a server restarted at the address.
        s.anchor_call("dummy", {});
    }
}

void BaseManager::shutdown() {
    if (!impl_ || !impl_->process || impl_->shut_down) return;
    impl_->shut_down = true;
    auto& p = *impl_->process;
    if (p.is_alive()) {
        try {
            impl_->control.send_bytes(std::string_view("x"));
        } catch (const std::exception&) {  // gone already; or ask over a connection
            try {
                auto c = connection::Client(impl_->address, connection::AuthKey(impl_->authkey));
                c.send(object(list{None, "shutdown", list{}}));
                c.recv<object>();
            } catch (const std::exception&) {
            }
        }
        impl_->control.close();
        p.join(std::chrono::seconds(1));
        if (p.is_alive()) {
            p.terminate();
            p.join(std::chrono::milliseconds(100));
            if (p.is_alive()) {
                p.kill();
                p.join();
            }
        }
    } else {
        p.join();
    }
}

void BaseManager::join(Timeout timeout) {
    if (impl_ && impl_->process) impl_->process->join(timeout);
}

const connection::Address& BaseManager::address() const {
    if (!impl_) throw ValueError("mproc: use of a moved-from manager");
    return impl_->address;
}

std::string BaseManager::process_name() const {
    return impl_ && impl_->process ? impl_->process->name() : std::string();
}

std::optional<int> BaseManager::pid() const {
    return impl_ && impl_->process ? impl_->process->pid() : std::nullopt;
}

std::shared_ptr<md::ProxyState> BaseManager::_create(std::string_view type_id, list args) {
    if (!impl_) throw ValueError("mproc: use of a moved-from manager");
    auto& s = impl_->session_now();
    const auto id = s.anchor_call("create", list{std::string(type_id), std::move(args)});
    return md::created_state(s.shared_from_this(), std::string(type_id), id.as<std::int64_t>());
}

std::size_t BaseManager::_number_of_objects() {
    if (!impl_) throw ValueError("mproc: use of a moved-from manager");
    return std::size_t(
        impl_->session_now().anchor_call("number_of_objects", {}).as<std::int64_t>());
}

std::string BaseManager::_debug_info() {
    if (!impl_) throw ValueError("mproc: use of a moved-from manager");
    return impl_->session_now().anchor_call("debug_info", {}).as<std::string>();
}

SyncManager Manager() {
    SyncManager m;
    m.start();
    return m;
}

}  // namespace mproc
