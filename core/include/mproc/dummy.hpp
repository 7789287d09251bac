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
// (std::mutex, std::recursive_mutex), dummy::Pipe (two Connection ends that
// move any object: send(x), recv<T>()), Event, Semaphore, BoundedSemaphore,
// Condition, Barrier, and Value<T> / Array<T> (shared by copies, with
// get_lock()). These are handles: a copy given to a thread shares the
// object, as a Python object would be shared. Not included by
// <mproc/mproc.hpp>, as Python's multiprocessing.dummy is its own module.
#pragma once

#include <mproc/export.hpp>

#include <algorithm>
#include <any>
#include <atomic>
#include <climits>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <initializer_list>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <ranges>
#include <span>
#include <string>
#include <string_view>
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
            mode, [](Encoder&) -> std::size_t { return 0; }, limit);
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

/// One end of a dummy::Pipe (Python: multiprocessing.dummy.connection's
/// Connection): Connection's API between threads; objects are moved, not
/// serialized. recv<T>() must name the type that was sent (else ValueError).
/// Copies share the end.
class Connection {
  public:
    /// Sends obj (any copyable or movable type).
    template <class T>
    void send(T&& obj) {
        out_->put(std::any(std::forward<T>(obj)));
    }
    /// Receives the next object, which must be a T.
    template <class T>
    T recv() {
        std::any a = in_->get();
        if (auto* v = std::any_cast<T>(&a)) return std::move(*v);
        throw ValueError(std::string("dummy::Connection::recv: the object sent is a ") +
                         a.type().name() + ", not the type asked for");
    }
    /// Sends bytes (Python: send_bytes is send).
    void send_bytes(std::span<const std::byte> buf) {
        send(std::vector<std::byte>(buf.begin(), buf.end()));
    }
    void send_bytes(std::string_view s) {
        send_bytes(std::as_bytes(std::span(s.data(), s.size())));
    }
    /// Receives what send_bytes sent.
    std::vector<std::byte> recv_bytes() { return recv<std::vector<std::byte>>(); }
    /// Whether something can be received, waiting up to timeout (0: no wait).
    bool poll(Timeout timeout = std::chrono::seconds(0)) {
        if (!in_->empty()) return true;
        if (timeout && timeout->count() <= 0) return false;
        try {
            // Wait for an item, then put it back in front: nothing is lost.
            std::any a = in_->get(true, timeout);
            in_->unget(std::move(a));
            return true;
        } catch (const Empty&) {
            return false;
        }
    }
    /// Nothing to release (Python's dummy close() does nothing either).
    void close() noexcept {}

  private:
    friend std::pair<Connection, Connection> Pipe(bool);
    struct AnyQueue {
        std::mutex m;
        std::condition_variable cv;
        std::deque<std::any> items;
        void put(std::any a) {
            std::lock_guard lock(m);
            items.push_back(std::move(a));
            cv.notify_all();
        }
        void unget(std::any a) {
            std::lock_guard lock(m);
            items.push_front(std::move(a));
            cv.notify_all();
        }
        bool empty() {
            std::lock_guard lock(m);
            return items.empty();
        }
        std::any get(bool block = true, Timeout timeout = std::nullopt) {
            std::unique_lock lock(m);
            auto any = [&] { return !items.empty(); };
            if (!any() && (!block || !mproc::detail::wait_on(lock, cv, any, timeout)))
                throw Empty("nothing to receive");
            std::any a = std::move(items.front());
            items.pop_front();
            return a;
        }
    };
    Connection(std::shared_ptr<AnyQueue> in, std::shared_ptr<AnyQueue> out)
        : in_(std::move(in)), out_(std::move(out)) {}
    std::shared_ptr<AnyQueue> in_, out_;
};

/// Two connected ends (Python: multiprocessing.dummy.Pipe; both ends can
/// send and receive, whatever duplex says, as in Python).
inline std::pair<Connection, Connection> Pipe(bool duplex = true) {
    (void)duplex;
    auto a = std::make_shared<Connection::AnyQueue>();
    auto b = std::make_shared<Connection::AnyQueue>();
    return {Connection(a, b), Connection(b, a)};
}

