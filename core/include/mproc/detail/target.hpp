// Internal to <mproc/callable.hpp> and <mproc/process.hpp>: a Process's
// target, type-erased, and how a plain function and its arguments cross exec
// (a typed trampoline decodes the arguments in the child and calls it).
#pragma once

#include <mproc/export.hpp>

#include <cstddef>
#include <string>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include <fmt/format.h>
#include <boost/core/demangle.hpp>

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

/// The parameter types of a plain function pointer type (void if not one).
template <class Fn>
struct parameters_of {
    using type = void;
};
template <class R, class... P>
struct parameters_of<R (*)(P...)> {
    using type = std::tuple<P...>;
};
template <class R, class... P>
struct parameters_of<R (*)(P...) noexcept> {
    using type = std::tuple<P...>;
};

/// The type an argument of type A (as given to Process) is stored as, for
/// parameter P of a plain function target (Python binds the arguments when
/// the Process is made; C++ converts them where it would at the call):
/// - P's own type (cv/ref removed) when A converts to it and it has a codec,
///   so that what crosses exec is what the target takes ("bob" for a
///   std::string parameter is a std::string);
/// - std::string for a C string going to a parameter that takes one (a
///   std::string_view, say), so the Process owns the characters;
/// - otherwise A decayed, as for any other target.
template <class P, class A>
struct stored_argument {
    using D = std::decay_t<A>;
    using PD = std::remove_cvref_t<P>;
    using type = std::conditional_t<
        Serializable<PD> && std::is_convertible_v<A&&, PD>, PD,
        std::conditional_t<detail::CString<D> && std::is_convertible_v<std::string, P>, std::string,
                           D>>;
};

template <class Params, class... A>
struct stored_arguments {
    using type = std::tuple<std::decay_t<A>...>;
};
template <class... P, class... A>
requires(sizeof...(P) == sizeof...(A)) struct stored_arguments<std::tuple<P...>, A...> {
    using type = std::tuple<typename stored_argument<P, A>::type...>;
};

/// The argument types a Process made with (f, args...) stores.
template <class F, class... A>
using stored_arguments_t = typename stored_arguments<
    typename parameters_of<decltype(+std::declval<std::decay_t<F>&>())>::type, A...>::type;

template <class F, class... A>
struct stored_types {
    using type = std::tuple<std::decay_t<A>...>;
};
template <class F, class... A>
requires PlainFunction<F>
struct stored_types<F, A...> {
    using type = stored_arguments_t<F, A...>;
};

/// A readable name of T ("std::thread", "Foo").
template <class T>
std::string type_name() {
    return boost::core::demangle(typeid(T).name());
}

/// Index of the first of A... that has no codec (sizeof...(A) if none).
template <class... A>
constexpr std::size_t first_unserializable() {
    std::size_t i = 0;
    (void)((Serializable<A> ? (++i, true) : false) && ...);
    return i;
}

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
            constexpr auto i = first_unserializable<A...>();
            using Bad = std::tuple_element_t<i, std::tuple<A...>>;
            why = fmt::format(
                "argument {} of {} of the target is a {}, which has no mproc::codec adapter "
                "(or is encode-only), so it cannot cross exec; give that type a codec "
                "(<mproc/codec.hpp>) or use the fork start method",
                i + 1, sizeof...(A), type_name<Bad>());
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

template <class F, class Stored>
struct bound_target_for;
template <class F, class... S>
struct bound_target_for<F, std::tuple<S...>> {
    using type = BoundTarget<std::decay_t<F>, S...>;
    static constexpr bool invocable = std::is_invocable_v<std::decay_t<F>&, S&...>;
};

/// The BoundTarget that Process(f, args...) makes.
template <class F, class... A>
using bound_target_t = typename bound_target_for<F, typename stored_types<F, A...>::type>::type;

/// True when Process(f, args...) can call f with what it stores of args.
template <class F, class... A>
concept BindableTarget = bound_target_for<F, typename stored_types<F, A...>::type>::invocable;

/// Records a function under a name (see MPROC_REGISTER_FUNCTION).
MPROC_API bool register_exec_function(const char* name, void* function, ExecTrampoline trampoline);

template <class R, class... P>
bool register_function(const char* name, R (*f)(P...)) {
    return register_exec_function(name, reinterpret_cast<void*>(f),
                                  &exec_trampoline<R (*)(P...), std::decay_t<P>...>);
}

}  // namespace detail

}  // namespace mproc
