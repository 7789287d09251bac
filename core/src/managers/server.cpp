// The manager's server: accepts on a Listener, authenticates each client in
// its own thread (so a client stalling the handshake delays no one), then
// serves its requests in that thread. Reference counts are kept per
// connection: when a connection ends, even because its process was killed,
// the references it held are dropped.
#include <cstdint>
#include <thread>

#include <fmt/format.h>

#include <mproc/authentication.hpp>
#include <mproc/detail/target.hpp>
#include <mproc/function.hpp>
#include <mproc/managers.hpp>
#include <mproc/serializer.hpp>

#include "managers/protocol.hpp"
#include "managers/server.hpp"
#include "managers/spin.hpp"
#include "process/authkey.hpp"

namespace mproc::managers::detail {

namespace {

// More connections than this are closed at once (each holds a thread).
constexpr int max_connections = 4096;
// A client must complete the handshake within this time.
constexpr std::chrono::seconds handshake_timeout{20};

}  // namespace

Registry& mutable_registry(std::string_view kind) {
    static std::map<std::string, Registry, std::less<>> named;
    auto it = named.find(kind);
    if (it == named.end())
        it = named.emplace(std::string(kind), kind == "SyncManager" ? sync_registry() : Registry{})
                 .first;
    return it->second;
}

namespace {
std::mutex exit_hooks_mutex;
std::vector<std::function<void()>>& exit_hooks() {
    static std::vector<std::function<void()>> hooks;
    return hooks;
}
}  // namespace

void at_server_exit(std::function<void()> fn) {
    std::lock_guard g(exit_hooks_mutex);
    exit_hooks().push_back(std::move(fn));
}

const Registry& registry_for(std::string_view kind) {
    return mutable_registry(kind);
}

Server::Server(const Registry& registry, const connection::Address& address, bytes authkey)
    : registry_(registry),
      authkey_(std::move(authkey)),
      same_user_only_(address.empty()),
      listener_(address.empty() ? os::default_address() : address, std::nullopt, 128,
                connection::no_authentication),
      address_key_(address_key(listener_.address())) {
    // Ids start at a random point, so that a stale proxy of an earlier
    // server at the same address cannot name a new server's referent.
    next_id_ = (std::int64_t(mproc::detail::random_u64()) & 0x7fffffff) << 20 | 1;
}

void Server::serve_forever(int owner_pid, std::intptr_t control_fd) {
    auto [wake_read, wake_write] = os::make_pipe();
    wake_fd_ = wake_write;
    const int owner_fd = owner_pid > 0 ? os::watch_process(owner_pid) : -1;
    for (;;) {
        const auto ready = os::wait_ready(int(listener_.fileno()), owner_fd, owner_pid, wake_read,
                                          int(control_fd));
        if (ready != os::Ready::client) break;
        Connection c;
        try {
            c = listener_.accept(std::chrono::seconds(0));
        } catch (const std::exception&) {
            continue;  // the client went away before we accepted it
        }
        // On its default (abstract) address, anyone on the host could
        // connect: serve only our own user, as a 0700 directory would.
        if (connections_.load() >= max_connections ||
            (same_user_only_ && !os::peer_is_same_user(c.fileno()))) {
            c.close();
            continue;
        }
        static std::atomic<std::uint64_t> next_connection{1};
        ++connections_;
        std::thread([this, c = std::move(c), id = next_connection++]() mutable {
            serve_connection(std::move(c), id);
            --connections_;
        }).detach();
    }
    listener_.close();  // removes the socket file
    {
        std::lock_guard g(exit_hooks_mutex);
        for (auto& hook : exit_hooks()) {
            try {
                hook();
            } catch (...) {
            }
        }
    }
    os::exit_now(0);
}

void Server::serve_connection(Connection c, std::uint64_t id) {
    try {
        connection::deliver_challenge(c, authkey_, "sha256", handshake_timeout);
        connection::answer_challenge(c, authkey_, handshake_timeout);
    } catch (const std::exception&) {
        return;  // wrong key, garbage, silence: the connection closes
    }
    auto& serializer = default_serializer();
    auto enc = serializer.make_encoder();
    auto dec = serializer.make_decoder();
    CallContext cx{id, this, std::nullopt};
    Refs refs;
    for (;;) {
        std::vector<std::byte> message;
        try {
            spin_until_readable(c);
            message = c.recv_bytes(max_message);
        } catch (const std::exception&) {
            break;  // end of stream, or a length past max_message
        }
        object reply;
        bool stop = false;
        try {
            dec->reset(message);
            const object request = decode<object>(*dec);
            cx.produced.reset();
            object result = dispatch(request, cx, refs, stop);
            if (cx.produced) {  // a new referent: this connection holds its first reference
                auto& [type_id, servant] = *cx.produced;
                const auto id = add_referent(type_id, std::move(servant), refs);
                reply = list{std::string(kind_proxy), make_ref(type_id, address(), id)};
                cx.produced.reset();
            } else {
                reply = list{std::string(kind_return), std::move(result)};
            }
        } catch (const PyError& e) {
            reply = list{std::string(kind_error), list{e.type(), std::string(e.what())}};
        } catch (const RemoteError& e) {  // thrown by a registered type's method
            reply = list{std::string(kind_error), list{e.type_name(), e.message()}};
        } catch (const SerializationError& e) {
            reply =
                list{std::string(kind_error), list{"SerializationError", std::string(e.what())}};
        } catch (const ValueError& e) {
            reply = list{std::string(kind_error), list{"ValueError", std::string(e.what())}};
        } catch (const std::exception& e) {
            reply = list{std::string(kind_error), list{"RuntimeError", std::string(e.what())}};
        }
        try {
            enc->clear();
            encode(*enc, reply);
            c.send_bytes(enc->data());
        } catch (const std::exception&) {
            break;
        }
        if (stop) os::wake(wake_fd_);
    }
    std::lock_guard g(mu_);
    for (auto [obj, n] : refs) {
        auto it = objects_.find(obj);
        if (it != objects_.end() && (it->second.refcount -= n) <= 0) objects_.erase(it);
    }
}

object Server::dispatch(const object& request, CallContext& cx, Refs& refs, bool& stop) {
    auto* r = request.get_if<list>();
    if (!r || r->size() != 3 || !(*r)[1].is<std::string>() || !(*r)[2].is<list>())
        throw PyError("ValueError", "malformed manager request: " + request.repr().substr(0, 200));
    const auto& method = (*r)[1].as<std::string>();
    list args = (*r)[2].as<list>();
    pin_refs((*r)[2]);
    if ((*r)[0].is_none()) return server_call(method, args, cx, refs, stop);
    auto* id = (*r)[0].get_if<std::int64_t>();
    if (!id) throw PyError("ValueError", "malformed manager request: bad id");
    std::shared_ptr<Servant> servant;
    {
        std::lock_guard g(mu_);
        auto it = objects_.find(*id);
        if (it == objects_.end())
            throw PyError("KeyError", fmt::format("'referent {} not found (freed?)'", *id));
        servant = it->second.servant;
    }
    if (method == "#GETVALUE") return servant->value();
    if (method == "__repr__") return servant->repr();
    if (method == "__str__") return servant->str();
    return servant->call(method, args, cx);
}

object Server::server_call(std::string_view method, list& args, CallContext& cx, Refs& refs,
                           bool& stop) {
    if (method == "create") {
        auto* type_id = arg(args, 0, method).get_if<std::string>();
        if (!type_id) throw PyError("TypeError", "create(): typeid must be a str");
        auto it = registry_.find(*type_id);
        if (it == registry_.end())
            throw PyError("ValueError", fmt::format("unknown typeid {} (not registered in the "
                                                    "manager's server process)",
                                                    object(*type_id).repr()));
        if (!it->second.create_method || !it->second.factory)
            throw PyError("ValueError",
                          fmt::format("typeid {} has no creation method (registered with "
                                      "create_method=false): a method of another type makes it",
                                      object(*type_id).repr()));
        list create_args;
        if (args.size() > 1 && args[1].is<list>()) create_args = args[1].as<list>();
        return add_referent(*type_id, it->second(create_args, cx), refs);
    }
    if (method == "get_methods") {
        const auto id = arg_int(args, 0, method);
        std::shared_ptr<Servant> servant;
        {
            std::lock_guard g(mu_);
            auto it = objects_.find(id);
            if (it == objects_.end())
                throw PyError("KeyError", fmt::format("'referent {} not found (freed?)'", id));
            servant = it->second.servant;
        }
        list names;
        for (auto n : servant->exposed()) names.emplace_back(std::string(n));
        return names;
    }
    if (method == "incref") {
        incref(arg_int(args, 0, method), refs);
        return None;
    }
    if (method == "decref") {
        decref(arg_int(args, 0, method), refs);
        return None;
    }
    if (method == "number_of_objects") {
        std::lock_guard g(mu_);
        return std::int64_t(objects_.size());
    }
    if (method == "debug_info") {
        std::lock_guard g(mu_);
        std::string out;
        for (auto& [id, e] : objects_)
            out += fmt::format("  {}:       refcount={}\n    {}\n", id, e.refcount,
                               e.servant->repr().substr(0, 75));
        return out;
    }
    if (method == "shutdown") {
        stop = true;
        return None;
    }
    if (method == "dummy") return None;
    throw PyError("AttributeError",
                  fmt::format("the manager has no method {}", object(method).repr()));
}

std::int64_t Server::add_referent(std::string type_id, std::shared_ptr<Servant> servant,
                                  Refs& refs) {
    std::lock_guard g(mu_);
    const std::int64_t id = next_id_++;
    objects_.emplace(id, Entry{std::move(type_id), std::move(servant), 1});
    ++refs[id];
    return id;
}

std::shared_ptr<Servant> Server::wrap(
    const std::string& type_id, std::pair<std::shared_ptr<void>, const std::type_info*> made) {
    auto it = registry_.find(type_id);
    if (it == registry_.end() || !it->second.wrap)
        throw PyError("TypeError",
                      fmt::format("method_to_typeid names {}, which is not a registered C++ type "
                                  "of this manager",
                                  object(type_id).repr()));
    if (!made.first) throw PyError("TypeError", "a method made a null object");
    if (it->second.type && made.second && *it->second.type != *made.second)
        throw PyError("TypeError", fmt::format("a method returned a {}, but typeid {} is "
                                               "registered for another C++ type",
                                               made.second->name(), object(type_id).repr()));
    return it->second.wrap(std::move(made.first));
}

void Server::incref(std::int64_t id, Refs& refs) {
    std::lock_guard g(mu_);
    auto it = objects_.find(id);
    if (it == objects_.end())
        throw PyError("KeyError", fmt::format("'referent {} not found (freed?)'", id));
    ++it->second.refcount;
    ++refs[id];
}

void Server::decref(std::int64_t id, Refs& refs) {
    std::lock_guard g(mu_);
    auto r = refs.find(id);
    if (r == refs.end()) return;  // not this connection's reference
    if (--r->second == 0) refs.erase(r);
    auto it = objects_.find(id);
    if (it != objects_.end() && --it->second.refcount <= 0) objects_.erase(it);
}

// A proxy of ours stored in (or passed to) a referent keeps its referent
// alive until the server ends (Python frees it once removed again).
void Server::pin_refs(const object& o, int depth) {
    if (depth > 64) return;
    if (auto ref = parse_ref(o)) {
        if (address_key(ref->address) != address_key_) return;
        std::lock_guard g(mu_);
        auto it = objects_.find(ref->id);
        if (it != objects_.end() && pinned_.insert(ref->id).second) ++it->second.refcount;
        return;
    }
    if (auto* l = o.get_if<list>())
        for (auto& x : *l) pin_refs(x, depth + 1);
    else if (auto* t = o.get_if<tuple>())
        for (auto& x : *t) pin_refs(x, depth + 1);
    else if (auto* d = o.get_if<dict>())
        for (auto& [k, v] : *d) pin_refs(v, depth + 1);
}

std::shared_ptr<Servant> Server::local_referent(const object& ref) {
    auto r = parse_ref(ref);
    if (!r || address_key(r->address) != address_key_)
        throw PyError("TypeError", "not a proxy of this manager: " + ref.repr());
    std::lock_guard g(mu_);
    auto it = objects_.find(r->id);
    if (it == objects_.end())
        throw PyError("KeyError", fmt::format("'referent {} not found (freed?)'", r->id));
    return it->second.servant;
}

namespace {

// Runs the start() initializer: a callable in our fork-copied memory, or a
// plain function and its arguments encoded with their trampoline.
void run_initializer(const bytes& encoded, std::int64_t local) {
    if (local != 0) {
        (*reinterpret_cast<std::function<void()>*>(static_cast<std::intptr_t>(local)))();
        return;
    }
    if (encoded.empty()) return;
    auto d = default_serializer().make_decoder();
    d->reset(encoded);
    auto trampoline = decode<ExecTrampoline>(*d);
    auto* fn = const_cast<void*>(mproc::detail::decode_code_address(*d, nullptr));
    trampoline(*d, fn);
}

}  // namespace

void run_server(Connection writer, Connection control, bytes authkey, std::int64_t owner_pid,
                object address, std::string kind, bytes initializer,
                std::int64_t local_initializer) {
    os::ignore_sigint();
    try {
        run_initializer(initializer, local_initializer);
    } catch (const std::exception& e) {
        writer.send(
            object(list{std::string(kind_error), std::string("initializer failed: ") + e.what()}));
        writer.close();
        return;
    } catch (...) {
        writer.send(object(list{std::string(kind_error),
                                std::string("initializer failed: an exception that is not a "
                                            "std::exception")}));
        writer.close();
        return;
    }
    std::unique_ptr<Server> server;
    try {
        connection::Address a;
        if (!address.is_none()) a = address_from_object(address);
        server = std::make_unique<Server>(registry_for(kind), a, std::move(authkey));
    } catch (const std::exception& e) {
        writer.send(
            object(list{std::string(kind_error), std::string("could not listen: ") + e.what()}));
        writer.close();
        return;
    }
    writer.send(address_to_object(server->address()));
    writer.close();
    // The owner stops us by writing to (or closing) control: no connection
    // or handshake needed for a quick shutdown.
    server->serve_forever(int(owner_pid), control.fileno());
}

}  // namespace mproc::managers::detail
