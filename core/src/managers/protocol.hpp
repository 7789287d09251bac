// The manager wire protocol (internal): messages are mp::object values
// through the default serializer, one per Connection message.
//
//   request: [id or None, method, [args...]]   (None: a server-level call)
//   reply:   ["#RETURN", value] | ["#ERROR", [type name, message]]
//            | ["#PROXY", ref]   (a new referent a method made)
//
// Server-level calls: create(typeid, args) -> id, incref(id), decref(id),
// number_of_objects(), debug_info(), get_methods(id), shutdown(), dummy().
// A proxy stored inside a managed object is the tuple
// ("#PROXY", typeid, address, id) (see BaseProxy::ref).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <mproc/listener.hpp>
#include <mproc/object.hpp>

namespace mproc::managers::detail {

inline constexpr std::string_view kind_return = "#RETURN";
inline constexpr std::string_view kind_error = "#ERROR";
/// A reply naming a new referent (method_to_typeid): the calling connection
/// holds its first reference.
inline constexpr std::string_view kind_proxy = "#PROXY";
inline constexpr std::string_view proxy_marker = "#PROXY";
/// The largest request a server reads (a bigger length closes the connection).
inline constexpr std::size_t max_message = std::size_t(64) << 20;

/// An address as a value: a path str, or [host, port].
object address_to_object(const connection::Address& a);
/// The inverse; ValueError for anything else.
connection::Address address_from_object(const object& o);
/// A stable text key for an address (map keys).
std::string address_key(const connection::Address& a);

/// The tuple a stored proxy becomes.
object make_ref(std::string_view type_id, const connection::Address& address, std::int64_t id);
/// Parses a stored proxy; nullopt if o is not one.
struct Ref {
    std::string type_id;
    connection::Address address;
    std::int64_t id = 0;
};
std::optional<Ref> parse_ref(const object& o);

}  // namespace mproc::managers::detail
