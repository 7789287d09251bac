// Pool: a pool of worker processes (Python: multiprocessing.Pool).
//
//   int sq(int x) { return x * x; }
//
//   mproc::Pool pool(4);                           // scope exit terminates, like `with`
//   std::vector<int> v = pool.map(sq, std::views::iota(0, 10));
//   for (int x : pool.imap_unordered(sq, std::views::iota(0, 10))) fmt::print("{}\n", x);
//   auto r = pool.apply_async(sq, 20);             // AsyncResult<int>
//   try { r.get(1s); } catch (const mproc::TimeoutError&) { }
//   auto ctx = mproc::get_context("spawn");
//   auto p2 = ctx.Pool(mproc::PoolOptions{.processes = 2, .maxtasksperchild = 100});
//
// What crosses into a worker (see docs/gotchas.md): the function and its
// arguments, and the result back. Under spawn and forkserver the function
// must be a plain function (free function, static member, lambda without
// captures); under fork it may also be any trivially copyable function object
// (a lambda capturing numbers, pointers or references: they refer to the
// worker's copy of the parent's memory as it was when the worker started).
// Arguments and results need an mproc::codec.
//
// Beyond Python: a worker that dies mid-task (signal, crash, exit()) fails
// that task with WorkerLostError and is replaced, where Python hangs; an
// exception thrown by a task is rethrown with its own type for std and mproc
// exceptions, else as RemoteError (type name, message, worker); a result that
// cannot be encoded fails its chunk, not the pool; task_timeout and
// max_memory_per_child (PoolOptions) limit each task and worker. Callbacks
// run on the pool's result thread: keep them short, as in Python.
#pragma once

#include <mproc/export.hpp>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstring>
#include <deque>
#include <exception>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ranges>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <mproc/codec.hpp>
#include <mproc/context.hpp>
#include <mproc/detail/pool_core.hpp>
#include <mproc/errors.hpp>
#include <mproc/function.hpp>
#include <mproc/timeout.hpp>

namespace mproc {

template <class T>
class AsyncResult;
template <class T>
class IMapIterator;
class Pool;
namespace dummy {
class Pool;
}

namespace detail {

/// What AsyncResult<T> reads.
template <class T>
class AsyncState {
  public:
    virtual ~AsyncState() = default;
    /// Waits until ready or the timeout passes; true if ready.
    virtual bool wait_ready(Timeout timeout) = 0;
    /// The value (after wait_ready); rethrows the task's error.
    virtual T value() = 0;
    /// Ready and without error.
    virtual bool succeeded() = 0;
    /// Tasks done so far.
    virtual std::size_t done_count() = 0;
    /// Tasks in all, once the input has been read to its end.
    virtual std::optional<std::size_t> total_count() = 0;
};

enum class JobMode { single, list, ordered, unordered };

inline bool wait_on(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                    const std::function<bool()>& pred, Timeout timeout) {
    if (!timeout) {
        cv.wait(lock, pred);
        return true;
    }
    auto t = std::max(*timeout, std::chrono::duration<double>(0));
    return cv.wait_for(lock, std::chrono::duration_cast<std::chrono::nanoseconds>(t), pred);
}

/// An input whose items are Arg, one after another in memory (a vector, an
/// array, a span): taken or copied in one piece.
template <class In, class Arg>
concept ContiguousOf =
    std::ranges::contiguous_range<In> && std::is_same_v<std::ranges::range_value_t<In>, Arg>;

/// The results of a map or apply, kept by item until the job ends: a plain
/// vector of values (moved out whole at the end) when S is
/// default-constructible, else a vector of optionals; and which are there.
template <class S>
class ItemResults {
  public:
    /// Memory for items [0, n), not yet touched (map: the whole input, known
    /// at the start; each chunk's part is touched as its results arrive).
    void reserve(std::size_t n) {
        values_.reserve(n);
        have_.reserve(n);
    }
    /// Room for items [0, n).
    void grow_to(std::size_t n) {
        if (n <= have_.size()) return;
        values_.resize(n);
        have_.resize(n, 0);
    }
    bool has(std::size_t i) const { return i < have_.size() && have_[i]; }
    void set(std::size_t i, S v) {
        grow_to(i + 1);
        values_[i] = std::move(v);
        have_[i] = 1;
    }
    /// Numbers: count values from raw bytes into items [first, first +
    /// count), skipping items already there; returns how many were new.
    std::size_t set_raw(std::size_t first, std::size_t count,
                        const std::byte* raw) requires PoolBulk<S> {
        grow_to(first + count);
        static_assert(plain);  // numbers: values_ is a plain vector
        auto have = have_.begin() + std::ptrdiff_t(first);
        if (std::find(have, have + std::ptrdiff_t(count), 1) == have + std::ptrdiff_t(count)) {
            std::memcpy(values_.data() + first, raw, count * sizeof(S));  // the usual case
            std::fill_n(have, count, 1);
            return count;
        }
        std::size_t added = 0;
        for (std::size_t i = 0; i < count; ++i) {
            if (have[std::ptrdiff_t(i)]) continue;
            S v;
            std::memcpy(&v, raw + i * sizeof(S), sizeof(S));
            set(first + i, v);
            ++added;
        }
        return added;
    }
    /// Item 0 (apply); has(0) must be true.
    S take_first() { return take_at(0); }
    /// Every item, in order (all must be there), leaving this empty.
    std::vector<S> take_all() {
        std::vector<S> out;
        if constexpr (plain) {
            out = std::move(values_);
        } else {
            out.reserve(values_.size());
            for (auto& v : values_) out.push_back(std::move(*v));
        }
        clear();
        return out;
    }
    void clear() {
        values_ = {};
        have_ = {};
    }

