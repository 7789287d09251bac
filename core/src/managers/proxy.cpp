// BaseProxy: calls, printable forms, references, and the codec.
#include <fmt/format.h>

#include <mproc/managers.hpp>
#include <mproc/process.hpp>

#include "managers/client.hpp"
#include "managers/protocol.hpp"

namespace mproc {

ManagerError::~ManagerError() = default;
KeyError::~KeyError() = default;
IndexError::~IndexError() = default;
AttributeError::~AttributeError() = default;
TypeError::~TypeError() = default;

namespace md = managers::detail;

namespace {
md::ProxyState& live(const std::shared_ptr<md::ProxyState>& s) {
    if (!s) throw ValueError("mproc: call on an empty proxy");
    return *s;
}
}  // namespace

BaseProxy::BaseProxy(const object& ref) {
    auto r = md::parse_ref(ref);
    if (!r) throw ValueError("mproc: not a proxy reference: " + ref.repr());
    state_ = md::adopt_state(managers::Token{r->type_id, r->address, r->id}, std::nullopt);
}

object BaseProxy::_callmethod(std::string_view method, list args) const {
    auto& s = live(state_);
    return s.local().call(s.token.id, method, std::move(args));
}

std::shared_ptr<md::ProxyState> BaseProxy::_callmethod_proxy(std::string_view method,
                                                             list args) const {
    auto& s = live(state_);
    auto& session = s.local();
    bool made = false;
    object r = session.call(s.token.id, method, std::move(args), &made);
    auto ref = md::parse_ref(r);
    if (!made || !ref)
        throw TypeError("TypeError",
                        fmt::format("method '{}' of typeid {} returns a value, not a new referent "
                                    "(register it as {{name, &T::f, \"Typeid\"}})",
                                    method, object(s.token.type_id).repr()));
    // Our reference is on the anchor connection, which the server counts
    // for this process; then the call connection's first one is dropped.
    auto st = md::adopt_state(managers::Token{ref->type_id, s.token.address, ref->id}, s.authkey);
    session.call(std::nullopt, "decref", list{ref->id});
    return st;
}

std::vector<std::string> BaseProxy::_exposed_() const {
    auto& s = live(state_);
    std::vector<std::string> names;
    const object reply = s.local().anchor_call("get_methods", list{s.token.id});
    for (auto& n : reply.as<list>()) names.push_back(n.as<std::string>());
    return names;
}

object BaseProxy::_getvalue() const {
    return _callmethod("#GETVALUE");
}

const managers::Token& BaseProxy::token() const {
    return live(state_).token;
}

std::string BaseProxy::repr() const {
    auto& s = live(state_);
    return fmt::format("<{} object, typeid {} at {:#x}>", s.cls, object(s.token.type_id).repr(),
                       s.token.id);
}

std::string BaseProxy::str() const {
    try {
        return _callmethod("__str__").as<std::string>();
    } catch (const ManagerError&) {
        return repr() + "; '__str__()' failed>";
    }
}

object BaseProxy::ref() const {
    auto& s = live(state_);
    return md::make_ref(s.token.type_id, s.token.address, s.token.id);
}

bool operator==(const BaseProxy& a, const BaseProxy& b) {
    if (!a.state_ || !b.state_) return a.state_ == b.state_;
    return a.state_->token.id == b.state_->token.id &&
           a.state_->token.address == b.state_->token.address;
}

void BaseProxy::expect_typeid(std::initializer_list<std::string_view> ids, std::string_view cls) {
    auto& s = live(state_);
    for (auto id : ids)
        if (s.token.type_id == id) {
            s.cls = std::string(cls);
            return;
        }
    throw ValueError(fmt::format("mproc: a {} cannot refer to a referent of typeid {}", cls,
                                 object(s.token.type_id).repr()));
}

namespace managers::detail {

std::shared_ptr<ProxyState> with_class(std::shared_ptr<ProxyState> s, std::string_view cls) {
    if (s) s->cls = std::string(cls);
    return s;
}

void encode_proxy(Encoder& e, const BaseProxy& p) {
    auto& s = live(p.state());
    e.begin_array(4);
    encode(e, s.token.type_id);
    encode(e, address_to_object(s.token.address));
    encode(e, s.token.id);
    // The key travels only when it is not the receiver's own (children
    // inherit this process's authkey), as Python sends it only to children.
    if (s.authkey != current_process().authkey())
        encode(e, s.authkey);
    else
        e.write_nil();
}

std::shared_ptr<ProxyState> decode_proxy(Decoder& d) {
    const std::size_t n = d.read_array();
    if (n != 4) throw SerializationError("mproc::decode: a proxy is an array of 4 items");
    auto type_id = decode<std::string>(d);
    auto address = address_from_object(decode<object>(d));
    auto id = decode<std::int64_t>(d);
    auto key = decode<std::optional<bytes>>(d);
    return adopt_state(Token{std::move(type_id), std::move(address), id}, std::move(key));
}

}  // namespace managers::detail

}  // namespace mproc
