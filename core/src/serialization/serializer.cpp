#include <mproc/serializer.hpp>

#include <mproc/errors.hpp>
#include <mproc/plugin/abi.hpp>

#include "base/environment.hpp"
#include "plugin/plugin_registry.hpp"

namespace mproc {

HandleTable::~HandleTable() = default;
Encoder::~Encoder() = default;
Decoder::~Decoder() = default;
Serializer::~Serializer() = default;

Serializer& get_serializer(std::string_view name) {
    auto& p = detail::load_plugin(plugin::PluginKind::serializer, name);
    return *static_cast<Serializer*>(p.instance);
}

Serializer& default_serializer() {
    static Serializer& s = get_serializer(env::serializer().value_or("msgpack"));
    return s;
}

}  // namespace mproc
