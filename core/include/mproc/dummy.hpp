// mproc::dummy: the thread twin of the process API (Python:
// multiprocessing.dummy). dummy::Pool (also mproc::ThreadPool) has Pool's
// API over threads of this process: any callable, arguments and results are
// not serialized (nor copied more than C++ copies them), exceptions keep
// their own type.
//
//   #include <mproc/dummy.hpp>
//   namespace mp = mproc::dummy;       // or mproc for processes
//   mp::Pool pool(4);
//   std::vector<int> v = pool.map([&](int x) { return x * k; }, std::views::iota(0, 10));
//   for (int x : pool.imap_unordered(sq, items)) ...
//
// Differences from mproc::Pool: callbacks run on the worker thread that
// finished the call; terminate() cannot stop a running task (threads cannot
// be killed): it fails the queued ones and waits for the running ones;
// task_timeout and max_memory_per_child do not apply. Also here:
// dummy::Process (a thread with Process's API), dummy::Queue and
// JoinableQueue (in-process queues with Queue's API), dummy::Lock and RLock
// (std::mutex, std::recursive_mutex). Not included by
// <mproc/mproc.hpp>, as Python's multiprocessing.dummy is its own module.
#pragma once

#include <mproc/export.hpp>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <ranges>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <mproc/pool.hpp>

namespace mproc {

namespace dummy {

namespace detail {

/// The threads and their work: sources of tasks, pulled lazily.
class MPROC_API ThreadPoolCore {
  public:
    /// A source hands out one task at a time (nullopt when used up).
    struct Source {
        std::function<std::optional<std::function<void()>>()> next;
        std::function<bool()> may_pull;
        std::function<void(std::exception_ptr)> abandon;
    };

    ThreadPoolCore(int n, std::function<void()> initializer) {
        for (int i = 0; i < n; ++i)
            threads_.emplace_back([this, initializer] {
                if (initializer) {
                    try {
                        initializer();
                    } catch (...) {
                        std::lock_guard lock(m_);
                        if (!broken_) broken_ = std::current_exception();
                    }
                }
                loop();
            });
    }
    ~ThreadPoolCore() {
        terminate();
        join();
    }

    void submit(Source s) {
        {
            std::lock_guard lock(m_);
            if (broken_) std::rethrow_exception(broken_);
            if (state_ != run) throw ValueError("Pool not running");
            sources_.push_back(std::move(s));
        }
        cv_.notify_all();
    }
    void wake() { cv_.notify_all(); }
    void close() {
        std::lock_guard lock(m_);
        if (state_ == run) state_ = closing;
        cv_.notify_all();
    }
    void terminate() {
        std::list<Source> dropped;
        {
            std::lock_guard lock(m_);
            state_ = terminating;
            dropped.swap(sources_);
        }
        cv_.notify_all();
        auto e = std::make_exception_ptr(ProcessError("the Pool was terminated"));
        for (auto& s : dropped) s.abandon(e);
        join_threads();
    }
    void join() {
        {
            std::lock_guard lock(m_);
            if (state_ == run)
                throw ValueError(
                    "Pool is still running: call close() or terminate() before join()");
        }
        join_threads();
    }
    int size() const { return int(threads_.size()); }

  private:
    enum State { run, closing, terminating };

    void join_threads() {
        std::lock_guard lock(join_m_);
        for (auto& t : threads_)
            if (t.joinable() && t.get_id() != std::this_thread::get_id()) t.join();
    }

    void loop() {
        std::unique_lock lock(m_);
        for (;;) {
            if (broken_) {
                auto dropped = std::move(sources_);
                sources_.clear();
                lock.unlock();
                for (auto& s : dropped) s.abandon(broken_);
                lock.lock();
            }
            if (state_ == terminating) return;
            std::optional<std::function<void()>> task;
            for (auto it = sources_.begin(); it != sources_.end();) {
                if (!it->may_pull()) {
                    ++it;
                    continue;
                }
                task = it->next();  // reads the input, under the lock
                if (task) break;
                it = sources_.erase(it);
            }
            if (task) {
                ++running_;
                lock.unlock();
                (*task)();
                lock.lock();
                --running_;
                continue;
            }
            if (state_ == closing && sources_.empty()) {
                cv_.notify_all();
                return;
            }
            cv_.wait(lock);
        }
    }