  private:
    static constexpr bool plain = std::is_default_constructible_v<S>;
    S take_at(std::size_t i) {
        if constexpr (plain)
            return std::move(values_[i]);
        else
            return std::move(*values_[i]);
    }
    std::conditional_t<plain, std::vector<S>, std::vector<std::optional<S>>> values_;
    std::vector<unsigned char> have_;
};

/// The typed job: S is the stored result of one task, Out what get() gives.
template <class S, class Out>
class ResultJob final : public PoolJob, public AsyncState<Out> {
  public:
    /// Writes the next chunk (see PoolJob::next_chunk); returns its count.
    using Source = std::function<std::size_t(Encoder&)>;
    using Slot = std::variant<std::monostate, S, std::exception_ptr>;
    using OutStore = std::conditional_t<std::is_void_v<Out>, std::monostate, Out>;
    using Callback = std::function<void(const OutStore&)>;
    using ErrorCallback = std::function<void(std::exception_ptr)>;

    ResultJob(JobMode mode, Source source, std::size_t limit = 0)
        : mode_(mode), source_(std::move(source)), limit_(limit) {}

    Callback callback;
    ErrorCallback error_callback;

    // Pool thread.
    std::size_t next_chunk(Encoder& out) override {
        std::size_t n = source_(out);
        std::lock_guard lock(m_);
        pulled_ += n;
        return n;
    }
    bool may_pull() override {
        if (limit_ == 0) return true;
        std::lock_guard lock(m_);
        return pulled_ - consumed_ < limit_;
    }
    void results(std::size_t first, std::size_t count, Decoder& d) override {
        std::unique_lock lock(m_);
        if (mode_ == JobMode::ordered && first + count > base_ &&
            slots_.size() < first + count - base_)
            slots_.resize(first + count - base_);
        if (d.read_int() == pool_results_bulk) {
            if constexpr (PoolBulk<S>) {
                const auto raw = read_scalars<S>(d);
                if (raw.size() == count * sizeof(S) && flat() && no_errors_in(first, count)) {
                    // The common case (numbers into a map): the chunk's
                    // values in one copy.
                    done_ += values_.set_raw(first, count, raw.data());
                    finish_if_complete(lock);
                    return;
                }
                if (raw.size() == count * sizeof(S)) {
                    for (std::size_t i = 0; i < count; ++i) {
                        S v;
                        std::memcpy(&v, raw.data() + i * sizeof(S), sizeof(S));
                        store(lock, first + i, Slot(std::in_place_index<1>, v));
                    }
                    finish_if_complete(lock);
                    return;
                }
            }
            auto e = std::make_exception_ptr(
                SerializationError("a pool worker sent results of the wrong type or number"));
            for (std::size_t i = 0; i < count; ++i)
                store(lock, first + i, Slot(std::in_place_index<2>, e));
            finish_if_complete(lock);
            return;
        }
        for (std::size_t i = 0; i < count; ++i) {
            try {
                if (d.read_bool()) {
                    store(lock, first + i, Slot(std::in_place_index<1>, mproc::decode<S>(d)));
                } else {
                    store(lock, first + i, Slot(std::in_place_index<2>, read_task_error(d)));
                }
            } catch (const SerializationError&) {
                // A result this side cannot decode: that item and the rest
                // of the chunk (the stream position is lost) fail.
                auto e = std::current_exception();
                for (; i < count; ++i) store(lock, first + i, Slot(std::in_place_index<2>, e));
            }
        }
        finish_if_complete(lock);
    }
    void failed(std::size_t first, std::size_t count, std::exception_ptr e) override {
        std::unique_lock lock(m_);
        for (std::size_t i = 0; i < count; ++i)
            store(lock, first + i, Slot(std::in_place_index<2>, e));
        finish_if_complete(lock);
    }
    void input_end(std::size_t total) override {
        std::unique_lock lock(m_);
        total_ = total;
        if (flat()) values_.reserve(total);
        finish_if_complete(lock);
    }
    void abandon(std::exception_ptr e) override {
        std::unique_lock lock(m_);
        // Input not read to its end: the next item fails too, so that a job
        // nothing was taken from fails instead of completing empty.
        if (!total_) total_ = pulled_ + 1;
        for (std::size_t i = 0; i < *total_; ++i)
            if (pending(i)) store(lock, i, Slot(std::in_place_index<2>, e));
        finish_if_complete(lock);
    }