/// threading.Event (copies share the flag).
class Event {
  public:
    bool is_set() const {
        std::lock_guard lock(s_->m);
        return s_->flag;
    }
    void set() {
        std::lock_guard lock(s_->m);
        s_->flag = true;
        s_->cv.notify_all();
    }
    void clear() {
        std::lock_guard lock(s_->m);
        s_->flag = false;
    }
    /// Waits until set or timeout; returns the flag.
    bool wait(Timeout timeout = std::nullopt) {
        std::unique_lock lock(s_->m);
        return mproc::detail::wait_on(
            lock, s_->cv, [&] { return s_->flag; }, timeout);
    }

  private:
    struct State {
        std::mutex m;
        std::condition_variable cv;
        bool flag = false;
    };
    std::shared_ptr<State> s_ = std::make_shared<State>();
};

/// threading.Semaphore (copies share the counter); also a Lockable.
class Semaphore {
  public:
    explicit Semaphore(int value = 1) : Semaphore(value, INT_MAX) {
        if (value < 0) throw ValueError("semaphore initial value must be >= 0");
    }
    /// Decrements, waiting (block) up to timeout; false if it could not.
    bool acquire(bool block = true, Timeout timeout = std::nullopt) {
        std::unique_lock lock(s_->m);
        auto positive = [&] { return s_->value > 0; };
        if (!positive() && (!block || !mproc::detail::wait_on(lock, s_->cv, positive, timeout)))
            return false;
        --s_->value;
        return true;
    }
    bool acquire(Timeout timeout) { return acquire(true, timeout); }
    /// Increments (a BoundedSemaphore: ValueError past its initial value).
    void release() {
        std::lock_guard lock(s_->m);
        if (s_->value >= s_->max) throw ValueError("semaphore or lock released too many times");
        ++s_->value;
        s_->cv.notify_one();
    }
    /// The counter.
    int get_value() const {
        std::lock_guard lock(s_->m);
        return s_->value;
    }
    void lock() { acquire(); }
    bool try_lock() { return acquire(false); }
    void unlock() { release(); }

  protected:
    Semaphore(int value, int max) {
        s_->value = value;
        s_->max = max;
    }

  private:
    struct State {
        mutable std::mutex m;
        std::condition_variable cv;
        int value = 0, max = INT_MAX;
    };
    std::shared_ptr<State> s_ = std::make_shared<State>();
};

/// threading.BoundedSemaphore.
class BoundedSemaphore : public Semaphore {
  public:
    explicit BoundedSemaphore(int value = 1) : Semaphore(value, value) {
        if (value < 0) throw ValueError("semaphore initial value must be >= 0");
    }
};

/// threading.Condition over its own recursive lock (Python's default, an
/// RLock; copies share it): acquire/release (or lock/unlock), wait,
/// wait_for, notify, notify_all. wait() needs the lock held once.
class Condition {
  public:
    bool acquire(bool block = true, Timeout timeout = std::nullopt) {
        if (!block) return s_->m.try_lock();
        if (!timeout) {
            s_->m.lock();
            return true;
        }
        return s_->m.try_lock_for(std::chrono::duration_cast<std::chrono::nanoseconds>(
            std::max(*timeout, std::chrono::duration<double>(0))));
    }
    void release() { s_->m.unlock(); }
    void lock() { s_->m.lock(); }
    bool try_lock() { return s_->m.try_lock(); }
    void unlock() { s_->m.unlock(); }
    /// Releases the lock, waits for a notify (or the timeout), reacquires
    /// it; false on timeout.
    bool wait(Timeout timeout = std::nullopt) {
        auto me = std::make_shared<bool>(false);
        s_->waiters.push_back(me);
        std::unique_lock lock(s_->m, std::adopt_lock);
        auto woken = [&] { return *me; };
        if (!timeout) {
            s_->cv.wait(lock, woken);
        } else {
            const auto t = std::max(*timeout, std::chrono::duration<double>(0));
            s_->cv.wait_for(lock, std::chrono::duration_cast<std::chrono::nanoseconds>(t), woken);
        }
        lock.release();
        if (*me) return true;
        std::erase(s_->waiters, me);
        return false;
    }
    /// Waits until predicate() is true (or the timeout); returns its last value.
    template <class Predicate>
    auto wait_for(Predicate predicate, Timeout timeout = std::nullopt) -> decltype(predicate()) {
        using Clock = std::chrono::steady_clock;
        std::optional<Clock::time_point> end;
        if (timeout) end = Clock::now() + std::chrono::duration_cast<Clock::duration>(*timeout);
        auto result = predicate();
        while (!result) {
            Timeout left;
            if (end) {
                left = std::chrono::duration<double>(*end - Clock::now());
                if (left->count() <= 0) break;
            }
            wait(left);
            result = predicate();
        }
        return result;
    }
    /// Wakes up to n waiting threads, first come first woken (hold the lock).
    void notify(int n = 1) {
        for (; n > 0 && !s_->waiters.empty(); --n) {
            *s_->waiters.front() = true;
            s_->waiters.pop_front();
        }
        s_->cv.notify_all();
    }
    void notify_all() { notify(INT_MAX); }

