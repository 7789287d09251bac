// Plain function pointers as values: send a function through a Pipe or a
// Queue, or as an argument of a Process, and call it on the other side.
//
//   int mul(int a, int b) { return a * b; }
//
//   mproc::Queue<std::tuple<int (*)(int, int), std::tuple<int, int>>> tasks;
//   tasks.put({&mul, {3, 7}});                      // in the parent
//   auto [f, args] = tasks.get();                   // in a worker
//   int r = std::apply(f, args);                    // 21
//
// A function pointer crosses as (module build-id, offset in the module,
// signature): the receiver finds the loaded module with the same build-id
// (the same build of the program or library), checks that the offset lies in
// its code, and that the pointer type is the one it was sent as; anything else
// is refused with SerializationError naming what differs. A null pointer
// crosses as nil. This is how targets cross into spawn and forkserver
// children (<mproc/callable.hpp>); it works under every start method.
//
// Only plain functions (free functions, static members, lambdas without
// captures converted with +) have this codec. The receiver must run the same
// build of the module the function is in: a pointer never crosses to another
// program (use MPROC_REGISTER_FUNCTION and set_executable for that).
#pragma once

#include <mproc/export.hpp>

#include <cstdint>
#include <string>
#include <type_traits>
#include <typeinfo>

#include <mproc/codec.hpp>
#include <mproc/serializer.hpp>

namespace mproc {

namespace detail {

/// Writes a code address as [build-id, offset, signature] (nil for null).
MPROC_API void encode_code_address(Encoder& e, const void* address, const char* signature);
/// Reads what encode_code_address wrote and returns the address in this
/// process; checks build-id, code range and signature (unless null).
MPROC_API const void* decode_code_address(Decoder& d, const char* signature);

}  // namespace detail

/// A pointer to a plain function: [build-id, offset, signature] or nil.
template <class R, class... A>
struct codec<R (*)(A...)> {
    /// The pointer type.
    using pointer = R (*)(A...);
    /// Writes where the function's code is.
    static void encode(Encoder& e, const pointer& f) {
        detail::encode_code_address(e, reinterpret_cast<const void*>(f), typeid(pointer).name());
    }
    /// Finds the function in this process (refusing a foreign or forged one).
    static pointer decode(Decoder& d) {
        return reinterpret_cast<pointer>(
            const_cast<void*>(detail::decode_code_address(d, typeid(pointer).name())));
    }
};

/// The same for noexcept functions.
template <class R, class... A>
struct codec<R (*)(A...) noexcept> {
    /// The pointer type.
    using pointer = R (*)(A...) noexcept;
    /// Writes where the function's code is.
    static void encode(Encoder& e, const pointer& f) {
        detail::encode_code_address(e, reinterpret_cast<const void*>(f), typeid(pointer).name());
    }
    /// Finds the function in this process (refusing a foreign or forged one).
    static pointer decode(Decoder& d) {
        return reinterpret_cast<pointer>(
            const_cast<void*>(detail::decode_code_address(d, typeid(pointer).name())));
    }
};

}  // namespace mproc