    // AsyncState (single and list modes).
    bool wait_ready(Timeout timeout) override {
        std::unique_lock lock(m_);
        return wait_on(
            lock, cv_, [&] { return ready_; }, timeout);
    }
    Out value() override {
        std::unique_lock lock(m_);
        if (error_) std::rethrow_exception(error_);
        if constexpr (std::is_void_v<Out>)
            return;
        else
            return *out_;
    }
    bool succeeded() override {
        std::lock_guard lock(m_);
        if (!ready_) throw ValueError("AsyncResult is not ready");
        return !error_;
    }
    std::size_t done_count() override {
        std::lock_guard lock(m_);
        return done_;
    }
    std::optional<std::size_t> total_count() override {
        std::lock_guard lock(m_);
        return total_;
    }

    /// The thread twin (mproc::dummy::Pool): n more items handed out.
    void note_pulled(std::size_t n) {
        std::lock_guard lock(m_);
        pulled_ += n;
    }
    /// The thread twin, terminated: the items not handed out fail with e
    /// (those running finish).
    void abandon_unpulled(std::exception_ptr e) {
        std::unique_lock lock(m_);
        if (!total_) total_ = pulled_ + 1;
        for (std::size_t i = pulled_; i < *total_; ++i)
            if (pending(i)) store(lock, i, Slot(std::in_place_index<2>, e));
        finish_if_complete(lock);
    }
    /// The thread twin: item i's result, or its error.
    void set_result(std::size_t i, Slot slot) {
        std::unique_lock lock(m_);
        store(lock, i, std::move(slot));
        finish_if_complete(lock);
    }

    /// map(): the values, moved out (after wait_ready).
    Out take() {
        std::unique_lock lock(m_);
        if (error_) std::rethrow_exception(error_);
        return std::move(*out_);
    }

    /// imap: the next result in order (ordered) or of arrival; nullopt at
    /// the end; rethrows a failed item's error (and moves past it).
    std::optional<S> next(Timeout timeout) {
        std::unique_lock lock(m_);
        auto available = [&] {
            if (total_ && consumed_ >= *total_) return true;
            if (mode_ == JobMode::unordered) return !arrived_.empty();
            return !slots_.empty() && slots_.front().index() != 0;
        };
        if (!wait_on(lock, cv_, available, timeout)) throw TimeoutError("imap: no result in time");
        if (total_ && consumed_ >= *total_) return std::nullopt;
        Slot slot;
        if (mode_ == JobMode::unordered) {
            slot = std::move(arrived_.front());
            arrived_.pop_front();
        } else {
            slot = std::move(slots_.front());
            slots_.pop_front();
            ++base_;
        }
        const bool was_held = limit_ && pulled_ - consumed_ >= limit_;
        ++consumed_;
        lock.unlock();
        if (was_held && wake) wake();
        if (slot.index() == 2) std::rethrow_exception(std::get<2>(slot));
        return std::move(std::get<1>(slot));
    }