  private:
    struct State {
        std::recursive_timed_mutex m;
        std::condition_variable_any cv;
        std::deque<std::shared_ptr<bool>> waiters;  // guarded by m
    };
    std::shared_ptr<State> s_ = std::make_shared<State>();
};

/// threading.Barrier (copies share it): wait() returns 0..parties-1 and
/// runs action in one thread when all arrived; BrokenBarrierError after
/// abort(), reset() (for the threads then waiting), a timeout, or a failing
/// action.
class Barrier {
  public:
    explicit Barrier(int parties, std::function<void()> action = nullptr,
                     Timeout timeout = std::nullopt) {
        if (parties < 1) throw ValueError("Barrier needs at least one party");
        s_->parties = parties;
        s_->action = std::move(action);
        s_->timeout = timeout;
    }
    int wait(Timeout timeout = std::nullopt) {
        if (!timeout) timeout = s_->timeout;
        std::unique_lock lock(s_->m);
        if (s_->broken) throw BrokenBarrierError("the barrier is broken");
        auto round = s_->round;  // this round's outcome: waiting, passed or broken
        const int index = s_->count++;
        if (s_->count == s_->parties) {
            if (s_->action) {
                try {
                    s_->action();
                } catch (...) {
                    end_round(Outcome::broken);
                    s_->broken = true;
                    throw;
                }
            }
            end_round(Outcome::passed);
            return index;
        }
        auto over = [&] { return *round != Outcome::waiting; };
        if (!mproc::detail::wait_on(lock, s_->cv, over, timeout)) {
            end_round(Outcome::broken);
            s_->broken = true;
            throw BrokenBarrierError("the barrier timed out");
        }
        if (*round != Outcome::passed) throw BrokenBarrierError("the barrier is broken");
        return index;
    }
    /// Back to the empty state; threads waiting get BrokenBarrierError.
    void reset() {
        std::lock_guard lock(s_->m);
        end_round(Outcome::broken);
        s_->broken = false;
    }
    /// Breaks the barrier: waiting and future wait() calls fail.
    void abort() {
        std::lock_guard lock(s_->m);
        end_round(Outcome::broken);
        s_->broken = true;
    }
    int parties() const { return s_->parties; }
    int n_waiting() const {
        std::lock_guard lock(s_->m);
        return s_->count;
    }
    bool broken() const {
        std::lock_guard lock(s_->m);
        return s_->broken;
    }

  private:
    enum class Outcome { waiting, passed, broken };
    void end_round(Outcome how) {
        *s_->round = how;
        s_->round = std::make_shared<Outcome>(Outcome::waiting);
        s_->count = 0;
        s_->cv.notify_all();
    }
    struct State {
        mutable std::mutex m;
        std::condition_variable cv;
        int parties = 1, count = 0;
        bool broken = false;
        std::shared_ptr<Outcome> round = std::make_shared<Outcome>(Outcome::waiting);
        std::function<void()> action;
        Timeout timeout;
    };
    std::shared_ptr<State> s_ = std::make_shared<State>();
};

