// Its file says "misnamed" but it declares "fork": the core must refuse it.
#include <mproc/plugin/abi.hpp>

namespace {
void* factory(const mproc::plugin::Host&) {
    return nullptr;
}
const mproc::plugin::PluginInfo info = {mproc::plugin::abi_version,
                                        MPROC_TOOLCHAIN_TAG,
                                        mproc::plugin::PluginKind::start_method,
                                        "fork",
                                        "0",
                                        &factory};
}  // namespace
MPROC_PLUGIN_EXPORT(info)