    std::mutex m_, join_m_;
    std::condition_variable cv_;
    std::list<Source> sources_;
    State state_ = run;
    int running_ = 0;
    std::exception_ptr broken_;
    std::vector<std::thread> threads_;
};

}  // namespace detail

/// A pool of threads with mproc::Pool's API (Python: multiprocessing.dummy.Pool).
class MPROC_API Pool {
  public:
    /// processes threads (cpu_count() by default).
    explicit Pool(std::optional<int> processes = std::nullopt)
        : core_(std::make_shared<detail::ThreadPoolCore>(count(processes), nullptr)) {}
    /// Each thread runs initializer(initargs...) first.
    template <class F, class... A>
    Pool(std::optional<int> processes, F&& initializer, A&&... initargs)
        : core_(std::make_shared<detail::ThreadPoolCore>(
              count(processes), [f = std::decay_t<F>(std::forward<F>(initializer)),
                                 args = std::tuple<std::decay_t<A>...>(std::forward<A>(
                                     initargs)...)]() mutable { std::apply(f, args); })) {}
    /// Terminates and joins, as leaving Python's `with` block.
    ~Pool() = default;

    /// f(args...) on a thread of the pool; waits for the result.
    template <class F, class... A>
    auto apply(F&& f, A&&... args) {
        return apply_async(std::forward<F>(f), std::forward<A>(args)...).get();
    }
    /// f(args...) on a thread of the pool; returns at once.
    template <class F, class... A>
    requires std::invocable < std::decay_t<F>
    &, std::decay_t<A>&... > auto apply_async(F&& f, A&&... args) {
        using R = std::invoke_result_t<std::decay_t<F>&, std::decay_t<A>&...>;
        return apply_async(std::forward<F>(f),
                           std::tuple<std::decay_t<A>...>(std::forward<A>(args)...),
                           std::function<void(const mproc::detail::stored_t<R>&)>{}, {});
    }
    /// Python's form, with callback and error_callback (run on the worker thread).
    template <class F, class... A>
    auto apply_async(F&& f, std::tuple<A...> args,
                     std::function<void(
                         const mproc::detail::stored_t<decltype(std::apply(f, std::move(args)))>&)>
                         callback,
                     std::function<void(std::exception_ptr)> error_callback = {}) {
        using R = decltype(std::apply(f, std::move(args)));
        using S = mproc::detail::stored_t<R>;
        auto job = make_job<S, R>(mproc::detail::JobMode::single, 0);
        job->callback = std::move(callback);
        job->error_callback = std::move(error_callback);
        auto items = std::make_shared<std::vector<std::tuple<A...>>>();
        items->push_back(std::move(args));
        submit_items<true>(job, std::decay_t<F>(std::forward<F>(f)), *items, items, 1);
        return AsyncResult<R>(job);
    }

    /// f over every item, results in order; throws the first error.
    template <class F, std::ranges::input_range In>
    auto map(F&& f, In&& iterable, std::optional<std::size_t> chunksize = std::nullopt) {
        auto r = map_async(std::forward<F>(f), std::forward<In>(iterable), chunksize);
        return r.get();
    }
    /// map, returning at once.
    template <class F, std::ranges::input_range In>
    auto map_async(
        F&& f, In&& iterable, std::optional<std::size_t> chunksize = std::nullopt,
        std::function<void(const std::vector<mproc::detail::stored_t<std::invoke_result_t<
                               std::decay_t<F>&, std::ranges::range_reference_t<In>>>>&)>
            callback = {},
        std::function<void(std::exception_ptr)> error_callback = {}) {
        return list_async<false>(std::forward<F>(f), std::forward<In>(iterable), chunksize,
                                 std::move(callback), std::move(error_callback));
    }
    /// map over tuples.
    template <class F, std::ranges::input_range In>
    auto starmap(F&& f, In&& iterable, std::optional<std::size_t> chunksize = std::nullopt) {
        return starmap_async(std::forward<F>(f), std::forward<In>(iterable), chunksize).get();
    }
    /// starmap, returning at once.
    template <class F, std::ranges::input_range In>
    auto starmap_async(F&& f, In&& iterable, std::optional<std::size_t> chunksize = std::nullopt) {
        using Arg = std::remove_cvref_t<std::ranges::range_value_t<In>>;
        using R = decltype(std::apply(std::declval<std::decay_t<F>&>(), std::declval<Arg>()));
        return list_async<true>(
            std::forward<F>(f), std::forward<In>(iterable), chunksize,
            std::function<void(const std::vector<mproc::detail::stored_t<R>>&)>{}, {});
    }
    /// Lazy map, in order (the input is read as threads need it).
    template <class F, std::ranges::input_range In>
    auto imap(F&& f, In&& iterable, std::size_t chunksize = 1) {
        return imap_impl(std::forward<F>(f), std::forward<In>(iterable), chunksize,
                         mproc::detail::JobMode::ordered);
    }
    /// Lazy map, in order of completion.
    template <class F, std::ranges::input_range In>
    auto imap_unordered(F&& f, In&& iterable, std::size_t chunksize = 1) {
        return imap_impl(std::forward<F>(f), std::forward<In>(iterable), chunksize,
                         mproc::detail::JobMode::unordered);
    }

