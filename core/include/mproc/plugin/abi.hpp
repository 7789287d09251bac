// The plugin ABI: the one descriptor every mproc plugin library exports.
//
// A plugin is a shared library named  mproc-<kind>-<name>.so  (kind is
// "backend" for a start method, "serializer" for a wire format) exporting the
// Boost.DLL alias `mproc_plugin_entry`, a function returning a pointer to a
// static PluginInfo. One line writes all of it:
//
//   class MyFork final : public mproc::plugin::ContextBackend {
//     public:
//       explicit MyFork(const mproc::plugin::Host& host);  // or no argument
//       ...
//   };
//   MPROC_PLUGIN_DEFINE(start_method, "myfork", MyFork)
//
// The core refuses a plugin whose abi_version or toolchain tag differs from
// its own, or whose declared name differs from its file name, with an error
// naming the file and both values. Plugins are never unloaded.
//
// Versioning, honestly: a plugin shares C++ classes (vtables, exceptions,
// std types) with the core, and a C++ vtable cannot grow in a way an older
// binary could detect, so there is no compatibility between ABI versions:
// the core loads a plugin only if its abi_version is exactly the core's.
// Rebuild plugins against the headers of the mproc they are loaded into.
// Only PluginInfo's first field is frozen forever, so that any core can read
// a plugin's version (and refuse it by name) before trusting anything else.
//
// ABI versions:
//   1  PluginInfo; ContextBackend (start, make_pipe, runs_closures);
//      Serializer
//   2  shared memory and process-shared semaphores in ContextBackend
//   3  run_helper; LaunchRequest's payload and handles (exec children)
//   4  the Host table given to the factory; a capability set instead of
//      runs_closures(); connections a backend carries its own way
//      (ConnectionImpl::carrier, ContextBackend::attach_connection);
//      LaunchRequest without struct_size; ConnectionImpl without
//      set_read_ahead; MPROC_PLUGIN_DEFINE
//   5  ProcessHandle::interrupt (Process::interrupt goes through the start
//      method); SemaphoreImpl::held_in_this_process (SomeOtherThread)
#pragma once

#include <mproc/export.hpp>

#include <cstddef>
#include <cstdint>

#include <boost/config.hpp>
#include <boost/dll/alias.hpp>

#include <mproc/version.hpp>

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

/// Version of the plugin ABI (the headers under <mproc/plugin/> and
/// <mproc/serializer.hpp>). A plugin loads only into a core of the same one.
inline constexpr std::uint32_t abi_version = 5;

/// What a plugin provides.
enum class PluginKind : std::uint32_t {
    start_method = 1,  ///< a ContextBackend (fork, spawn, forkserver, ...)
    serializer = 2,    ///< a Serializer (msgpack, ...)
};

struct Host;

/// The static descriptor a plugin exports (abi_version stays first forever).
struct MPROC_API PluginInfo {
    std::uint32_t abi_version;  ///< must equal mproc::plugin::abi_version
    const char* toolchain;      ///< must equal the core's MPROC_TOOLCHAIN_TAG
    PluginKind kind;            ///< what the factory returns
    const char* name;           ///< must equal the <name> part of the file name
    const char* version;        ///< the plugin's own version, free-form
    /// Returns the plugin's singleton: a ContextBackend* for start methods, a
    /// Serializer* for serializers. Called once, with the core's services;
    /// the object lives forever.
    void* (*factory)(const Host& host);
};

/// The signature of the exported entry point.
using EntryFunction = const PluginInfo*();

/// The interface a kind of plugin implements (specialised beside each
/// interface: ContextBackend in backend.hpp, Serializer in serializer.hpp).
template <PluginKind K>
struct PluginInterface;

/// The factory MPROC_PLUGIN_DEFINE writes: one instance of C, made with the
/// host's services if C takes them. Never destroyed, as plugins are never
/// unloaded: exit hooks may still use it after static destructors ran.
template <PluginKind K, class C>
void* make_plugin_singleton(const Host& host) {
    using Interface = typename PluginInterface<K>::type;
    if constexpr (requires { C(host); }) {
        static C* instance = new C(host);
        return static_cast<Interface*>(instance);
    } else {
        static C* instance = new C();
        return static_cast<Interface*>(instance);
    }
}

/// A plugin's name as a template argument: MPROC_PLUGIN_DEFINE defines
/// linked_entry<kind, "name">, so that a program (or libmproc itself) can
/// link the plugin in and name its entry without a file on disk.
template <std::size_t N>
struct PluginName {
    char value[N];
    consteval PluginName(const char (&s)[N]) {  // NOLINT: implicit on purpose
        for (std::size_t i = 0; i < N; ++i) value[i] = s[i];
    }
};