  private:
    /// single and list: results kept flat, by item, until the job ends.
    bool flat() const { return mode_ == JobMode::single || mode_ == JobMode::list; }
    bool no_errors_in(std::size_t first, std::size_t count) const {
        if (errors_.empty()) return true;
        auto it = errors_.lower_bound(first);
        return it == errors_.end() || it->first >= first + count;
    }
    bool pending(std::size_t i) {
        if (mode_ == JobMode::unordered) return i >= stored_.size() || !stored_[i];
        if (flat()) return !values_.has(i) && !errors_.contains(i);
        return i >= base_ && (i - base_ >= slots_.size() || slots_[i - base_].index() == 0);
    }
    void store(std::unique_lock<std::mutex>&, std::size_t i, Slot slot) {
        if (mode_ == JobMode::unordered) {
            if (stored_.size() <= i) stored_.resize(i + 1);
            if (stored_[i]) return;
            stored_[i] = true;
            arrived_.push_back(std::move(slot));
        } else if (flat()) {
            if (!pending(i)) return;
            if (slot.index() == 2) {
                errors_.emplace(i, std::get<2>(std::move(slot)));
            } else {
                values_.set(i, std::get<1>(std::move(slot)));
            }
        } else {
            if (i < base_) return;
            if (slots_.size() <= i - base_) slots_.resize(i - base_ + 1);
            if (slots_[i - base_].index() != 0) return;
            slots_[i - base_] = std::move(slot);
        }
        ++done_;
        if (mode_ == JobMode::ordered || mode_ == JobMode::unordered) cv_.notify_all();
    }
    void finish_if_complete(std::unique_lock<std::mutex>& lock) {
        // finishing_: once, even when the last result and the total (known
        // when the input is exhausted) arrive on two threads at once.
        if (ready_ || finishing_ || !total_ || done_ < *total_) return;
        if (mode_ == JobMode::ordered || mode_ == JobMode::unordered) {
            ready_ = true;
            cv_.notify_all();
            return;
        }
        // The first failed item's error, as Python's map raises.
        if (!errors_.empty()) error_ = errors_.begin()->second;
        if (!error_) {
            if constexpr (std::is_same_v<Out, std::vector<S>>) {
                out_.emplace(values_.take_all());
            } else if constexpr (!std::is_void_v<Out>) {
                if (!values_.has(0))
                    error_ = std::make_exception_ptr(ProcessError("the task produced no result"));
                else
                    out_.emplace(values_.take_first());
            } else {
                out_.emplace();
            }
        }
        values_.clear();
        errors_.clear();
        finishing_ = true;
        // Python calls the callback before the result becomes ready.
        lock.unlock();
        try {
            if (error_) {
                if (error_callback) error_callback(error_);
            } else if (callback) {
                callback(*out_);
            }
        } catch (...) {
            // As Python's result handler, a failing callback does not stop the pool.
        }
        lock.lock();
        ready_ = true;
        cv_.notify_all();
    }

    JobMode mode_;
    Source source_;
    std::size_t limit_;
    std::mutex m_;
    std::condition_variable cv_;
    ItemResults<S> values_;                             // single, list: by item
    std::map<std::size_t, std::exception_ptr> errors_;  // single, list: failed items
    std::deque<Slot> slots_;                            // ordered: item base_ + i
    std::size_t base_ = 0;                              // ordered: items consumed
    std::deque<Slot> arrived_;                          // unordered: in order of arrival
    std::vector<bool> stored_;                          // unordered: which items arrived
    std::size_t pulled_ = 0, consumed_ = 0, done_ = 0;
    std::optional<std::size_t> total_;
    bool ready_ = false;
    bool finishing_ = false;
    std::exception_ptr error_;
    std::optional<OutStore> out_;
};

template <class T>
struct is_tuple : std::false_type {};
template <class... T>
struct is_tuple<std::tuple<T...>> : std::true_type {};
template <class A, class B>
struct is_tuple<std::pair<A, B>> : std::true_type {};

/// The result of calling F on one item (Star: on the tuple's elements).
template <class F, class Arg, bool Star>
struct task_result : call_result<task_function_t<F>, Arg, Star> {};

}  // namespace detail

/// The result of apply_async / map_async (Python: AsyncResult, MapResult).
template <class T>
class AsyncResult {
  public:
    /// The value; waits up to timeout (TimeoutError if not ready by then);
    /// rethrows the task's error.
    T get(Timeout timeout = std::nullopt) {
        if (!state_->wait_ready(timeout)) throw TimeoutError("AsyncResult::get: not ready in time");
        return state_->value();
    }
    /// Waits until ready or the timeout passes.
    void wait(Timeout timeout = std::nullopt) { state_->wait_ready(timeout); }
    /// True once the call has completed.
    bool ready() { return state_->wait_ready(std::chrono::seconds(0)); }
    /// True if it completed without error; ValueError if not ready.
    bool successful() { return state_->succeeded(); }
    /// Progress: tasks done so far.
    std::size_t done() { return state_->done_count(); }
    /// Progress: tasks in all (nullopt until the input has been read).
    std::optional<std::size_t> total() { return state_->total_count(); }

