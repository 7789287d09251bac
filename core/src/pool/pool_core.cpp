// The untyped pool: its workers (each with its own pair of one-way pipes,
// so that the pool knows which chunk each one holds), and the pool thread,
// which feeds chunks to workers, reads their results, and notices a worker's
// death by its sentinel (event-driven: one mproc::wait on the wakeup handle,
// every worker's result pipe and every worker's sentinel).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include <mproc/context.hpp>
#include <mproc/detail/pool_core.hpp>
#include <mproc/logging.hpp>
#include <mproc/process.hpp>
#include <mproc/wait.hpp>

#include "pool/platform.hpp"
#include "pool/worker.hpp"

namespace mproc::detail {

PoolJob::~PoolJob() = default;

namespace {

using Clock = std::chrono::steady_clock;

// More chunks are sent to a busy worker (up to its depth) only while all it
// holds unanswered fits in pipeline_bytes and in three quarters of its task
// pipe's buffer: the pool never blocks writing to a worker that is itself
// blocked writing a large result. A large chunk goes only to an idle worker
// (which is reading).
// The depth follows how long the worker's chunks take: quick ones are sent
// many at a time (one write, one wake-up of the worker for many chunks), slow
// ones few, so that the work stays balanced between workers.
constexpr std::size_t pipeline_depth = 4;  // until a worker's speed is known
constexpr std::size_t pipeline_max_depth = 64;
constexpr std::size_t pipeline_bytes = 48 * 1024;

std::size_t depth_for(double service_s) {
    if (service_s <= 0) return pipeline_depth;
    if (service_s < 50e-6) return pipeline_max_depth;
    if (service_s < 500e-6) return 16;
    if (service_s < 5e-3) return pipeline_depth;
    return 2;
}

struct Chunk {
    std::shared_ptr<PoolJob> job;
    std::uint64_t job_id = 0;
    std::size_t first = 0, count = 0;
    std::vector<std::byte> message;
};

struct Source {
    std::shared_ptr<PoolJob> job;
    std::uint64_t id = 0;
    std::size_t next = 0;
};

struct Worker {
    std::unique_ptr<Process> process;
    Connection results;  // it writes, we read
    Connection tasks;    // we write, it reads
    std::string name;
    int pid = 0;
    std::intptr_t sentinel = -1;
    std::deque<Chunk> in_flight;
    std::size_t in_flight_bytes = 0;
    std::size_t max_in_flight_bytes = pipeline_bytes;  // what its task pipe takes
    std::size_t sent = 0;
    bool ready = false;       // its initializer ran
    bool retiring = false;    // said it exits after its current chunk
    bool timed_out = false;   // killed by task_timeout
    bool eof = false;         // its connection reached end of stream
    bool unwritable = false;  // a send to it failed (it is ending)
    Clock::time_point head_started;
    double service = 0;  // seconds per chunk (moving average); 0: unknown
};

std::string worker_prefix(std::string_view method) {
    if (method == "fork") return "Fork";
    if (method == "spawn") return "Spawn";
    if (method == "forkserver") return "ForkServer";
    std::string s(method);
    if (!s.empty()) s[0] = char(std::toupper(static_cast<unsigned char>(s[0])));
    return s;
}

}  // namespace

struct PoolCore::Impl {
    Impl(const Context& c, const PoolOptions& o) : ctx(c), options(o) {}

    Context ctx;
    PoolOptions options;
    int processes = 1;
    WorkerSetup setup;
    std::function<void()> local_initializer;  // its address crosses to fork workers
    Wakeup wakeup;
    std::atomic<bool> interrupted{false};  // SIGINT during a blocking call

    enum class State { run, close, terminate };
    std::mutex m;  // guards the next four
    State state = State::run;
    std::deque<Source> incoming;
    std::exception_ptr broken;  // the initializer failed
    std::uint64_t next_job_id = 1;

