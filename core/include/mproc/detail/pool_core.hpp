// Internal to <mproc/pool.hpp>: the untyped pool every mproc::Pool wraps
// (core/src/pool/: workers, their loop, the pool thread), the job interface
// the typed side implements, and how a chunk of tasks is run in a worker.
#pragma once

#include <mproc/export.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <mproc/codec.hpp>
#include <mproc/context.hpp>
#include <mproc/detail/target.hpp>
#include <mproc/errors.hpp>
#include <mproc/function.hpp>
#include <mproc/serializer.hpp>

namespace mproc {

/// Options of a Pool (Python's keyword arguments, and billiard's limits).
struct MPROC_API PoolOptions {
    /// Number of worker processes; unset means cpu_count().
    std::optional<int> processes = std::nullopt;
    /// A worker is replaced after this many tasks (chunks); unset: never.
    std::optional<int> maxtasksperchild = std::nullopt;
    /// A task still running after this long is killed with its worker and
    /// fails with TimeoutError (for a chunk of n tasks: n times this).
    std::optional<std::chrono::duration<double>> task_timeout = std::nullopt;
    /// A worker whose resident memory passed this many bytes is replaced
    /// after its current task.
    std::optional<std::size_t> max_memory_per_child = std::nullopt;
};

namespace detail {

/// Runs a chunk in a worker: reads the function and `count` items from in,
/// writes for each item [true, result] or [false, error] to out.
using PoolTrampoline = void (*)(Decoder& in, Encoder& out, std::size_t count);

/// Inside a catch block in a worker: writes the current exception (kind,
/// type name, message, worker name).
MPROC_API void write_task_error(Encoder& out);
/// In the parent: reads what write_task_error wrote, as the exception to
/// rethrow (the same type for std and mproc exceptions, else RemoteError).
MPROC_API std::exception_ptr read_task_error(Decoder& in);

/// A result type as stored (void becomes std::monostate).
template <class R>
using stored_t = std::conditional_t<std::is_void_v<R>, std::monostate, R>;

template <class F>
constexpr bool trivially_copyable_callable = std::is_trivially_copyable_v<std::decay_t<F>>;

/// How F is stored in a task: its function pointer, or the object itself.
template <class F, bool = PlainFunction<F>>
struct task_function {
    using type = std::decay_t<F>;
};
template <class F>
struct task_function<F, true> {
    using type = decltype(+std::declval<std::decay_t<F>&>());
};
template <class F>
using task_function_t = typename task_function<F>::type;

/// What calling Fn on one item gives (Star: on the tuple's elements).
template <class Fn, class Arg, bool Star>
struct call_result {
    using type = std::invoke_result_t<Fn&, Arg>;
};
template <class Fn, class Arg>
struct call_result<Fn, Arg, true> {
    using type = decltype(std::apply(std::declval<Fn&>(), std::declval<Arg>()));
};

/// Numbers (not bool) travel a whole chunk at a time, as one bulk array.
template <class T>
concept PoolBulk = BulkScalar<T> && !std::same_as<T, bool>;

/// How a chunk's results are laid out after the chunk's ok flag.
enum PoolResultLayout : int { pool_results_items = 0, pool_results_bulk = 1 };

template <class Fn, class Arg, bool Star>
auto pool_call(Fn& f, Arg&& arg) {
    using R = typename call_result<Fn, Arg, Star>::type;
    if constexpr (std::is_void_v<R>) {
        if constexpr (Star)
            std::apply(f, std::move(arg));
        else
            f(std::move(arg));
        return std::monostate{};
    } else if constexpr (Star) {
        return stored_t<R>(std::apply(f, std::move(arg)));
    } else {
        return stored_t<R>(f(std::move(arg)));
    }
}

// Reads a chunk's arguments: one bulk array for numbers, else item by item.
template <class Arg>
std::vector<Arg> pool_read_args(Decoder& in, std::size_t count) {
    std::vector<Arg> args;
    if constexpr (PoolBulk<Arg>) {
        if (in.peek() == ValueKind::bulk) {
            const auto raw = read_scalars<Arg>(in);
            if (raw.size() != count * sizeof(Arg))
                throw SerializationError("a pool chunk holds the wrong number of arguments");
            args.resize(count);
            if (count) std::memcpy(args.data(), raw.data(), raw.size());
            return args;
        }
    }
    args.reserve(std::min(count, in.remaining()));
    for (std::size_t i = 0; i < count; ++i) args.push_back(mproc::decode<Arg>(in));
    return args;
}

template <class Fn, class Arg, bool Star>
void pool_run_items(Fn& f, Decoder& in, Encoder& out, std::size_t count) {
    using S = stored_t<typename call_result<Fn, Arg, Star>::type>;
    auto args = pool_read_args<Arg>(in, count);
    std::vector<std::optional<S>> results(count);
    std::vector<std::exception_ptr> errors;
    for (std::size_t i = 0; i < count; ++i) {
        try {
            results[i].emplace(pool_call<Fn, Arg, Star>(f, std::move(args[i])));
        } catch (const SystemExit&) {
            throw;  // mproc::exit() in a task ends the worker, as in a Process
        } catch (...) {
            if (errors.empty()) errors.resize(count);
            errors[i] = std::current_exception();
        }
    }
    if constexpr (PoolBulk<S>) {
        if (errors.empty()) {
            std::vector<S> values(count);
            for (std::size_t i = 0; i < count; ++i) values[i] = *results[i];
            out.write_int(pool_results_bulk);
            out.write_bulk(scalar_kind<S>(), values.data(), count);
            return;
        }
    }
    out.write_int(pool_results_items);
    for (std::size_t i = 0; i < count; ++i) {
        if (results[i]) {
            out.write_bool(true);
            mproc::encode(out, *results[i]);  // an error here fails the chunk
        } else {
            out.write_bool(false);
            try {
                std::rethrow_exception(errors[i]);
            } catch (...) {
                write_task_error(out);
            }
        }
    }
}

/// The worker's side of a task: decodes the function, then runs the items.
template <class Fn, class Arg, bool Star>
void pool_trampoline(Decoder& in, Encoder& out, std::size_t count) {
    if constexpr (std::is_pointer_v<Fn>) {
        Fn f = mproc::decode<Fn>(in);
        if (f == nullptr) throw ValueError("a null function was sent to a pool worker");
        pool_run_items<Fn, Arg, Star>(f, in, out, count);
    } else {
        // Fork only: the object's bytes, valid in a copy of the parent.
        const auto raw = in.read_bin();
        if (raw.size() != sizeof(Fn))
            throw SerializationError("a pool task's function object has the wrong size");
        alignas(Fn) std::byte storage[sizeof(Fn)];
        std::memcpy(storage, raw.data(), sizeof(Fn));
        Fn& f = *std::launder(reinterpret_cast<Fn*>(storage));
        pool_run_items<Fn, Arg, Star>(f, in, out, count);
    }
}

/// A job: a stream of chunks of tasks and the results that come back. The
/// pool calls every virtual function on its own thread (the result thread),
/// except that a thread submitting a job while the pool thread sleeps may
/// pull chunks itself (under the pool's dispatch lock: never two at once).
class MPROC_API PoolJob {
  public:
    virtual ~PoolJob();
    /// Writes the next chunk to out, after the pool's header: [count,
    /// trampoline, function, items]; returns count, 0 (having written
    /// nothing) when the input is used up. May throw (an input that fails),
    /// which fails the item at that position.
    virtual std::size_t next_chunk(Encoder& out) = 0;
    /// Whether next_chunk may be called now (imap holds its input back).
    virtual bool may_pull() { return true; }
    /// The results of items [first, first + count), read from d.
    virtual void results(std::size_t first, std::size_t count, Decoder& d) = 0;
    /// Items [first, first + count) failed with e.
    virtual void failed(std::size_t first, std::size_t count, std::exception_ptr e) = 0;
    /// The input ended: total items in all.
    virtual void input_end(std::size_t total) = 0;
    /// The pool will run no more of this job (terminated, or broken): fails
    /// what is pending with e.
    virtual void abandon(std::exception_ptr e) = 0;

