// Registered types (BaseManager::register_): a servant over a C++ object
// and its exposed methods, named once; and the server run in this process
// (get_server().serve_forever()).
#include <fmt/format.h>

#include <mproc/managers.hpp>
#include <mproc/serializer.hpp>

#include "managers/manager_impl.hpp"
#include "managers/servant.hpp"
#include "managers/server.hpp"

namespace mproc {

namespace managers::detail {

Encoder& scratch_encoder() {
    thread_local auto e = default_serializer().make_encoder();
    return *e;
}

Decoder& scratch_decoder() {
    thread_local auto d = default_serializer().make_decoder();
    return *d;
}

void wrong_arg_count(std::string_view name, std::size_t want, std::size_t got) {
    throw TypeError("TypeError", fmt::format("{}() takes {} argument{} ({} given)", name, want,
                                             want == 1 ? "" : "s", got));
}

namespace {

using Methods = std::vector<MethodEntry>;

// Calls on one referent are serialized (a C++ object need not be
// thread-safe); Python does not serialize them.
class CustomServant final : public GuardedServant {
  public:
    CustomServant(std::string type_id, std::shared_ptr<void> self,
                  std::shared_ptr<const Methods> methods)
        : type_id_(std::move(type_id)), self_(std::move(self)), methods_(std::move(methods)) {}

    object call(std::string_view m, list& a, CallContext& cx) override {
        for (auto& e : *methods_)
            if (e.name == m) {
                if (!e.produce) {
                    std::lock_guard g(mu_);
                    return e.fn(self_.get(), a);
                }
                std::pair<std::shared_ptr<void>, const std::type_info*> made;
                {
                    std::lock_guard g(mu_);
                    made = e.produce(self_.get(), a);
                }
                cx.produced.emplace(e.result_typeid, cx.server->wrap(e.result_typeid, made));
                return None;
            }
        not_exposed(m);
    }
    std::string repr_locked() const override {
        return fmt::format("<{} object at {}>", type_id_, fmt::ptr(self_.get()));
    }
    std::vector<std::string_view> exposed() const override {
        std::vector<std::string_view> v;
        for (auto& e : *methods_) v.push_back(e.name);
        return v;
    }
    std::string_view type_name() const override { return type_id_; }

  private:
    std::string type_id_;
    std::shared_ptr<void> self_;
    std::shared_ptr<const Methods> methods_;
};

}  // namespace

void register_type(std::string_view registry, std::string type_id, TypeEntry entry) {
    auto methods = std::make_shared<const Methods>(std::move(entry.methods));
    TypeSlot slot;
    if (auto factory = std::move(entry.factory))
        slot.factory = [type_id, methods, factory](list& args, CallContext&) {
            return std::shared_ptr<Servant>(
                std::make_shared<CustomServant>(type_id, factory(args), methods));
        };
    slot.create_method = entry.create_method;
    slot.type = entry.type;
    slot.wrap = [type_id, methods](std::shared_ptr<void> self) {
        return std::shared_ptr<Servant>(
            std::make_shared<CustomServant>(type_id, std::move(self), methods));
    };
    mutable_registry(registry)[type_id] = std::move(slot);
}

void register_builtin(std::string_view registry, std::string type_id, std::string builtin,
                      bool shared) {
    auto it = sync_registry().find(builtin);
    if (it == sync_registry().end())
        throw ValueError(fmt::format("mproc: no SyncManager type {}", object(builtin).repr()));
    auto make = it->second;
    if (!shared) {
        mutable_registry(registry)[type_id] = make;
        return;
    }
    auto once = std::make_shared<std::pair<std::mutex, std::shared_ptr<Servant>>>();
    mutable_registry(registry)[type_id] = [make, once](list& args, CallContext& cx) {
        std::lock_guard g(once->first);
        if (!once->second) once->second = make(args, cx);
        return once->second;
    };
}

}  // namespace managers::detail

struct BaseManager::Server::Impl {
    std::unique_ptr<managers::detail::Server> server;
};

BaseManager::Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BaseManager::Server::Server(Server&&) noexcept = default;
BaseManager::Server::~Server() = default;

void BaseManager::Server::serve_forever() {
    impl_->server->serve_forever(0);
}

const connection::Address& BaseManager::Server::address() const {
    return impl_->server->address();
}

BaseManager::Server BaseManager::get_server() {
    if (!impl_) throw ValueError("mproc: use of a moved-from manager");
    auto impl = std::make_unique<Server::Impl>();
    impl->server = std::make_unique<managers::detail::Server>(
        managers::detail::registry_for(class_name()), impl_->address, impl_->authkey);
    impl_->address = impl->server->address();
    return Server(std::move(impl));
}

}  // namespace mproc