    /// No more tasks; threads end when the queued ones are done.
    void close() { core_->close(); }
    /// Fails the queued tasks and waits for the running ones.
    void terminate() { core_->terminate(); }
    /// Waits for the threads; only after close() or terminate().
    void join() { core_->join(); }
    /// Number of threads.
    int processes() const { return core_->size(); }

  private:
    static int count(std::optional<int> n) {
        int k = n.value_or(cpu_count());
        if (k < 1) throw ValueError("Number of processes must be at least 1");
        return k;
    }

    template <class S, class Out>
    std::shared_ptr<mproc::detail::ResultJob<S, Out>> make_job(mproc::detail::JobMode mode,
                                                               std::size_t limit) {
        auto job = std::make_shared<mproc::detail::ResultJob<S, Out>>(
            mode, [](std::vector<std::byte>&) -> std::size_t { return 0; }, limit);
        std::weak_ptr<detail::ThreadPoolCore> core = core_;
        job->wake = [core] {
            if (auto c = core.lock()) c->wake();
        };
        return job;
    }

    // Runs f over a range (kept alive by `keep`), chunk by chunk, lazily.
    template <bool Star, class Job, class F, class View, class Keep>
    void submit_items(std::shared_ptr<Job> job, F f, View& view, Keep keep, std::size_t chunksize) {
        using It = std::ranges::iterator_t<View>;
        struct State {
            F f;
            View* view;
            Keep keep;
            std::optional<It> it;
            std::size_t next = 0;
        };
        auto st = std::make_shared<State>(State{std::move(f), &view, std::move(keep), {}, 0});
        detail::ThreadPoolCore::Source src;
        src.may_pull = [job] { return job->may_pull(); };
        src.abandon = [job](std::exception_ptr e) { job->abandon_unpulled(e); };
        src.next = [st, job, chunksize]() -> std::optional<std::function<void()>> {
            auto& s = *st;
            if (!s.it) s.it.emplace(std::ranges::begin(*s.view));
            using Arg = std::remove_cvref_t<std::ranges::range_value_t<View>>;
            std::vector<Arg> items;
            const std::size_t first = s.next;
            try {
                while (items.size() < chunksize && *s.it != std::ranges::end(*s.view)) {
                    items.push_back(static_cast<Arg>(**s.it));
                    ++*s.it;
                }
            } catch (...) {
                job->set_result(first + items.size(), std::current_exception());
                job->input_end(first + items.size() + 1);
                return std::nullopt;
            }
            if (items.empty()) {
                job->input_end(first);
                return std::nullopt;
            }
            s.next += items.size();
            job->note_pulled(items.size());
            if (*s.it == std::ranges::end(*s.view)) job->input_end(s.next);
            return [st, job, first, items = std::move(items)]() mutable {
                for (std::size_t i = 0; i < items.size(); ++i) {
                    try {
                        using R = decltype(call<Star>(st->f, std::move(items[i])));
                        if constexpr (std::is_void_v<R>) {
                            call<Star>(st->f, std::move(items[i]));
                            job->set_result(first + i, typename Job::Slot(std::in_place_index<1>));
                        } else {
                            job->set_result(first + i, typename Job::Slot(
                                                           std::in_place_index<1>,
                                                           call<Star>(st->f, std::move(items[i]))));
                        }
                    } catch (...) {
                        job->set_result(first + i, typename Job::Slot(std::in_place_index<2>,
                                                                      std::current_exception()));
                    }
                }
            };
        };
        core_->submit(std::move(src));
    }