/// A value shared between threads, with mproc::Value's API (copies share
/// it; the lock is a recursive mutex, as Python's default RLock).
template <class T>
class Value {
  public:
    explicit Value(T init = T{}) { s_->v = std::move(init); }
    T value() const {
        std::lock_guard lock(s_->m);
        return s_->v;
    }
    void set(const T& v) {
        std::lock_guard lock(s_->m);
        s_->v = v;
    }
    Value& operator=(const T& v) {
        set(v);
        return *this;
    }
    /// v = f(v) under the lock; returns the new value.
    template <class F>
    T update(F f) {
        std::lock_guard lock(s_->m);
        s_->v = f(s_->v);
        return s_->v;
    }
    Value& operator+=(const T& d) {
        return update([&](const T& v) { return T(v + d); }), *this;
    }
    Value& operator-=(const T& d) {
        return update([&](const T& v) { return T(v - d); }), *this;
    }
    Value& operator*=(const T& d) {
        return update([&](const T& v) { return T(v * d); }), *this;
    }
    Value& operator/=(const T& d) {
        return update([&](const T& v) { return T(v / d); }), *this;
    }
    /// The lock, for several steps at once.
    std::recursive_mutex& get_lock() const noexcept { return s_->m; }
    /// The value itself (unsynchronized).
    T& get_obj() const noexcept { return s_->v; }

  private:
    struct State {
        mutable std::recursive_mutex m;
        T v{};
    };
    std::shared_ptr<State> s_ = std::make_shared<State>();
};

/// An array shared between threads, with mproc::Array's API (copies share
/// it). Elements are plain references: hold get_lock() for more than one
/// step, as with mproc::Array's get_obj().
template <class T>
class Array {
  public:
    explicit Array(std::size_t n) { s_->v.resize(n); }
    Array(std::initializer_list<T> values) { s_->v.assign(values.begin(), values.end()); }
    template <std::ranges::input_range R>
    requires(!std::is_same_v<std::remove_cvref_t<R>, Array>) explicit Array(R&& values) {
        for (auto&& x : values) s_->v.push_back(static_cast<T>(x));
    }
    std::size_t size() const noexcept { return s_->v.size(); }
    T& operator[](std::size_t i) const noexcept { return s_->v[i]; }
    /// Element i, IndexError-like ValueError when out of range.
    T at(std::size_t i) const {
        std::lock_guard lock(s_->m);
        if (i >= s_->v.size()) throw ValueError("array index out of range");
        return s_->v[i];
    }
    std::vector<T> to_vector() const {
        std::lock_guard lock(s_->m);
        return s_->v;
    }
    /// Elements [start, stop), Python's slice rules for negative and large bounds.
    std::vector<T> slice(std::ptrdiff_t start, std::ptrdiff_t stop) const {
        std::lock_guard lock(s_->m);
        const auto n = std::ptrdiff_t(s_->v.size());
        auto clamp = [&](std::ptrdiff_t i) {
            return std::clamp(i < 0 ? i + n : i, std::ptrdiff_t(0), n);
        };
        const auto a = clamp(start), b = clamp(stop);
        return a < b ? std::vector<T>(s_->v.begin() + a, s_->v.begin() + b) : std::vector<T>{};
    }
    /// Writes values from start on.
    void assign(std::size_t start, std::span<const T> values) {
        std::lock_guard lock(s_->m);
        if (start > s_->v.size() || values.size() > s_->v.size() - start)
            throw ValueError("Array::assign: values run past the end");
        std::copy(values.begin(), values.end(), s_->v.begin() + std::ptrdiff_t(start));
    }
    T* begin() const noexcept { return s_->v.data(); }
    T* end() const noexcept { return s_->v.data() + s_->v.size(); }
    std::recursive_mutex& get_lock() const noexcept { return s_->m; }
    std::vector<T>& get_obj() const noexcept { return s_->v; }

  private:
    struct State {
        mutable std::recursive_mutex m;
        std::vector<T> v;
    };
    std::shared_ptr<State> s_ = std::make_shared<State>();
};

}  // namespace dummy

/// A pool of threads (Python: multiprocessing.pool.ThreadPool).
using ThreadPool = dummy::Pool;

}  // namespace mproc