/// The entry of the plugin of kind K and name Name when it is linked in
/// (defined by its MPROC_PLUGIN_DEFINE; one symbol per kind and name).
template <PluginKind K, PluginName Name>
const PluginInfo* linked_entry();

/// One plugin linked into the program (MPROC_LINK_PLUGIN makes one).
struct LinkedPlugin {
    EntryFunction* entry;
    LinkedPlugin* next;  ///< set by link_plugin
};

/// Makes a plugin linked into the program known to the registry, which
/// prefers it to any file of the same kind and name. Safe before main and
/// before libmproc's own static objects are made (MPROC_LINK_PLUGIN calls
/// it while the program's static objects are made).
MPROC_API void link_plugin(LinkedPlugin& plugin) noexcept;

}  // namespace mproc::plugin

/// The version a plugin reports: the build's MPROC_PLUGIN_VERSION if it
/// defines one (mproc's meson passes the project version), else mproc's.
#ifndef MPROC_PLUGIN_VERSION
#define MPROC_PLUGIN_VERSION MPROC_VERSION_STRING
#endif

/// Exports `info` (a static PluginInfo) as this library's plugin entry.
#define MPROC_PLUGIN_EXPORT(info)                                   \
    namespace {                                                     \
    const ::mproc::plugin::PluginInfo* mproc_plugin_entry_impl_() { \
        return &(info);                                             \
    }                                                               \
    }                                                               \
    BOOST_DLL_ALIAS(mproc_plugin_entry_impl_, mproc_plugin_entry)

/// Defines and exports a plugin: kind is start_method or serializer, name
/// its name (equal to the file's <name>), Class the implementation (made
/// once, from `const mproc::plugin::Host&` if it has such a constructor).
/// Use it at global scope: it also defines linked_entry<kind, name>, so
/// that the same code can be a file or linked in (MPROC_LINK_PLUGIN).
#define MPROC_PLUGIN_DEFINE(kind, name, Class)                                              \
    namespace {                                                                             \
    const ::mproc::plugin::PluginInfo mproc_plugin_info_ = {                                \
        ::mproc::plugin::abi_version,                                                       \
        MPROC_TOOLCHAIN_TAG,                                                                \
        ::mproc::plugin::PluginKind::kind,                                                  \
        name,                                                                               \
        MPROC_PLUGIN_VERSION,                                                               \
        &::mproc::plugin::make_plugin_singleton<::mproc::plugin::PluginKind::kind, Class>}; \
    }                                                                                       \
    MPROC_PLUGIN_EXPORT(mproc_plugin_info_)                                                 \
    MPROC_PLUGIN_LINKABLE_(kind, name, mproc_plugin_info_)

/// The entry a program links against (MPROC_LINK_PLUGIN, built-in plugins).
#define MPROC_PLUGIN_LINKABLE_(kind, name, info)               \
    namespace mproc::plugin {                                  \
    template <>                                                \
    const PluginInfo* linked_entry<PluginKind::kind, name>() { \
        return &(::info);                                      \
    }                                                          \
    }

#define MPROC_PLUGIN_CAT2_(a, b) a##b
#define MPROC_PLUGIN_CAT_(a, b) MPROC_PLUGIN_CAT2_(a, b)

/// Links the plugin of this kind (start_method or serializer) and name into
/// the program, at global scope in any one of its source files:
///
///   MPROC_LINK_PLUGIN(start_method, "thirdparty")
///
/// The plugin's code (its source, object or static library: whatever
/// defines it with MPROC_PLUGIN_DEFINE) must be linked into the program;
/// the registry then finds it before any file, in this program and in the
/// spawn and forkserver children started from it (the same executable).
#define MPROC_LINK_PLUGIN(kind, name)                                                            \
    namespace mproc::plugin {                                                                    \
    template <>                                                                                  \
    const PluginInfo* linked_entry<PluginKind::kind, name>();                                    \
    }                                                                                            \
    namespace {                                                                                  \
    ::mproc::plugin::LinkedPlugin MPROC_PLUGIN_CAT_(mproc_linked_plugin_, __LINE__) = {          \
        &::mproc::plugin::linked_entry<::mproc::plugin::PluginKind::kind, name>, nullptr};       \
    [[maybe_unused]] const bool MPROC_PLUGIN_CAT_(mproc_linked_plugin_made_, __LINE__) =         \
        (::mproc::plugin::link_plugin(MPROC_PLUGIN_CAT_(mproc_linked_plugin_, __LINE__)), true); \
    }
