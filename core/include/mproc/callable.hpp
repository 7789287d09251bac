// What crosses into a spawn or forkserver child: a target is a plain
// function (free function, static member, or lambda without captures) sent
// as (module build-id, offset in the module), plus its arguments encoded by
// the serializer and decoded in the child into the same C++ types by a typed
// trampoline (itself a plain function sent the same way). The child refuses a
// module whose build-id differs or an offset outside the module's code.
//
//   void work(mproc::Connection c, int n);
//   mproc::get_context("spawn").Process(work, conn, 42).start();   // fine
//   mproc::get_context("spawn").Process([&] { ... }).start();       // refused:
//       // a capturing lambda cannot cross exec (fork accepts it)
//
// When the child is another program (set_executable), functions are found by
// a name both programs register:
//
//   MPROC_REGISTER_FUNCTION(work);   // at namespace scope, in both programs
//
// Bound arguments must have an mproc::codec adapter (<mproc/codec.hpp>);
// Connections cross as out-of-band handles.
#pragma once

#include <filesystem>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include <mproc/codec.hpp>
#include <mproc/serializer.hpp>

namespace mproc {

/// Decodes a target's arguments and calls the target (one per signature).
using ExecTrampoline = void (*)(Decoder& args, void* function);

namespace detail {

template <class F>
concept PlainFunction = requires(std::decay_t<F>& f) {
    {+f};
}
&&std::is_pointer_v<decltype(+std::declval<std::decay_t<F>&>())>&&
    std::is_function_v<std::remove_pointer_t<decltype(+std::declval<std::decay_t<F>&>())>>;

template <class Fn, class... A>
void exec_trampoline(Decoder& d, void* fn) {
    auto args = decode<std::tuple<A...>>(d);
    std::apply(reinterpret_cast<Fn>(fn), std::move(args));
}

/// A plain function and its trampoline.
struct ExecTarget {
    ExecTrampoline trampoline = nullptr;
    void* function = nullptr;
};

/// A type-erased target and its arguments.
class Target {
  public:
    virtual ~Target();
    /// Targets come from libmproc's pool of process records (see
    /// plugin::ProcessHandle).
    static void* operator new(std::size_t size);
    static void operator delete(void* p);
    /// Calls the target with its arguments.
    virtual void invoke() = 0;
    /// For exec-based start methods: the function, its trampoline and its
    /// encoded arguments; false (with the reason) if it cannot cross exec.
    virtual bool to_exec(Encoder& args, ExecTarget& out, std::string& why) const = 0;
};

template <class F, class... A>
class BoundTarget final : public Target {
  public:
    template <class G, class... B>
    explicit BoundTarget(G&& f, B&&... args)
        : f_(std::forward<G>(f)), args_(std::forward<B>(args)...) {}

    void invoke() override { std::apply(f_, args_); }

    bool to_exec(Encoder& args, ExecTarget& out, std::string& why) const override {
        if constexpr (!PlainFunction<F>) {
            why =
                "the target is a capturing lambda or a function object, which cannot cross "
                "exec; use a plain function or a lambda without captures (or the fork start "
                "method)";
            return false;
        } else if constexpr (!(Serializable<A> && ...)) {
            why = "an argument of the target has no mproc::codec adapter, so it cannot cross exec";
            return false;
        } else {
            auto fn = +f_;
            out.trampoline = &exec_trampoline<decltype(fn), A...>;
            out.function = reinterpret_cast<void*>(fn);
            encode(args, args_);
            return true;
        }
    }

  private:
    F f_;
    std::tuple<A...> args_;
};

/// Records a function under a name (see MPROC_REGISTER_FUNCTION).
bool register_exec_function(const char* name, void* function, ExecTrampoline trampoline);

template <class R, class... P>
bool register_function(const char* name, R (*f)(P...)) {
    return register_exec_function(name, reinterpret_cast<void*>(f),
                                  &exec_trampoline<R (*)(P...), std::decay_t<P>...>);
}

}  // namespace detail

/// The program spawn starts for a child (default: this program, by
/// /proc/self/exe). An empty path restores the default. With another program,
/// targets cross by registered name (MPROC_REGISTER_FUNCTION).
void set_executable(const std::filesystem::path& program);
/// The program set with set_executable, or empty.
std::filesystem::path get_executable();

}  // namespace mproc

/// Registers a plain function by its name so that another program (see
/// set_executable) can run it as a target. Use at namespace scope in both.
#define MPROC_REGISTER_FUNCTION(fn)                               \
    [[maybe_unused]] static const bool mproc_registered_##fn##_ = \
        ::mproc::detail::register_function(#fn, &fn)
