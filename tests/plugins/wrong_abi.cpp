// Declares a future ABI version: the core must refuse it.
#include <mproc/plugin/abi.hpp>

namespace {
void* factory(const mproc::plugin::Host&) {
    return nullptr;
}
const mproc::plugin::PluginInfo info = {mproc::plugin::abi_version + 1,
                                        MPROC_TOOLCHAIN_TAG,
                                        mproc::plugin::PluginKind::start_method,
                                        "wrongabi",
                                        "0",
                                        &factory};
}  // namespace
MPROC_PLUGIN_EXPORT(info)
