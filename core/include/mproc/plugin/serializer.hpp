// What a serializer plugin implements: mproc::Serializer (<mproc/serializer.hpp>),
// exported with MPROC_PLUGIN_DEFINE(serializer, "<name>", Class).
#pragma once

#include <mproc/plugin/abi.hpp>
#include <mproc/serializer.hpp>

namespace mproc::plugin {

/// The interface a serializer plugin implements (see MPROC_PLUGIN_DEFINE).
template <>
struct PluginInterface<PluginKind::serializer> {
    using type = Serializer;
};

}  // namespace mproc::plugin