  private:
    friend class Pool;
    friend class dummy::Pool;
    explicit AsyncResult(std::shared_ptr<detail::AsyncState<T>> s) : state_(std::move(s)) {}
    std::shared_ptr<detail::AsyncState<T>> state_;
};

/// The lazy result of imap / imap_unordered: an input range, and next().
template <class T>
class IMapIterator {
  public:
    /// The next result; nullopt at the end; TimeoutError if none comes in
    /// time; rethrows a failed task's error (the next call goes on after it).
    std::optional<T> next(Timeout timeout = std::nullopt) { return job_->next(timeout); }
    /// Progress: tasks done so far.
    std::size_t done() { return job_->done_count(); }
    /// Progress: tasks in all (nullopt until the input has been read).
    std::optional<std::size_t> total() { return job_->total_count(); }

    /// An input iterator over the results.
    class iterator {
      public:
        using value_type = T;
        using difference_type = std::ptrdiff_t;
        iterator() = default;
        explicit iterator(IMapIterator* it) : it_(it) { ++*this; }
        T& operator*() const { return *current_; }
        iterator& operator++() {
            current_.reset();
            current_ = it_->next();
            return *this;
        }
        void operator++(int) { ++*this; }
        friend bool operator==(const iterator& i, std::default_sentinel_t) {
            return !i.current_.has_value();
        }

      private:
        IMapIterator* it_ = nullptr;
        mutable std::optional<T> current_;
    };
    /// Starts (or resumes) iterating.
    iterator begin() { return iterator(this); }
    std::default_sentinel_t end() { return {}; }

  private:
    friend class Pool;
    friend class dummy::Pool;
    using Job = detail::ResultJob<T, T>;
    explicit IMapIterator(std::shared_ptr<Job> job) : job_(std::move(job)) {}
    std::shared_ptr<Job> job_;
};

/// A pool of worker processes (Python: multiprocessing.Pool).
class MPROC_API Pool {
  public:
    /// processes workers (cpu_count() by default) of the default context.
    explicit Pool(std::optional<int> processes = std::nullopt)
        : Pool(get_context(), PoolOptions{processes}) {}
    /// A pool with options, of the default context.
    explicit Pool(const PoolOptions& options) : Pool(get_context(), options) {}
    /// A pool whose workers each run initializer(initargs...) first.
    template <class F, class... A>
    Pool(const PoolOptions& options, F&& initializer, A&&... initargs)
        : Pool(get_context(), options, std::forward<F>(initializer), std::forward<A>(initargs)...) {
    }
    /// The same, made by ctx's start method (also ctx.Pool(...)).
    explicit Pool(const Context& ctx, std::optional<int> processes = std::nullopt)
        : Pool(ctx, PoolOptions{processes}) {}
    Pool(const Context& ctx, const PoolOptions& options)
        : core_(std::make_shared<detail::PoolCore>(ctx, options, bytes{}, nullptr)) {}
    template <class F, class... A>
    requires std::invocable < std::decay_t<F>
    &, std::decay_t<A>&... >
           Pool(const Context& ctx, const PoolOptions& options, F&& initializer, A&&... initargs)
        : core_(make_core(ctx, options, std::forward<F>(initializer),
                          std::forward<A>(initargs)...)) {}

    Pool(Pool&&) noexcept = default;
    Pool& operator=(Pool&&) noexcept = default;
    /// Terminates the pool (as leaving Python's `with` block) and joins it.
    ~Pool() {
        if (core_) {
            core_->terminate();
            core_->join();
        }
    }

    /// f(args...) in a worker; waits for the result.
    template <class F, class... A>
    requires std::invocable < std::decay_t<F>
    &, std::decay_t<A>&... > auto apply(F&& f, A&&... args) {
        detail::PoolCore::InterruptScope scope(*core_);
        return apply_async(std::forward<F>(f), std::forward<A>(args)...).get();
    }

    /// f(args...) in a worker; returns at once.
    template <class F, class... A>
    requires std::invocable < std::decay_t<F>
    &, std::decay_t<A>&... > auto apply_async(F&& f, A&&... args) {
        using R = typename detail::task_result<F, std::tuple<std::decay_t<A>...>, true>::type;
        return apply_async(std::forward<F>(f),
                           std::tuple<std::decay_t<A>...>(std::forward<A>(args)...),
                           std::function<void(const detail::stored_t<R>&)>{},
                           std::function<void(std::exception_ptr)>{});
    }

