// The plugin ABI: the one descriptor every mproc plugin library exports.
//
// A plugin is a shared library named  mproc-<kind>-<name>.so  (kind is
// "backend" for a start method, "serializer" for a wire format) exporting the
// Boost.DLL alias `mproc_plugin_entry`, a function returning a pointer to a
// static PluginInfo:
//
//   static const mproc::plugin::PluginInfo info = {
//       mproc::plugin::abi_version, MPROC_TOOLCHAIN_TAG,
//       mproc::plugin::PluginKind::start_method, "myfork", "1.0", &make_backend};
//   MPROC_PLUGIN_EXPORT(info)
//
// The core refuses a plugin whose abi_version or toolchain tag differs from
// its own, or whose declared name differs from its file name, with an error
// naming the file and both values. Plugins are never unloaded.
//
// FROZEN LAYOUT: PluginInfo only grows by appending fields; abi_version stays
// the first field forever so any core can read it from any plugin.
#pragma once

#include <cstdint>

#include <boost/config.hpp>
#include <boost/dll/alias.hpp>

#define MPROC_STRINGIFY_(x) #x
#define MPROC_STRINGIFY(x) MPROC_STRINGIFY_(x)

#if defined(__clang__)
#define MPROC_COMPILER_TAG_ "clang-" MPROC_STRINGIFY(__clang_major__)
#elif defined(__GNUC__)
#define MPROC_COMPILER_TAG_ "gcc-" MPROC_STRINGIFY(__GNUC__)
#elif defined(_MSC_VER)
#define MPROC_COMPILER_TAG_ "msvc-" MPROC_STRINGIFY(_MSC_VER)
#else
#define MPROC_COMPILER_TAG_ "unknown"
#endif

#if defined(_LIBCPP_VERSION)
#define MPROC_STDLIB_TAG_ "libc++"
#elif defined(__GLIBCXX__)
#define MPROC_STDLIB_TAG_ "libstdc++-abi" MPROC_STRINGIFY(_GLIBCXX_USE_CXX11_ABI)
#else
#define MPROC_STDLIB_TAG_ "stdlib"
#endif

/// The toolchain tag: plugins must be built with the same C++ ABI as the core
/// (they share C++ classes and exceptions with it).
#define MPROC_TOOLCHAIN_TAG MPROC_COMPILER_TAG_ "/" MPROC_STDLIB_TAG_

namespace mproc::plugin {

/// Version of the plugin ABI (this header and backend.hpp, serializer.hpp).
inline constexpr std::uint32_t abi_version = 3;

/// What a plugin provides.
enum class PluginKind : std::uint32_t {
    start_method = 1,  ///< a Context backend (fork, spawn, forkserver, ...)
    serializer = 2,    ///< a Serializer (msgpack, ...)
};

/// The static descriptor a plugin exports. Do not modify; append only.
struct PluginInfo {
    std::uint32_t abi_version;  ///< must equal mproc::plugin::abi_version
    const char* toolchain;      ///< must equal the core's MPROC_TOOLCHAIN_TAG
    PluginKind kind;            ///< what the factory returns
    const char* name;           ///< must equal the <name> part of the file name
    const char* version;        ///< the plugin's own version, free-form
    /// Returns the plugin's singleton: a ContextBackend* for start methods, a
    /// Serializer* for serializers. Called once; the object lives forever.
    void* (*factory)();
};

/// The signature of the exported entry point.
using EntryFunction = const PluginInfo*();

}  // namespace mproc::plugin

/// Exports `info` (a static PluginInfo) as this library's plugin entry.
#define MPROC_PLUGIN_EXPORT(info)                                   \
    namespace {                                                     \
    const ::mproc::plugin::PluginInfo* mproc_plugin_entry_impl_() { \
        return &(info);                                             \
    }                                                               \
    }                                                               \
    BOOST_DLL_ALIAS(mproc_plugin_entry_impl_, mproc_plugin_entry)
