// Internal to <mproc/callable.hpp> and <mproc/process.hpp>: a Process's
// target, type-erased, and how a plain function and its arguments cross exec
// (a typed trampoline decodes the arguments in the child and calls it).
#pragma once

#include <mproc/export.hpp>

#include <cstddef>
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
struct MPROC_API ExecTarget {
    ExecTrampoline trampoline = nullptr;
    void* function = nullptr;
};

/// A type-erased target and its arguments.
class MPROC_API Target {
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
MPROC_API bool register_exec_function(const char* name, void* function, ExecTrampoline trampoline);

template <class R, class... P>
bool register_function(const char* name, R (*f)(P...)) {
    return register_exec_function(name, reinterpret_cast<void*>(f),
                                  &exec_trampoline<R (*)(P...), std::decay_t<P>...>);
}

}  // namespace detail

}  // namespace mproc