    /// Python's form: args as a tuple, with callback(result) and
    /// error_callback(exception), both run on the pool's result thread.
    template <class F, class... A>
    auto apply_async(
        F&& f, std::tuple<A...> args,
        std::function<void(
            const detail::stored_t<typename detail::task_result<F, std::tuple<A...>, true>::type>&)>
            callback,
        std::function<void(std::exception_ptr)> error_callback = {}) {
        using Arg = std::tuple<A...>;
        using R = typename detail::task_result<F, Arg, true>::type;
        using Out = R;
        using S = detail::stored_t<R>;
        check_types<F, Arg, true>();
        check_function<F>();
        std::vector<Arg> items;
        items.push_back(std::move(args));
        auto job = std::make_shared<detail::ResultJob<S, Out>>(
            detail::JobMode::single, list_source<F, Arg, true>(f, std::move(items), {}, 1));
        job->callback = std::move(callback);
        job->error_callback = std::move(error_callback);
        core_->submit(job);
        return AsyncResult<Out>(job);
    }

    /// f over every item of the range, in chunks; the results in order.
    /// Throws the first failed item's error. chunksize defaults as Python's.
    template <class F, std::ranges::input_range In>
    auto map(F&& f, In&& iterable, std::optional<std::size_t> chunksize = std::nullopt) {
        using Arg = std::remove_cvref_t<std::ranges::range_value_t<In>>;
        detail::PoolCore::InterruptScope scope(*core_);
        auto r = map_async_impl<F, Arg, false, true>(std::forward<F>(f), std::forward<In>(iterable),
                                                     chunksize, nullptr, {});
        r->wait_ready(std::nullopt);
        return r->take();
    }
    /// map, returning at once; callback gets the whole vector.
    template <class F, std::ranges::input_range In>
    auto map_async(F&& f, In&& iterable, std::optional<std::size_t> chunksize = std::nullopt,
                   std::function<void(
                       const std::vector<detail::stored_t<typename detail::task_result<
                           F, std::remove_cvref_t<std::ranges::range_value_t<In>>, false>::type>>&)>
                       callback = {},
                   std::function<void(std::exception_ptr)> error_callback = {}) {
        using Arg = std::remove_cvref_t<std::ranges::range_value_t<In>>;
        auto r = map_async_impl<F, Arg, false, false>(
            std::forward<F>(f), std::forward<In>(iterable), chunksize, std::move(callback),
            std::move(error_callback));
        using Out =
            std::vector<detail::stored_t<typename detail::task_result<F, Arg, false>::type>>;
        return AsyncResult<Out>(r);
    }
    /// map over tuples: f(std::get<0>(t), std::get<1>(t), ...).
    template <class F, std::ranges::input_range In>
    auto starmap(F&& f, In&& iterable, std::optional<std::size_t> chunksize = std::nullopt) {
        using Arg = std::remove_cvref_t<std::ranges::range_value_t<In>>;
        detail::PoolCore::InterruptScope scope(*core_);
        auto r = map_async_impl<F, Arg, true, true>(std::forward<F>(f), std::forward<In>(iterable),
                                                    chunksize, nullptr, {});
        r->wait_ready(std::nullopt);
        return r->take();
    }
    /// starmap, returning at once.
    template <class F, std::ranges::input_range In>
    auto starmap_async(
        F&& f, In&& iterable, std::optional<std::size_t> chunksize = std::nullopt,
        std::function<
            void(const std::vector<detail::stored_t<typename detail::task_result<
                     F, std::remove_cvref_t<std::ranges::range_value_t<In>>, true>::type>>&)>
            callback = {},
        std::function<void(std::exception_ptr)> error_callback = {}) {
        using Arg = std::remove_cvref_t<std::ranges::range_value_t<In>>;
        auto r = map_async_impl<F, Arg, true, false>(std::forward<F>(f), std::forward<In>(iterable),
                                                     chunksize, std::move(callback),
                                                     std::move(error_callback));
        using Out = std::vector<detail::stored_t<typename detail::task_result<F, Arg, true>::type>>;
        return AsyncResult<Out>(r);
    }

    /// A lazy map: results in order as they come. The input is read as
    /// workers need it (a bounded number of chunks ahead of what was
    /// consumed); an lvalue range is referenced and must outlive the
    /// iteration.
    template <class F, std::ranges::input_range In>
    auto imap(F&& f, In&& iterable, std::size_t chunksize = 1) {
        return imap_impl<F, false>(std::forward<F>(f), std::forward<In>(iterable), chunksize,
                                   detail::JobMode::ordered);
    }
    /// imap, with results in the order they finish.
    template <class F, std::ranges::input_range In>
    auto imap_unordered(F&& f, In&& iterable, std::size_t chunksize = 1) {
        return imap_impl<F, false>(std::forward<F>(f), std::forward<In>(iterable), chunksize,
                                   detail::JobMode::unordered);
    }