    /// Set by the pool: wakes its thread (after may_pull turns true).
    std::function<void()> wake;
};

/// Everything a worker needs besides its connection (crosses into it).
struct MPROC_API WorkerSetup {
    bytes initializer;                    ///< [trampoline, function, args], or empty
    std::uint64_t local_initializer = 0;  ///< fork: a std::function<void()>* in the parent
    std::int64_t maxtasks = 0;            ///< 0: unlimited
    std::uint64_t max_memory = 0;         ///< 0: unlimited
    MPROC_FIELDS(initializer, local_initializer, maxtasks, max_memory)
};

/// The untyped pool.
class MPROC_API PoolCore {
  public:
    /// Starts the workers and the pool thread.
    PoolCore(const Context& ctx, const PoolOptions& options, bytes initializer,
             std::function<void()> local_initializer);
    ~PoolCore();
    PoolCore(const PoolCore&) = delete;
    PoolCore& operator=(const PoolCore&) = delete;

    /// Queues a job; ValueError if the pool is not running, or the error of
    /// a failed initializer.
    void submit(std::shared_ptr<PoolJob> job);
    void close();
    void terminate();
    void join();
    /// Number of workers.
    int processes() const noexcept;
    /// True under the fork start method (any trivially copyable callable
    /// may be a task).
    bool forks() const noexcept;
    /// The context's start method.
    std::string start_method() const;

    /// While alive, SIGINT (if it has its default action) terminates the
    /// pool and fails its pending jobs with KeyboardInterrupt, instead of
    /// killing the program: for blocking calls (map, apply).
    class InterruptScope {
      public:
        explicit InterruptScope(PoolCore& core);
        ~InterruptScope();
        InterruptScope(const InterruptScope&) = delete;
        InterruptScope& operator=(const InterruptScope&) = delete;

      private:
        void* guard_;
    };

    struct Impl;

  private:
    std::shared_ptr<Impl> impl_;
};

}  // namespace detail

}  // namespace mproc
