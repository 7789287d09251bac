// Internal to <mproc/queue.hpp>: the untyped queue every Queue,
// SimpleQueue and JoinableQueue wraps (core/src/queue/: a ring in shared
// memory and a feeder thread per process), and the thread's reusable
// encoder and decoder.
#pragma once

#include <mproc/export.hpp>

#include <atomic>
#include <memory>
#include <optional>
#include <span>

#include <mproc/codec.hpp>
#include <mproc/context.hpp>
#include <mproc/serializer.hpp>
#include <mproc/timeout.hpp>

namespace mproc {

namespace detail {

/// The untyped queue: messages as bytes. Shared by the typed queues.
class MPROC_API QueueCore {
  public:
    /// A queue of at most maxsize items (<= 0: unbounded) made by ctx.
    QueueCore(const Context& ctx, int maxsize);
    ~QueueCore();
    QueueCore(const QueueCore&) = delete;
    QueueCore& operator=(const QueueCore&) = delete;

    void put(std::span<const std::byte> message, bool block, Timeout timeout);
    /// The next message, valid until this thread's next get; Empty if none
    /// came in time.
    std::span<const std::byte> get(bool block, Timeout timeout);
    /// The same, nullopt if none came in time.
    std::optional<std::span<const std::byte>> try_get(bool block, Timeout timeout);
    int qsize() const;
    bool empty() const;
    bool full() const;
    void close();
    /// True after close() in this process.
    bool closed() const;
    /// Python 3.13's shutdown(immediate): puts fail, gets fail once the
    /// queue is empty; immediate also drops what is in the queue.
    void shutdown(bool immediate);
    /// True once shut down (by any process).
    bool is_shutdown() const;
    void join_thread();
    void cancel_join_thread();

    // JoinableQueue.
    void task_done();
    void join();
    void enable_tasks();

    struct Shared;
    struct Local;
    explicit QueueCore(std::shared_ptr<Shared> shared);
    static void encode(Encoder& e, const std::shared_ptr<QueueCore>& q);
    static std::shared_ptr<QueueCore> decode(Decoder& d);

  private:
    Local& local() const;
    std::shared_ptr<Shared> shared_;
    mutable std::shared_ptr<Local> local_;            // this process's
    mutable std::atomic<Local*> local_ptr_{nullptr};  // local_, read without a lock
};

/// This thread's encoder and decoder of the default serializer (reused).
MPROC_API Encoder& thread_encoder();
MPROC_API Decoder& thread_decoder(std::span<const std::byte> message);

template <class T>
T decode_message(std::span<const std::byte> message) {
    return mproc::decode<T>(thread_decoder(message));
}

}  // namespace detail

}  // namespace mproc