    template <bool Star, class F, class Arg>
    static decltype(auto) call(F& f, Arg&& a) {
        if constexpr (Star)
            return std::apply(f, std::forward<Arg>(a));
        else
            return f(std::forward<Arg>(a));
    }

    template <bool Star, class F, class In, class CB>
    auto list_async(F&& f, In&& iterable, std::optional<std::size_t> chunksize, CB callback,
                    std::function<void(std::exception_ptr)> error_callback) {
        using Arg = std::remove_cvref_t<std::ranges::range_value_t<In>>;
        using R = decltype(call<Star>(std::declval<std::decay_t<F>&>(), std::declval<Arg>()));
        using S = mproc::detail::stored_t<R>;
        using Out = std::vector<S>;
        // As Python: the input is made a list first.
        auto items = std::make_shared<std::vector<Arg>>();
        for (auto&& x : iterable) items->push_back(static_cast<Arg>(x));
        const std::size_t d = 4 * std::size_t(processes());
        std::size_t cs =
            chunksize ? *chunksize : (items->empty() ? 1 : (items->size() + d - 1) / d);
        if (cs == 0) throw ValueError("chunksize must be at least 1");
        auto job = make_job<S, Out>(mproc::detail::JobMode::list, 0);
        job->callback = std::move(callback);
        job->error_callback = std::move(error_callback);
        submit_items<Star>(job, std::decay_t<F>(std::forward<F>(f)), *items, items, cs);
        return AsyncResult<Out>(job);
    }

    template <class F, class In>
    auto imap_impl(F&& f, In&& iterable, std::size_t chunksize, mproc::detail::JobMode mode) {
        using Arg = std::remove_cvref_t<std::ranges::range_value_t<In>>;
        using R = std::invoke_result_t<std::decay_t<F>&, Arg>;
        using S = mproc::detail::stored_t<R>;
        if (chunksize == 0) throw ValueError("chunksize must be at least 1");
        auto view = std::make_shared<std::ranges::views::all_t<In>>(
            std::views::all(std::forward<In>(iterable)));
        const std::size_t limit = chunksize * std::size_t(std::max(4, 2 * processes()));
        auto job = make_job<S, S>(mode, limit);
        submit_items<false>(job, std::decay_t<F>(std::forward<F>(f)), *view, view, chunksize);
        return IMapIterator<S>(job);
    }

    std::shared_ptr<detail::ThreadPoolCore> core_;
};

/// A thread with Process's API (Python: multiprocessing.dummy.Process,
/// i.e. threading.Thread): start, join(timeout), is_alive, name, daemon.
/// A daemon thread still running when the object is destroyed is detached;
/// a non-daemon one is joined.
class MPROC_API Process {
  public:
    /// A thread that will call f(args...).
    template <class F, class... A>
    requires std::invocable < std::decay_t<F>
    &,
        std::decay_t<A>&... > explicit Process(F&& f, A&&... args)
        : state_(std::make_shared<State>()),
    target_([f = std::decay_t<F>(std::forward<F>(f)),
             t = std::tuple<std::decay_t<A>...>(std::forward<A>(args)...)]() mutable {
        std::apply(f, t);
    }) {
        static std::atomic<int> counter{0};
        name_ = "Thread-" + std::to_string(++counter);
    }
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;
    Process(Process&&) noexcept = default;
    Process& operator=(Process&&) noexcept = default;
    ~Process() {
        if (thread_.joinable()) {
            if (daemon_)
                thread_.detach();
            else
                thread_.join();
        }
    }