    // The pool thread's own.
    std::deque<Source> sources;
    std::deque<Chunk> requeued;
    std::vector<std::unique_ptr<Worker>> workers;
    std::unique_ptr<Encoder> enc;
    std::unique_ptr<Decoder> dec;
    std::vector<std::byte> inbox;  // the message being read (its memory reused)
    std::thread thread;
    std::mutex join_m;
    // Held by the pool thread except while it waits: whoever holds it may
    // dispatch (a submitting thread sends a new job's first chunks straight
    // to an idle worker, saving a wake-up of the pool thread).
    std::mutex dm;

    void start_worker();
    void run();
    void dispatch();
    void send_chunks(Worker& w, std::vector<Chunk>& chunks);
    std::optional<Chunk> next_chunk(std::size_t max_size);
    void on_message(Worker& w, std::span<const std::byte> message);
    void on_death(std::size_t index);
    void read_ready(Worker& w);
    void fail_everything(std::exception_ptr e);
    void stop_workers(bool graceful);
    bool busy() const;
    /// Moves submitted jobs to sources (with dm held); returns the state.
    State take_incoming();
};

PoolCore::Impl::State PoolCore::Impl::take_incoming() {
    std::lock_guard lock(m);
    while (!incoming.empty()) {
        sources.push_back(std::move(incoming.front()));
        incoming.pop_front();
    }
    return state;
}

void PoolCore::Impl::start_worker() {
    // Two one-way pipes, as Python's pool: a pipe's write costs the kernel
    // less than a socket's (no buffer allocated per message), and a worker
    // writes once per chunk.
    auto [task_r, task_w] = ctx.Pipe(false);
    auto [result_r, result_w] = ctx.Pipe(false);
    auto w = std::make_unique<Worker>();
    w->process = std::make_unique<Process>(ctx.Process(ProcessOptions{.name = "", .daemon = true},
                                                       &pool_worker_main, task_r, result_w, setup));
    auto name = w->process->name();
    // The context names it ForkProcess-N (SpawnProcess-N, ...): a worker is
    // ForkPoolWorker-N, as in Python.
    if (auto at = name.find("Process-"); at != std::string::npos)
        name = worker_prefix(ctx.get_start_method()) + "PoolWorker" + name.substr(at + 7);
    w->process->set_name(name);
    w->process->start();
    task_r.close();
    result_w.close();
    w->results = result_r;
    w->tasks = task_w;
    w->max_in_flight_bytes = std::min(pipeline_bytes, pipe_capacity(task_w.fileno()) / 4 * 3);
    w->name = name;
    w->pid = w->process->pid().value_or(0);
    w->sentinel = w->process->sentinel().handle;
    workers.push_back(std::move(w));
}

bool PoolCore::Impl::busy() const {
    if (!sources.empty() || !requeued.empty()) return true;
    for (auto& w : workers)
        if (!w->in_flight.empty()) return true;
    return false;
}

std::optional<Chunk> PoolCore::Impl::next_chunk(std::size_t max_size) {
    if (!requeued.empty()) {
        if (requeued.front().message.size() > max_size) return std::nullopt;
        Chunk c = std::move(requeued.front());
        requeued.pop_front();
        return c;
    }
    for (auto it = sources.begin(); it != sources.end();) {
        auto& s = *it;
        if (!s.job->may_pull()) {
            ++it;
            continue;
        }
        enc->clear();
        enc->write_int(to_worker_chunk);
        enc->write_uint(s.id);
        enc->write_uint(s.next);
        std::size_t n = 0;
        try {
            n = s.job->next_chunk(*enc);  // writes the count, then the body
        } catch (...) {
            // The input itself failed: that position fails, and the input ends.
            s.job->failed(s.next, 1, std::current_exception());
            s.job->input_end(s.next + 1);
            it = sources.erase(it);
            continue;
        }
        if (n == 0) {
            s.job->input_end(s.next);
            it = sources.erase(it);
            continue;
        }
        auto d = enc->data();
        Chunk c{s.job, s.id, s.next, n, std::vector<std::byte>(d.begin(), d.end())};
        s.next += n;
        if (c.message.size() > max_size) {
            requeued.push_back(std::move(c));  // for the next idle worker
            return std::nullopt;
        }
        return c;
    }
    return std::nullopt;
}

void PoolCore::Impl::dispatch() {
    // Idle workers are served first, then one more chunk each per round, up
    // to each one's depth; a worker still holding at least half its depth
    // waits, so that chunks go out in batches.
    const std::size_t n = workers.size();
    std::vector<std::vector<Chunk>> pending(n);
    std::vector<std::size_t> depth(n, 0), bytes(n, 0);
    for (std::size_t i = 0; i < n; ++i) {
        auto& w = *workers[i];
        if (w.retiring || w.timed_out || w.eof || w.unwritable) continue;
        const std::size_t d = depth_for(w.service);
        if (!w.in_flight.empty() && w.in_flight.size() * 2 > d) continue;
        depth[i] = d;
        if (options.maxtasksperchild)
            depth[i] =
                std::min(depth[i], w.in_flight.size() +
                                       (std::size_t(*options.maxtasksperchild) -
                                        std::min(w.sent, std::size_t(*options.maxtasksperchild))));
        bytes[i] = w.in_flight_bytes;
    }
    for (std::size_t level = 0; level < pipeline_max_depth; ++level) {
        bool any = false;
        for (std::size_t i = 0; i < n; ++i) {
            auto& w = *workers[i];
            const std::size_t held = w.in_flight.size() + pending[i].size();
            const std::size_t limit = w.max_in_flight_bytes;
            if (held != level || held >= depth[i] || bytes[i] >= limit) continue;
            const std::size_t max_size = held == 0 ? SIZE_MAX : limit - bytes[i];
            auto c = next_chunk(max_size);
            if (!c) continue;
            bytes[i] += c->message.size();
            pending[i].push_back(std::move(*c));
            any = true;
        }
        if (!any && level >= pipeline_depth) break;
    }
    for (std::size_t i = 0; i < n; ++i)
        if (!pending[i].empty()) send_chunks(*workers[i], pending[i]);
}

void PoolCore::Impl::send_chunks(Worker& w, std::vector<Chunk>& chunks) {
    try {
        if (chunks.size() == 1) {
            w.tasks.send_bytes(chunks.front().message);
        } else {
            enc->clear();
            enc->write_int(to_worker_batch);
            enc->write_uint(chunks.size());
            for (auto& c : chunks) enc->write_bin(c.message);
            w.tasks.send_bytes(enc->data());
        }
    } catch (...) {
        // The worker is going away; its sentinel will say how. The chunks
        // were not started: queue them again, in order.
        for (auto it = chunks.rbegin(); it != chunks.rend(); ++it)
            requeued.push_front(std::move(*it));
        w.unwritable = true;
        return;
    }
    if (w.in_flight.empty()) w.head_started = Clock::now();
    for (auto& c : chunks) {
        w.in_flight_bytes += c.message.size();
        w.in_flight.push_back(std::move(c));
        ++w.sent;
    }
}

void PoolCore::Impl::on_message(Worker& w, std::span<const std::byte> message) {
    dec->reset(message);
    const auto type = dec->read_int();
    if (type == from_worker_ready) {
        w.ready = true;
        return;
    }
    if (type == from_worker_init_failed) {
        auto e = read_task_error(*dec);
        std::string what = "?";
        try {
            std::rethrow_exception(e);
        } catch (const RemoteError& x) {
            what = x.type_name() + ": " + x.message();
        } catch (const std::exception& x) {
            what = x.what();
        } catch (...) {
        }
        std::lock_guard lock(m);
        if (!broken)
            broken = std::make_exception_ptr(ProcessError(fmt::format(
                "the Pool's initializer failed in {}: {}; the pool runs no tasks", w.name, what)));
        return;
    }
    if (type == from_worker_retiring) {
        w.retiring = true;
        return;
    }
    if (type != from_worker_result) throw SerializationError("unknown message from a pool worker");
    const auto job_id = dec->read_uint();
    const auto first = dec->read_uint();
    if (w.in_flight.empty() || w.in_flight.front().job_id != job_id ||
        w.in_flight.front().first != first)
        throw SerializationError("a pool worker answered a chunk it was not given");
    Chunk c = std::move(w.in_flight.front());
    w.in_flight.pop_front();
    w.in_flight_bytes -= c.message.size();
    const auto now = Clock::now();
    const double took = std::chrono::duration<double>(now - w.head_started).count();
    w.service = w.service <= 0 ? took : 0.8 * w.service + 0.2 * took;
    w.head_started = now;
    if (dec->read_bool())
        c.job->results(c.first, c.count, *dec);
    else
        c.job->failed(c.first, c.count, read_task_error(*dec));
}

void PoolCore::Impl::read_ready(Worker& w) {
    while (!w.eof && w.results.poll(std::chrono::seconds(0))) {
        try {
            w.results.recv_bytes(inbox);
        } catch (const EOFError&) {
            w.eof = true;
            return;
        }
        try {
            on_message(w, inbox);
        } catch (const SerializationError& e) {
            get_logger().warning("pool: bad message from {}: {}; killing it", w.name, e.what());
            w.eof = true;
            w.process->kill();
        }
    }
}

void PoolCore::Impl::on_death(std::size_t index) {
    auto& w = *workers[index];
    read_ready(w);  // what it sent before it ended
    w.process->join();
    const int code = w.process->exitcode().value_or(0);
    if (!w.ready) {
        std::lock_guard lock(m);
        if (!broken)
            broken = std::make_exception_ptr(ProcessError(fmt::format(
                "a Pool worker ({}, pid {}) ended before its initializer finished: {}; the pool "
                "runs no tasks",
                w.name, w.pid, describe_exit(code))));
    }
    if (!w.in_flight.empty() && !w.retiring && w.ready) {
        Chunk head = std::move(w.in_flight.front());
        w.in_flight.pop_front();
        std::exception_ptr e;
        if (w.timed_out)
            e = std::make_exception_ptr(TimeoutError(fmt::format(
                "the task ran past task_timeout ({} s); its worker {} (pid {}) was killed",
                options.task_timeout->count() * double(head.count), w.name, w.pid)));
        else
            e = std::make_exception_ptr(WorkerLostError(w.pid, w.name, describe_exit(code)));
        head.job->failed(head.first, head.count, e);
    }
    // Chunks it had not started go to the next worker, in order.
    while (!w.in_flight.empty()) {
        requeued.push_front(std::move(w.in_flight.back()));
        w.in_flight.pop_back();
    }
    w.results.close();
    w.tasks.close();
    w.process->close();
    workers.erase(workers.begin() + std::ptrdiff_t(index));
}

void PoolCore::Impl::fail_everything(std::exception_ptr e) {
    for (auto& w : workers)
        for (auto& c : w->in_flight) c.job->abandon(e);
    for (auto& c : requeued) c.job->abandon(e);
    for (auto& s : sources) s.job->abandon(e);
    std::deque<Source> more;
    {
        std::lock_guard lock(m);
        more.swap(incoming);
    }
    for (auto& s : more) s.job->abandon(e);
    for (auto& w : workers) w->in_flight.clear();
    requeued.clear();
    sources.clear();
}

void PoolCore::Impl::stop_workers(bool graceful) {
    if (graceful) {
        enc->clear();
        enc->write_int(to_worker_stop);
        for (auto& w : workers) {
            try {
                w->tasks.send_bytes(enc->data());
            } catch (...) {
            }
        }
        for (auto& w : workers) {
            w->process->join(std::chrono::seconds(5));
            if (w->process->exitcode() == std::nullopt) w->process->terminate();
        }
    } else {
        for (auto& w : workers)
            if (w->process->exitcode() == std::nullopt) w->process->terminate();
    }
    for (auto& w : workers) {
        w->process->join(std::chrono::seconds(5));
        if (w->process->exitcode() == std::nullopt) {
            w->process->kill();
            w->process->join();
        }
        w->results.close();
        w->tasks.close();
        w->process->close();
    }
    workers.clear();
}

void PoolCore::Impl::run() {
    std::unique_lock held(dm);
    for (;;) {
        std::exception_ptr br;
        {
            std::lock_guard lock(m);
            br = broken;
        }
        const State st = take_incoming();
        if (interrupted.load()) {
            {
                std::lock_guard lock(m);
                state = State::terminate;
            }
            // Fail the jobs first: stopping the workers forgets what they held.
            fail_everything(std::make_exception_ptr(
                KeyboardInterrupt("interrupted by SIGINT; the Pool was terminated")));
            stop_workers(false);
            return;
        }
        if (st == State::terminate) {
            fail_everything(std::make_exception_ptr(ProcessError("the Pool was terminated")));
            stop_workers(false);
            return;
        }
        if (br) {
            fail_everything(br);
            if (!workers.empty()) stop_workers(false);
            if (st == State::close) return;
        } else {
            // Replace workers that ended; fill idle ones first, then pipeline.
            while (int(workers.size()) < processes && st != State::terminate) start_worker();
            dispatch();
            if (st == State::close && !busy()) {
                stop_workers(true);
                return;
            }
        }

        std::vector<Waitable> objects;
        objects.reserve(1 + 2 * workers.size());
        objects.push_back(Waitable::from_handle(wakeup.handle()));
        for (auto& w : workers) {
            if (!w->eof) objects.emplace_back(w->results);
            objects.emplace_back(Sentinel{w->sentinel});
        }
        Timeout timeout;
        if (options.task_timeout) {
            auto now = Clock::now();
            for (auto& w : workers) {
                if (w->in_flight.empty() || w->timed_out) continue;
                auto limit = *options.task_timeout * double(w->in_flight.front().count);
                auto left = std::chrono::duration<double>(w->head_started - now) + limit;
                if (left.count() <= 0) {
                    w->timed_out = true;
                    w->process->kill();
                    continue;
                }
                if (!timeout || left < *timeout) timeout = left;
            }
        }
        held.unlock();  // while it sleeps, a submitting thread may dispatch
        auto ready = mproc::wait(objects, timeout);
        held.lock();
        if (!ready.empty() && ready.front().native_handle() == wakeup.handle()) wakeup.drain();
        for (auto& r : ready) {
            if (auto* c = r.connection()) {
                for (auto& w : workers)
                    if (w->results == *c) read_ready(*w);
            }
        }
        for (auto& r : ready) {
            if (auto* s = r.sentinel()) {
                for (std::size_t i = 0; i < workers.size(); ++i)
                    if (workers[i]->sentinel == s->handle) {
                        on_death(i);
                        break;
                    }
            }
        }
    }
}

PoolCore::PoolCore(const Context& ctx, const PoolOptions& options, bytes initializer,
                   std::function<void()> local_initializer)
    : impl_(std::make_shared<Impl>(ctx, options)) {
    auto& i = *impl_;
    i.processes = options.processes.value_or(cpu_count());
    if (i.processes < 1) throw ValueError("Number of processes must be at least 1");
    if (options.maxtasksperchild && *options.maxtasksperchild < 1)
        throw ValueError("maxtasksperchild must be a positive number or unset");
    if (options.task_timeout && options.task_timeout->count() <= 0)
        throw ValueError("task_timeout must be positive or unset");
    i.local_initializer = std::move(local_initializer);
    i.setup.initializer = std::move(initializer);
    if (i.local_initializer)
        i.setup.local_initializer = reinterpret_cast<std::uintptr_t>(&i.local_initializer);
    i.setup.maxtasks = options.maxtasksperchild.value_or(0);
    i.setup.max_memory = options.max_memory_per_child.value_or(0);
    i.enc = default_serializer().make_encoder();
    i.dec = default_serializer().make_decoder();
    // The first workers start here, in the caller's thread (under fork, the
    // thread that made the pool); replacements start on the pool thread.
    try {
        for (int k = 0; k < i.processes; ++k) i.start_worker();
    } catch (...) {
        i.stop_workers(false);
        throw;
    }
    i.thread = std::thread([impl = impl_] { impl->run(); });
}

PoolCore::~PoolCore() {
    terminate();
    join();
}

void PoolCore::submit(std::shared_ptr<PoolJob> job) {
    auto& i = *impl_;
    std::weak_ptr<Impl> weak = impl_;
    job->wake = [weak] {
        if (auto p = weak.lock()) p->wakeup.notify();
    };
    {
        std::lock_guard lock(i.m);
        if (i.broken) std::rethrow_exception(i.broken);
        if (i.state != Impl::State::run) throw ValueError("Pool not running");
        i.incoming.push_back(Source{std::move(job), i.next_job_id++, 0});
    }
    // Dispatch here if the pool thread sleeps (it wakes for the results).
    // Not with task_timeout (the pool thread's wait must include the new
    // deadline), nor from a callback (on the pool thread itself).
    if (!i.options.task_timeout && std::this_thread::get_id() != i.thread.get_id()) {
        std::unique_lock held(i.dm, std::try_to_lock);
        if (held.owns_lock() && i.take_incoming() == Impl::State::run) {
            bool all_ready = int(i.workers.size()) == i.processes;
            for (auto& w : i.workers) all_ready = all_ready && w->ready;
            if (all_ready) {
                i.dispatch();
                return;
            }
        }
    }
    i.wakeup.notify();
}

void PoolCore::close() {
    auto& i = *impl_;
    {
        std::lock_guard lock(i.m);
        if (i.state == Impl::State::run) i.state = Impl::State::close;
    }
    i.wakeup.notify();
}

void PoolCore::terminate() {
    auto& i = *impl_;
    {
        std::lock_guard lock(i.m);
        i.state = Impl::State::terminate;
    }
    i.wakeup.notify();
    // As Python's terminate(): returns once the workers are gone (unless
    // called from a callback, on the pool thread itself).
    if (std::this_thread::get_id() != i.thread.get_id()) {
        std::lock_guard lock(i.join_m);
        if (i.thread.joinable()) i.thread.join();
    }
}

void PoolCore::join() {
    auto& i = *impl_;
    {
        std::lock_guard lock(i.m);
        if (i.state == Impl::State::run)
            throw ValueError("Pool is still running: call close() or terminate() before join()");
    }
    if (std::this_thread::get_id() == i.thread.get_id())
        throw ValueError("Pool::join called from the pool's own thread (a callback)");
    std::lock_guard lock(i.join_m);
    if (i.thread.joinable()) i.thread.join();
}

PoolCore::InterruptScope::InterruptScope(PoolCore& core)
    : guard_(new SigintGuard(&core.impl_->wakeup, &core.impl_->interrupted)) {}

PoolCore::InterruptScope::~InterruptScope() {
    delete static_cast<SigintGuard*>(guard_);
}

int PoolCore::processes() const noexcept {
    return impl_->processes;
}

bool PoolCore::forks() const noexcept {
    return impl_->ctx.get_start_method() == "fork";
}

std::string PoolCore::start_method() const {
    return std::string(impl_->ctx.get_start_method());
}

}  // namespace mproc::detail
