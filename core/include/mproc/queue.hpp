// Queues between processes (Python: multiprocessing.Queue, SimpleQueue,
// JoinableQueue).
//
//   mproc::Queue<std::string> q;                  // unbounded; Queue<T>(maxsize)
//   mproc::Process p([](mproc::Queue<std::string> q) { q.put("hello"); }, q);
//   p.start();
//   auto s = q.get();                             // blocks; q.get(true, 1s) may throw Empty
//   try { q.put_nowait("x"); } catch (const mproc::Full&) { }
//   if (auto s = q.try_get(1s)) use(*s);          // std::optional: no Empty thrown
//
// Any T with an mproc::codec crosses (<mproc/codec.hpp>); each put encodes
// the object at once (an encoding error is thrown by put), each get decodes a
// new one. Many producers and consumers, threads and processes alike, may use
// one queue; each producer's items arrive in the order it put them.
//
// How it moves data: every item goes through a ring buffer in shared memory
// (no system call when nobody sleeps; items over 256 KiB in chunks). Items
// put while the ring is full go through this process's feeder thread
// (started only when needed, as Python's), so put() never blocks on the
// ring's capacity while maxsize allows. A process that exits first flushes
// what it put, unless it called cancel_join_thread(). A consumer killed with
// SIGKILL loses at most the item it was receiving and the others go on; a
// producer killed in the middle of a large item loses that item (see
// docs/gotchas.md).
#pragma once

#include <atomic>
#include <climits>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include <mproc/codec.hpp>
#include <mproc/context.hpp>
#include <mproc/detail/queue_core.hpp>
#include <mproc/errors.hpp>
#include <mproc/serializer.hpp>
#include <mproc/timeout.hpp>

namespace mproc {

/// A FIFO queue for processes and threads (Python: multiprocessing.Queue).
template <class T>
class Queue {
  public:
    /// A queue of the default context; maxsize <= 0 means unbounded.
    explicit Queue(int maxsize = 0) : Queue(get_context(), maxsize) {}
    /// A queue made by ctx's start method.
    explicit Queue(const Context& ctx, int maxsize = 0)
        : core_(std::make_shared<detail::QueueCore>(ctx, maxsize)) {}

    /// Adds obj. If the queue is full, waits (block) up to timeout for room,
    /// else throws Full. Throws ValueError after close().
    void put(const T& obj, bool block = true, Timeout timeout = std::nullopt) {
        auto& e = detail::thread_encoder();
        e.clear();
        mproc::encode(e, obj);
        core_->put(e.data(), block, timeout);
    }
    /// put(obj, true, timeout).
    void put(const T& obj, Timeout timeout) { put(obj, true, timeout); }
    /// Removes and returns the oldest item. If there is none, waits (block)
    /// up to timeout, else throws Empty. Throws ValueError after close().
    T get(bool block = true, Timeout timeout = std::nullopt) {
        auto message = core_->get(block, timeout);
        return detail::decode_message<T>(message);
    }
    /// get(true, timeout).
    T get(Timeout timeout) { return get(true, timeout); }
    /// Removes and returns the oldest item, waiting up to timeout for one
    /// (default: not at all; nullopt: for ever); nullopt if none came in
    /// time, instead of get()'s Empty. Throws ValueError after close(),
    /// ShutDown as get() does.
    std::optional<T> try_get(Timeout timeout = Timeout(0.0)) {
        auto message = core_->try_get(true, timeout);
        if (!message) return std::nullopt;
        return detail::decode_message<T>(*message);
    }
    void put_nowait(const T& obj) { put(obj, false); }
    T get_nowait() { return get(false); }