    /// No more tasks; the workers exit when the queued ones are done.
    void close() { core_->close(); }
    /// Stops the workers now; unfinished tasks fail with ProcessError.
    void terminate() { core_->terminate(); }
    /// Waits for the workers to exit; only after close() or terminate().
    void join() { core_->join(); }
    /// Number of worker processes.
    int processes() const { return core_->processes(); }

  private:
    template <class F, class... A>
    static std::shared_ptr<detail::PoolCore> make_core(const Context& ctx,
                                                       const PoolOptions& options, F&& init,
                                                       A&&... initargs) {
        bytes encoded;
        std::function<void()> local;
        if (ctx.get_start_method() == "fork") {
            local = [f = std::decay_t<F>(std::forward<F>(init)),
                     args = std::tuple<std::decay_t<A>...>(
                         std::forward<A>(initargs)...)]() mutable { std::apply(f, args); };
        } else if constexpr (detail::PlainFunction<F> && (Serializable<std::decay_t<A>> && ...)) {
            auto e = default_serializer().make_encoder();
            auto fn = +init;
            mproc::encode(*e, &detail::exec_trampoline<decltype(fn), std::decay_t<A>...>);
            mproc::encode(*e, fn);
            mproc::encode(*e, std::tuple<std::decay_t<A>...>(std::forward<A>(initargs)...));
            auto d = e->data();
            encoded.assign(d.begin(), d.end());
        } else {
            throw ValueError(
                "a Pool initializer must be a plain function with serializable arguments under "
                "the spawn and forkserver start methods");
        }
        return std::make_shared<detail::PoolCore>(ctx, options, std::move(encoded),
                                                  std::move(local));
    }

    // ValueError if F cannot cross into a worker under this pool's start method.
    template <class F>
    void check_function() const {
        if constexpr (detail::PlainFunction<F>) {
            return;
        } else if constexpr (detail::trivially_copyable_callable<F>) {
            if (!core_->forks())
                throw ValueError(
                    "under the " + core_->start_method() +
                    " start method a Pool task must be a plain function (a free function, a "
                    "static member, or a lambda without captures): a function object cannot "
                    "cross exec");
        } else {
            throw ValueError(
                "a Pool task must be a plain function, or under fork a trivially copyable "
                "function object (a lambda capturing numbers, pointers or references); this "
                "one holds data that cannot be copied as bytes (a std::string, a "
                "std::function, ...)");
        }
    }

    // Writes F as a task carries it (after check_function).
    template <class F>
    static void write_function(Encoder& e, const F& f) {
        if constexpr (detail::PlainFunction<F>)
            mproc::encode(e, +f);
        else if constexpr (detail::trivially_copyable_callable<F>)
            e.write_bin(std::as_bytes(std::span(&f, 1)));
    }

    template <class F, class Arg, bool Star>
    static constexpr void check_types() {
        static_assert(Serializable<Arg>,
                      "a Pool task's argument type needs an mproc::codec (see <mproc/codec.hpp>)");
        using R = typename detail::task_result<F, Arg, Star>::type;
        static_assert(std::is_void_v<R> || Serializable<std::remove_cvref_t<R>>,
                      "a Pool task's result type needs an mproc::codec (see <mproc/codec.hpp>)");
    }

    template <class F, class Arg, bool Star>
    static detail::PoolTrampoline trampoline() {
        return &detail::pool_trampoline<detail::task_function_t<F>, Arg, Star>;
    }

    // A chunk as a task carries it: [count, trampoline, function,
    // arguments] (numbers as one bulk array).
    template <class F, class Arg, bool Star, class Fn>
    static void write_chunk(Encoder& e, const Fn& fn, const Arg* items, std::size_t n) {
        e.write_uint(n);
        mproc::encode(e, trampoline<F, Arg, Star>());
        write_function(e, fn);
        if constexpr (detail::PoolBulk<Arg> && !Star) {
            e.write_bulk(detail::scalar_kind<Arg>(), items, n);
        } else {
            for (std::size_t i = 0; i < n; ++i) mproc::encode(e, items[i]);
        }
    }

    // map, apply: the whole input, encoded a chunk at a time as workers
    // take them. Owned: a copy (as Python makes a list of it), or borrowed
    // (`borrowed` non-empty): the caller's items, for a call that blocks
    // until every item is done (once all are handed out the source never
    // reads them again, even to say that it is used up).
    template <class F, class Arg, bool Star>
    static std::function<std::size_t(Encoder&)> list_source(const F& f, std::vector<Arg> owned,
                                                            std::span<const Arg> borrowed,
                                                            std::size_t chunksize) {
        struct State {
            std::decay_t<F> fn;
            std::vector<Arg> owned;
            std::span<const Arg> items;
            std::size_t next = 0;
        };
        auto state = std::make_shared<State>(State{f, std::move(owned), borrowed, 0});
        if (state->items.empty()) state->items = state->owned;
        return [state, chunksize](Encoder& out) -> std::size_t {
            auto& s = *state;
            const std::size_t n = std::min(chunksize, s.items.size() - s.next);
            if (n == 0) return 0;
            write_chunk<F, Arg, Star>(out, s.fn, s.items.data() + s.next, n);
            s.next += n;
            return n;
        };
    }