    /// Starts the thread; at most once.
    void start() {
        if (started_) throw ValueError("threads can only be started once");
        started_ = true;
        thread_ = std::thread([st = state_, f = std::move(target_)]() mutable {
            try {
                f();
            } catch (...) {
                // An exception ends the thread (Python prints it; here it is dropped).
            }
            std::lock_guard lock(st->m);
            st->done = true;
            st->cv.notify_all();
        });
    }
    /// Waits for the thread to end, up to timeout.
    void join(Timeout timeout = std::nullopt) {
        if (!started_) throw ValueError("cannot join thread before it is started");
        std::unique_lock lock(state_->m);
        if (!mproc::detail::wait_on(
                lock, state_->cv, [&] { return state_->done; }, timeout))
            return;
        lock.unlock();
        if (thread_.joinable()) thread_.join();
    }
    /// True from start() until the thread's function returned.
    bool is_alive() const {
        if (!started_) return false;
        std::lock_guard lock(state_->m);
        return !state_->done;
    }
    /// The name ("Thread-N" or the one set).
    const std::string& name() const { return name_; }
    /// Sets the name.
    void set_name(std::string n) { name_ = std::move(n); }
    /// The daemon flag.
    bool daemon() const { return daemon_; }
    /// Sets the daemon flag; before start().
    void set_daemon(bool d) {
        if (started_) throw ValueError("cannot set daemon status of active thread");
        daemon_ = d;
    }

  private:
    struct State {
        mutable std::mutex m;
        std::condition_variable cv;
        bool done = false;
    };
    std::shared_ptr<State> state_;
    std::function<void()> target_;
    std::thread thread_;
    std::string name_;
    bool started_ = false;
    bool daemon_ = false;
};

/// A FIFO queue between threads (Python: multiprocessing.dummy.Queue, i.e.
/// queue.Queue): put/get with block and timeout, Empty, Full, task_done/join.
template <class T>
class Queue {
  public:
    /// maxsize <= 0: unbounded.
    explicit Queue(int maxsize = 0) : s_(std::make_shared<State>()) { s_->maxsize = maxsize; }
    /// Adds obj, waiting (block) up to timeout for room, else Full.
    void put(T obj, bool block = true, Timeout timeout = std::nullopt) {
        std::unique_lock lock(s_->m);
        auto room = [&] { return s_->maxsize <= 0 || int(s_->items.size()) < s_->maxsize; };
        if (!room() && (!block || !mproc::detail::wait_on(lock, s_->cv, room, timeout)))
            throw Full("queue is full");
        s_->items.push_back(std::move(obj));
        ++s_->unfinished;
        s_->cv.notify_all();
    }
    /// Removes the oldest item, waiting (block) up to timeout, else Empty.
    T get(bool block = true, Timeout timeout = std::nullopt) {
        std::unique_lock lock(s_->m);
        auto any = [&] { return !s_->items.empty(); };
        if (!any() && (!block || !mproc::detail::wait_on(lock, s_->cv, any, timeout)))
            throw Empty("queue is empty");
        T v = std::move(s_->items.front());
        s_->items.pop_front();
        s_->cv.notify_all();
        return v;
    }
    /// get(true, timeout).
    T get(Timeout timeout) { return get(true, timeout); }
    void put_nowait(T obj) { put(std::move(obj), false); }
    T get_nowait() { return get(false); }
    /// Number of items.
    int qsize() const {
        std::lock_guard lock(s_->m);
        return int(s_->items.size());
    }
    bool empty() const { return qsize() == 0; }
    bool full() const {
        std::lock_guard lock(s_->m);
        return s_->maxsize > 0 && int(s_->items.size()) >= s_->maxsize;
    }
    /// One item got earlier is done.
    void task_done() {
        std::lock_guard lock(s_->m);
        if (s_->unfinished <= 0) throw ValueError("task_done() called too many times");
        if (--s_->unfinished == 0) s_->cv.notify_all();
    }
    /// Waits until every item put has been marked done.
    void join() {
        std::unique_lock lock(s_->m);
        s_->cv.wait(lock, [&] { return s_->unfinished == 0; });
    }

  private:
    struct State {
        mutable std::mutex m;
        std::condition_variable cv;
        std::deque<T> items;
        int maxsize = 0;
        int unfinished = 0;
    };
    std::shared_ptr<State> s_;  // copies share the queue, as a Queue passed to a thread
};

/// Python's dummy.JoinableQueue is queue.Queue too.
template <class T>
using JoinableQueue = Queue<T>;
/// threading.Lock and threading.RLock.
using Lock = std::mutex;
using RLock = std::recursive_mutex;

}  // namespace dummy

/// A pool of threads (Python: multiprocessing.pool.ThreadPool).
using ThreadPool = dummy::Pool;

}  // namespace mproc