    /// Approximate number of items in the queue (put and not yet got).
    int qsize() const { return core_->qsize(); }
    /// True if no item is ready to get (approximate, as in Python).
    bool empty() const { return core_->empty(); }
    /// True if maxsize items are in the queue (approximate).
    bool full() const { return core_->full(); }
    /// This process will put and get no more; the feeder flushes what was
    /// put and ends.
    void close() { core_->close(); }
    /// Shuts the queue down, for every process that uses it (Python 3.13):
    /// put() then throws ShutDown, and get() throws ShutDown once the queue
    /// is empty; puts and gets blocked now wake and throw ShutDown. With
    /// immediate, what is in the queue is dropped (a JoinableQueue counts
    /// each dropped item done) and get() throws ShutDown at once. try_get()
    /// throws ShutDown too (its nullopt only means "nothing in time").
    void shutdown(bool immediate = false) { core_->shutdown(immediate); }
    /// True once shut down by any process.
    bool is_shutdown() const { return core_->is_shutdown(); }
    /// Waits for the feeder to flush (after close()).
    void join_thread() { core_->join_thread(); }
    /// At exit, do not wait for the feeder: what it has not flushed is lost.
    void cancel_join_thread() { core_->cancel_join_thread(); }

  protected:
    template <class>
    friend class SimpleQueue;
    explicit Queue(std::shared_ptr<detail::QueueCore> core) : core_(std::move(core)) {}
    friend struct codec<Queue<T>>;
    std::shared_ptr<detail::QueueCore> core_;
};

/// A Queue that counts unfinished tasks (Python: JoinableQueue).
template <class T>
class JoinableQueue : public Queue<T> {
  public:
    explicit JoinableQueue(int maxsize = 0) : JoinableQueue(get_context(), maxsize) {}
    explicit JoinableQueue(const Context& ctx, int maxsize = 0) : Queue<T>(ctx, maxsize) {
        this->core_->enable_tasks();
    }
    /// One item got earlier is done. ValueError if called more often than
    /// items were put.
    void task_done() { this->core_->task_done(); }
    /// Waits until every item put has been marked done.
    void join() { this->core_->join(); }

  private:
    friend struct codec<JoinableQueue<T>>;
    explicit JoinableQueue(std::shared_ptr<detail::QueueCore> core) : Queue<T>(std::move(core)) {}
};

/// A simpler queue: put, get, empty, close (Python: SimpleQueue); an
/// unbounded Queue underneath.
template <class T>
class SimpleQueue {
  public:
    SimpleQueue() : SimpleQueue(get_context()) {}
    explicit SimpleQueue(const Context& ctx) : q_(ctx) {}
    /// Throws ClosedError ("handle is closed", as Python's) after close().
    void put(const T& obj) {
        check_open();
        q_.put(obj);
    }
    /// Throws ClosedError ("handle is closed", as Python's) after close().
    T get() {
        check_open();
        return q_.get();
    }
    /// The oldest item, waiting up to timeout (default: not at all;
    /// nullopt: for ever); nullopt if none came in time.
    std::optional<T> try_get(Timeout timeout = Timeout(0.0)) {
        check_open();
        return q_.try_get(timeout);
    }
    /// True if no item is ready; ClosedError after close(), as Python's.
    bool empty() const {
        check_open();
        return q_.empty();
    }
    void close() { q_.close(); }

  private:
    friend struct codec<SimpleQueue<T>>;
    explicit SimpleQueue(Queue<T> q) : q_(std::move(q)) {}
    void check_open() const {
        if (q_.core_->closed()) throw ClosedError("handle is closed");
    }
    Queue<T> q_;
};

template <class T>
struct codec<Queue<T>> {
    static void encode(Encoder& e, const Queue<T>& q) { detail::QueueCore::encode(e, q.core_); }
    static Queue<T> decode(Decoder& d) { return Queue<T>(detail::QueueCore::decode(d)); }
};
template <class T>
struct codec<JoinableQueue<T>> {
    static void encode(Encoder& e, const JoinableQueue<T>& q) {
        detail::QueueCore::encode(e, q.core_);
    }
    static JoinableQueue<T> decode(Decoder& d) {
        return JoinableQueue<T>(detail::QueueCore::decode(d));
    }
};
template <class T>
struct codec<SimpleQueue<T>> {
    static void encode(Encoder& e, const SimpleQueue<T>& q) { mproc::encode(e, q.q_); }
    static SimpleQueue<T> decode(Decoder& d) { return SimpleQueue<T>(mproc::decode<Queue<T>>(d)); }
};

}  // namespace mproc