    // The input as a vector (one copy; a contiguous range of Arg in one piece).
    template <class Arg, class In>
    static std::vector<Arg> copy_input(In& iterable) {
        std::vector<Arg> items;
        if constexpr (detail::ContiguousOf<In, Arg>) {
            const Arg* p = std::ranges::data(iterable);
            items.assign(p, p + std::ranges::size(iterable));
        } else {
            if constexpr (std::ranges::sized_range<In>)
                items.reserve(std::size_t(std::ranges::size(iterable)));
            for (auto&& x : iterable) items.push_back(static_cast<Arg>(x));
        }
        return items;
    }

    // Python's default: len / (4 * processes), rounded up.
    std::size_t default_chunksize(std::size_t len) const {
        const std::size_t d = 4 * std::size_t(processes());
        return len == 0 ? 1 : (len + d - 1) / d;
    }

    // Blocking: the call waits for every item (map, starmap), so a
    // contiguous input of Arg is read in place instead of copied.
    template <class F, class Arg, bool Star, bool Blocking, class In, class CB>
    auto map_async_impl(F&& f, In&& iterable, std::optional<std::size_t> chunksize, CB callback,
                        std::function<void(std::exception_ptr)> error_callback) {
        using R = typename detail::task_result<F, Arg, Star>::type;
        using S = detail::stored_t<R>;
        using Out = std::vector<S>;
        check_types<F, Arg, Star>();
        check_function<F>();
        if (chunksize && *chunksize == 0) throw ValueError("chunksize must be at least 1");
        std::vector<Arg> items;
        std::span<const Arg> borrowed;
        if constexpr (Blocking && detail::ContiguousOf<In, Arg>)
            borrowed =
                std::span<const Arg>(std::ranges::data(iterable), std::ranges::size(iterable));
        else
            items = copy_input<Arg>(iterable);
        const std::size_t total = borrowed.empty() ? items.size() : borrowed.size();
        const std::size_t cs = chunksize ? *chunksize : default_chunksize(total);
        auto job = std::make_shared<detail::ResultJob<S, Out>>(
            detail::JobMode::list, list_source<F, Arg, Star>(f, std::move(items), borrowed, cs));
        job->callback = std::move(callback);
        job->error_callback = std::move(error_callback);
        job->input_end(total);  // known from the start: total() is never empty
        core_->submit(job);
        return job;
    }

    template <class F, bool Star, class In>
    auto imap_impl(F&& f, In&& iterable, std::size_t chunksize, detail::JobMode mode) {
        using Arg = std::remove_cvref_t<std::ranges::range_value_t<In>>;
        check_types<F, Arg, Star>();
        using R = typename detail::task_result<F, Arg, Star>::type;
        using S = detail::stored_t<R>;
        if (chunksize == 0) throw ValueError("chunksize must be at least 1");
        check_function<F>();
        auto view = std::views::all(std::forward<In>(iterable));
        using View = decltype(view);
        struct State {
            View view;
            std::optional<std::ranges::iterator_t<View>> it;
            std::vector<Arg> batch;  // the next chunk's items (its count goes first)
        };
        auto state = std::make_shared<State>(State{std::move(view), std::nullopt, {}});
        auto fn = std::decay_t<F>(f);
        auto source = [state, fn, chunksize](Encoder& out) -> std::size_t {
            auto& s = *state;
            if (!s.it) s.it.emplace(std::ranges::begin(s.view));
            auto& it = *s.it;
            s.batch.clear();
            while (s.batch.size() < chunksize && it != std::ranges::end(s.view)) {
                s.batch.push_back(static_cast<Arg>(*it));
                ++it;
            }
            if (s.batch.empty()) return 0;
            write_chunk<F, Arg, Star>(out, fn, s.batch.data(), s.batch.size());
            return s.batch.size();
        };
        const std::size_t limit = chunksize * std::size_t(std::max(4, 2 * processes()));
        auto job = std::make_shared<detail::ResultJob<S, S>>(mode, std::move(source), limit);
        core_->submit(job);
        return IMapIterator<S>(job);
    }

    std::shared_ptr<detail::PoolCore> core_;
};

}  // namespace mproc
