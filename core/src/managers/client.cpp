// The client side of a manager: sessions, per-thread connections, errors.
#include <atomic>
#include <unordered_map>

#include <fmt/format.h>

#include <mproc/process.hpp>

#include "managers/client.hpp"
#include "managers/protocol.hpp"
#include "managers/server.hpp"
#include "managers/spin.hpp"

namespace mproc::managers::detail {

namespace {

std::atomic<std::uint64_t> next_serial{1};

struct Sessions {
    std::mutex mu;
    int pid = 0;
    std::unordered_map<std::string, std::weak_ptr<Session>> by_address;

    // Forgets the sessions of the parent in a fork child.
    void check_pid() {
        const int now = os::current_pid();
        if (pid != now) {
            by_address.clear();
            pid = now;
        }
    }
};

Sessions& sessions() {
    static auto* s = new Sessions;  // never destroyed: proxies may outlive statics
    return *s;
}

[[noreturn]] void gone(const connection::Address& a, const std::exception& e) {
    throw ManagerError(fmt::format("the manager at {} is gone ({})", a.repr(), e.what()));
}

}  // namespace

// Closes this thread's connections when it ends.
struct ThreadConnections {
    std::vector<std::weak_ptr<Session>> used;
    int pid = 0;
    ~ThreadConnections() {
        if (pid != os::current_pid()) return;
        for (auto& w : used)
            if (auto s = w.lock()) s->forget_thread(std::this_thread::get_id());
    }
};

namespace {
thread_local ThreadConnections thread_connections;
}  // namespace

std::shared_ptr<Session> Session::get(const connection::Address& address, const bytes& authkey) {
    auto& all = sessions();
    std::lock_guard g(all.mu);
    all.check_pid();
    auto& slot = all.by_address[address_key(address)];
    if (auto s = slot.lock(); s && s->authkey_ == authkey) return s;
    auto s = std::make_shared<Session>(address, authkey);
    slot = s;
    return s;
}

std::optional<bytes> Session::known_authkey(const connection::Address& address) {
    auto& all = sessions();
    std::lock_guard g(all.mu);
    all.check_pid();
    auto it = all.by_address.find(address_key(address));
    if (it != all.by_address.end())
        if (auto s = it->second.lock()) return s->authkey_;
    return std::nullopt;
}

Session::Session(connection::Address address, bytes authkey)
    : address_(std::move(address)),
      authkey_(std::move(authkey)),
      pid_(os::current_pid()),
      serial_(next_serial++) {}

Session::~Session() {
    // A copy inherited through fork is the parent's: leave its sockets alone.
    if (pid_ != os::current_pid()) return;
    anchor_.close();
    for (auto& [t, c] : threads_) c.close();
}

void Session::forget_thread(std::thread::id t) noexcept {
    std::lock_guard g(threads_mu_);
    auto it = threads_.find(t);
    if (it == threads_.end()) return;
    it->second.close();
    threads_.erase(it);
}

Connection& Session::thread_connection() {
    const auto me = std::this_thread::get_id();
    {
        std::lock_guard g(threads_mu_);
        auto it = threads_.find(me);
        if (it != threads_.end() && !it->second.closed()) return it->second;
    }
    Connection c = connect();
    auto& tc = thread_connections;
    if (tc.pid != pid_) {
        tc.used.clear();
        tc.pid = pid_;
    }
    std::erase_if(tc.used, [](auto& w) { return w.expired(); });
    tc.used.push_back(weak_from_this());
    std::lock_guard g(threads_mu_);
    return threads_.insert_or_assign(me, std::move(c)).first->second;
}

Connection Session::connect() const {
    try {
        return connection::Client(address_, connection::AuthKey(authkey_));
    } catch (const AuthenticationError&) {
        throw;
    } catch (const std::exception& e) {
        throw ManagerError(
            fmt::format("cannot connect to the manager at {}: {}", address_.repr(), e.what()));
    }
}

object Session::roundtrip(Connection& c, std::optional<std::int64_t> id, std::string_view method,
                          list args, bool* made) const {
    object reply;
    try {
        c.send(object(list{id ? object(*id) : object(None), std::string(method), std::move(args)}));
        spin_until_readable(c);
        reply = c.recv<object>();
    } catch (const EOFError& e) {
        c.close();
        gone(address_, e);
    } catch (const std::system_error& e) {
        c.close();
        gone(address_, e);
    }
    auto* r = reply.get_if<list>();
    if (!r || r->size() != 2 || !(*r)[0].is<std::string>())
        throw ManagerError(
            fmt::format("the manager at {} sent a malformed reply", address_.repr()));
    const auto& kind = (*r)[0].as<std::string>();
    if (kind == kind_return) return std::move((*r)[1]);
    if (kind == kind_proxy) {
        if (made) *made = true;
        return std::move((*r)[1]);
    }
    raise_remote((*r)[1]);
}

object Session::anchor_call(std::string_view method, list args) {
    std::lock_guard g(mu_);
    // First use, or the server went away (a restarted one at the same
    // address is reached again; the references died with the old one).
    if (anchor_.closed()) anchor_ = connect();
    return roundtrip(anchor_, std::nullopt, method, std::move(args));
}

object Session::call(std::optional<std::int64_t> id, std::string_view method, list args,
                     bool* made) {
    return roundtrip(thread_connection(), id, method, std::move(args), made);
}

void Session::decref(std::int64_t id) noexcept {
    try {
        std::lock_guard g(mu_);
        if (anchor_.closed()) return;  // our references went with the connection
        roundtrip(anchor_, std::nullopt, "decref", list{id});
    } catch (...) {
    }
}

ProxyState::~ProxyState() {
    if (session && pid == os::current_pid()) session->decref(token.id);
}

Session& ProxyState::local() {
    const int now = os::current_pid();
    std::lock_guard g(mu);
    if (session && pid == now) return *session;
    // Inherited from another process (fork): take a reference of our own.
    session.reset();
    auto s = Session::get(token.address, authkey);
    s->anchor_call("incref", list{token.id});
    session = std::move(s);
    pid = now;
    return *session;
}

std::shared_ptr<ProxyState> created_state(std::shared_ptr<Session> s, std::string type_id,
                                          std::int64_t id) {
    auto st = std::make_shared<ProxyState>();
    st->token = Token{std::move(type_id), s->address(), id};
    st->authkey = s->authkey();
    st->pid = s->pid();
    st->session = std::move(s);
    return st;
}

std::shared_ptr<ProxyState> adopt_state(Token token, std::optional<bytes> authkey) {
    auto st = std::make_shared<ProxyState>();
    st->token = std::move(token);
    if (!authkey) authkey = Session::known_authkey(st->token.address);
    st->authkey = authkey ? *authkey : current_process().authkey();
    st->local();
    return st;
}

void raise_remote(const object& error) {
    std::string type = "RemoteError", message;
    if (auto* l = error.get_if<list>(); l && l->size() == 2) {
        if (auto* t = (*l)[0].get_if<std::string>()) type = *t;
        if (auto* m = (*l)[1].get_if<std::string>()) message = *m;
    } else {
        message = error.repr();
    }
    if (type == "KeyError") throw KeyError(type, message);
    if (type == "IndexError") throw IndexError(type, message);
    if (type == "AttributeError") throw AttributeError(type, message);
    if (type == "TypeError") throw TypeError(type, message);
    if (type == "ValueError") throw ValueError(message);
    if (type == "Empty") throw Empty(message.empty() ? "queue is empty" : message);
    if (type == "Full") throw Full(message.empty() ? "queue is full" : message);
    if (type == "BrokenBarrierError")
        throw BrokenBarrierError(message.empty() ? "the barrier is broken" : message);
    if (type == "TimeoutError") throw TimeoutError(message);
    throw RemoteError(type, message);
}

}  // namespace mproc::managers::detail
