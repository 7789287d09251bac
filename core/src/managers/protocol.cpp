// The manager wire protocol's helpers (see protocol.hpp).
#include "managers/protocol.hpp"

#include <fmt/format.h>

namespace mproc::managers::detail {

object address_to_object(const connection::Address& a) {
    if (auto* inet = a.inet()) return list{inet->host, std::int64_t(inet->port)};
    if (auto* path = a.path()) return *path;
    return None;
}

connection::Address address_from_object(const object& o) {
    if (auto* s = o.get_if<std::string>()) return connection::Address(*s);
    const std::vector<object>* l = o.get_if<list>();
    if (!l) l = o.get_if<tuple>();
    if (l && l->size() == 2 && (*l)[0].is<std::string>() && (*l)[1].is<std::int64_t>())
        return connection::Address((*l)[0].as<std::string>(), long((*l)[1].as<std::int64_t>()));
    throw ValueError("mproc manager: not an address: " + o.repr());
}

std::string address_key(const connection::Address& a) {
    return a.repr();
}

object make_ref(std::string_view type_id, const connection::Address& address, std::int64_t id) {
    return tuple{std::string(proxy_marker), std::string(type_id), address_to_object(address), id};
}

std::optional<Ref> parse_ref(const object& o) {
    const std::vector<object>* v = nullptr;
    if (auto* t = o.get_if<tuple>()) v = t;
    if (auto* l = o.get_if<list>()) v = l;
    if (!v || v->size() != 4) return std::nullopt;
    auto* tag = (*v)[0].get_if<std::string>();
    if (!tag || *tag != proxy_marker) return std::nullopt;
    auto* type_id = (*v)[1].get_if<std::string>();
    auto* id = (*v)[3].get_if<std::int64_t>();
    if (!type_id || !id) return std::nullopt;
    try {
        return Ref{*type_id, address_from_object((*v)[2]), *id};
    } catch (const ValueError&) {
        return std::nullopt;
    }
}

}  // namespace mproc::managers::detail
