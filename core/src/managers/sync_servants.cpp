// The synchronisation referents of a SyncManager (Lock, RLock, Semaphore,
// BoundedSemaphore, Condition, Event, Barrier) and Queue/JoinableQueue,
// with Python's threading/queue semantics. A blocking call blocks only the
// server thread of the calling connection. The owner of a Lock or RLock is
// the calling connection: each client thread has its own.
#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>

#include <fmt/format.h>

#include "managers/servant.hpp"
#include "managers/server.hpp"

namespace mproc::managers::detail {

namespace {

using clock = std::chrono::steady_clock;
using seconds_d = std::chrono::duration<double>;

// Waits on cv until pred holds or the timeout passes; the predicate's value.
template <class P>
bool wait_for(std::condition_variable& cv, std::unique_lock<std::mutex>& lk,
              std::optional<seconds_d> timeout, P pred) {
    if (!timeout) {
        cv.wait(lk, pred);
        return true;
    }
    const auto end = clock::now() + std::chrono::duration_cast<clock::duration>(*timeout);
    return cv.wait_until(lk, end, pred);
}

// Python's acquire(blocking=True, timeout=-1) arguments.
std::optional<seconds_d> acquire_timeout(const list& a, bool& blocking) {
    blocking = truthy(arg_or(a, 0, true));
    auto t = arg_timeout(a, 1);
    if (a.size() > 1 && !a[1].is_none()) {
        const auto* n = a[1].get_if<std::int64_t>();
        const auto* d = a[1].get_if<double>();
        const double s = n ? double(*n) : d ? *d : 0;
        if (s == -1) return std::nullopt;
        if (!blocking)
            throw PyError("ValueError", "can't specify a timeout for a non-blocking call");
        if (s < 0) throw PyError("ValueError", "timeout value must be a non-negative number");
    }
    return t;
}

}  // namespace

/// Lock and RLock (and the lock under a Condition).
class LockServant final : public GuardedServant {
  public:
    explicit LockServant(bool reentrant) : reentrant_(reentrant) {}

    bool acquire(std::uint64_t who, bool blocking, std::optional<seconds_d> timeout) {
        std::unique_lock lk(mu_);
        if (reentrant_ && count_ > 0 && owner_ == who) {
            ++count_;
            return true;
        }
        if (!blocking && count_ > 0) return false;
        if (!wait_for(cv_, lk, timeout, [&] { return count_ == 0; })) return false;
        owner_ = who;
        count_ = 1;
        return true;
    }
    void release(std::uint64_t who) {
        std::lock_guard g(mu_);
        if (reentrant_) {
            if (count_ == 0 || owner_ != who)
                throw PyError("RuntimeError", "cannot release un-acquired lock");
            if (--count_ == 0) cv_.notify_one();
            return;
        }
        if (count_ == 0) throw PyError("RuntimeError", "release unlocked lock");
        count_ = 0;
        cv_.notify_one();
    }
    // For Condition.wait: releases completely, returns the recursion count.
    int release_save(std::uint64_t who) {
        std::lock_guard g(mu_);
        if (count_ == 0 || owner_ != who)
            throw PyError("RuntimeError", "cannot wait on un-acquired lock");
        const int n = count_;
        count_ = 0;
        cv_.notify_one();
        return n;
    }
    void acquire_restore(std::uint64_t who, int n) {
        std::unique_lock lk(mu_);
        cv_.wait(lk, [&] { return count_ == 0; });
        owner_ = who;
        count_ = n;
    }
    bool owned_by(std::uint64_t who) {
        std::lock_guard g(mu_);
        return count_ > 0 && owner_ == who;
    }

    object call(std::string_view m, list& a, CallContext& cx) override {
        if (m == "acquire") {
            bool blocking = true;
            auto t = acquire_timeout(a, blocking);
            return acquire(cx.connection, blocking, t);
        }
        if (m == "release") {
            release(cx.connection);
            return None;
        }
        not_exposed(m);
    }
    std::string repr_locked() const override {
        if (reentrant_)
            return fmt::format("<{} RLock owner={} count={}>", count_ ? "locked" : "unlocked",
                               count_ ? std::to_string(owner_) : "None", count_);
        return fmt::format("<{} _thread.lock object>", count_ ? "locked" : "unlocked");
    }
    std::vector<std::string_view> exposed() const override { return {"acquire", "release"}; }
    std::string_view type_name() const override { return reentrant_ ? "RLock" : "lock"; }

  private:
    const bool reentrant_;
    std::condition_variable cv_;
    std::uint64_t owner_ = 0;
    int count_ = 0;
};

namespace {

class SemaphoreServant final : public GuardedServant {
  public:
    SemaphoreServant(std::int64_t value, bool bounded)
        : value_(value), initial_(value), bounded_(bounded) {
        if (value < 0) throw PyError("ValueError", "semaphore initial value must be >= 0");
    }
    object call(std::string_view m, list& a, CallContext&) override {
        if (m == "acquire") {
            bool blocking = true;
            auto t = acquire_timeout(a, blocking);
            std::unique_lock lk(mu_);
            if (!blocking && value_ == 0) return false;
            if (!wait_for(cv_, lk, t, [&] { return value_ > 0; })) return false;
            --value_;
            return true;
        }
        if (m == "release") {
            const std::int64_t n = a.empty() ? 1 : arg_int(a, 0, m);
            if (n < 1) throw PyError("ValueError", "n must be one or more");
            std::lock_guard g(mu_);
            if (bounded_ && value_ + n > initial_)
                throw PyError("ValueError", "Semaphore released too many times");
            value_ += n;
            for (std::int64_t k = 0; k < n; ++k) cv_.notify_one();
            return None;
        }
        not_exposed(m);
    }
    std::string repr_locked() const override {
        return fmt::format("<threading.{} value={}>", bounded_ ? "BoundedSemaphore" : "Semaphore",
                           value_);
    }
    std::vector<std::string_view> exposed() const override { return {"acquire", "release"}; }
    std::string_view type_name() const override {
        return bounded_ ? "BoundedSemaphore" : "Semaphore";
    }

  private:
    std::condition_variable cv_;
    std::int64_t value_, initial_;
    bool bounded_;
};

class ConditionServant final : public GuardedServant {
  public:
    explicit ConditionServant(std::shared_ptr<LockServant> lock) : lock_(std::move(lock)) {}

    object call(std::string_view m, list& a, CallContext& cx) override {
        if (m == "acquire" || m == "release") return lock_->call(m, a, cx);
        if (m == "wait") {
            auto t = arg_timeout(a, 0);
            std::unique_lock lk(mu_);
            const int n = lock_->release_save(cx.connection);
            auto ticket = std::make_shared<bool>(false);
            waiters_.push_back(ticket);
            const bool woken = wait_for(cv_, lk, t, [&] { return *ticket; });
            if (!woken) std::erase(waiters_, ticket);
            lk.unlock();
            lock_->acquire_restore(cx.connection, n);
            return woken;
        }
        if (m == "notify" || m == "notify_all") {
            if (!lock_->owned_by(cx.connection))
                throw PyError("RuntimeError", "cannot notify on un-acquired lock");
            std::int64_t n = m == "notify_all" ? INT64_MAX : (a.empty() ? 1 : arg_int(a, 0, m));
            std::lock_guard g(mu_);
            while (n-- > 0 && !waiters_.empty()) {
                *waiters_.front() = true;
                waiters_.pop_front();
            }
            cv_.notify_all();
            return None;
        }
        not_exposed(m);
    }
    std::string repr_locked() const override {
        return fmt::format("<Condition({}, {})>", lock_->repr(), waiters_.size());
    }
    std::vector<std::string_view> exposed() const override {
        return {"acquire", "release", "wait", "notify", "notify_all"};
    }
    std::string_view type_name() const override { return "Condition"; }

  private:
    std::shared_ptr<LockServant> lock_;
    std::condition_variable cv_;
    std::deque<std::shared_ptr<bool>> waiters_;
};

class EventServant final : public GuardedServant {
  public:
    object call(std::string_view m, list& a, CallContext&) override {
        std::unique_lock lk(mu_);
        if (m == "is_set") return flag_;
        if (m == "set") {
            flag_ = true;
            cv_.notify_all();
            return None;
        }
        if (m == "clear") {
            flag_ = false;
            return None;
        }
        if (m == "wait") return wait_for(cv_, lk, arg_timeout(a, 0), [&] { return flag_; });
        not_exposed(m);
    }
    std::vector<std::string_view> exposed() const override {
        return {"is_set", "set", "clear", "wait"};
    }
    std::string_view type_name() const override { return "Event"; }

  private:
    std::string repr_locked() const override {
        return fmt::format("<threading.Event: {}>", flag_ ? "set" : "unset");
    }
    std::condition_variable cv_;
    bool flag_ = false;
};

// threading.Barrier: a generation counter; broken until reset.
class BarrierServant final : public GuardedServant {
  public:
    BarrierServant(std::int64_t parties, std::optional<seconds_d> timeout)
        : parties_(parties), timeout_(timeout) {
        if (parties < 1) throw PyError("ValueError", "parties must be > 0");
    }
    object call(std::string_view m, list& a, CallContext&) override {
        std::unique_lock lk(mu_);
        if (m == "wait") {
            auto t = a.empty() || a[0].is_none() ? timeout_ : arg_timeout(a, 0);
            if (broken_) broken_error();
            const std::uint64_t gen = generation_;
            const std::int64_t index = count_++;
            if (count_ == parties_) {
                count_ = 0;
                ++generation_;
                cv_.notify_all();
                return index;
            }
            if (!wait_for(cv_, lk, t, [&] { return generation_ != gen; })) {
                break_locked();
                broken_error();
            }
            if (failed_.count(gen)) broken_error();  // aborted or reset while waiting
            return index;
        }
        if (m == "abort") {
            break_locked();
            return None;
        }
        if (m == "reset") {
            if (count_ > 0) break_locked();  // wakes the waiters with an error
            broken_ = false;
            return None;
        }
        if (m == "__getattribute__") {
            auto* name = arg(a, 0, m).get_if<std::string>();
            if (name && *name == "parties") return parties_;
            if (name && *name == "n_waiting") return count_;
            if (name && *name == "broken") return broken_;
            throw PyError("AttributeError",
                          fmt::format("'Barrier' object has no attribute {}", a[0].repr()));
        }
        not_exposed(m);
    }
    std::vector<std::string_view> exposed() const override {
        return {"__getattribute__", "wait", "abort", "reset"};
    }
    std::string_view type_name() const override { return "Barrier"; }

  private:
    [[noreturn]] static void broken_error() { throw PyError("BrokenBarrierError", ""); }
    // The current generation fails: its waiters wake with BrokenBarrierError.
    void break_locked() {
        broken_ = true;
        failed_.insert(generation_++);
        count_ = 0;
        cv_.notify_all();
    }
    std::string repr_locked() const override {
        if (broken_) return "<threading.Barrier at broken>";
        return fmt::format("<threading.Barrier: waiters={}/{}>", count_, parties_);
    }
    std::condition_variable cv_;
    const std::int64_t parties_;
    const std::optional<seconds_d> timeout_;
    std::int64_t count_ = 0;
    std::uint64_t generation_ = 0;
    bool broken_ = false;
    std::set<std::uint64_t> failed_;
};

// queue.Queue (which has task_done and join: JoinableQueue is the same).
class QueueServant final : public GuardedServant {
  public:
    QueueServant(std::int64_t maxsize, bool joinable) : maxsize_(maxsize), joinable_(joinable) {}
    object call(std::string_view m, list& a, CallContext&) override {
        std::unique_lock lk(mu_);
        if (m == "put" || m == "put_nowait") {
            const bool block = m == "put" && truthy(arg_or(a, 1, true));
            auto t = arg_timeout(a, 2);
            auto room = [&] { return maxsize_ <= 0 || std::int64_t(q_.size()) < maxsize_; };
            if (!block ? !room() : !wait_for(not_full_, lk, t, room)) throw PyError("Full", "");
            q_.push_back(arg(a, 0, m));
            ++unfinished_;
            not_empty_.notify_one();
            return None;
        }
        if (m == "get" || m == "get_nowait") {
            const bool block = m == "get" && truthy(arg_or(a, 0, true));
            auto t = arg_timeout(a, 1);
            auto any = [&] { return !q_.empty(); };
            if (!block ? !any() : !wait_for(not_empty_, lk, t, any)) throw PyError("Empty", "");
            object v = std::move(q_.front());
            q_.pop_front();
            not_full_.notify_one();
            return v;
        }
        if (m == "qsize") return std::int64_t(q_.size());
        if (m == "empty") return q_.empty();
        if (m == "full") return maxsize_ > 0 && std::int64_t(q_.size()) >= maxsize_;
        if (m == "task_done") {
            if (unfinished_ <= 0) throw PyError("ValueError", "task_done() called too many times");
            if (--unfinished_ == 0) all_done_.notify_all();
            return None;
        }
        if (m == "join") {
            all_done_.wait(lk, [&] { return unfinished_ == 0; });
            return None;
        }
        not_exposed(m);
    }
    std::string repr_locked() const override { return "<queue.Queue object>"; }
    std::vector<std::string_view> exposed() const override {
        return {"empty", "full",       "get",   "get_nowait", "join",
                "put",   "put_nowait", "qsize", "task_done"};
    }
    std::string_view type_name() const override { return joinable_ ? "JoinableQueue" : "Queue"; }

  private:
    std::condition_variable not_empty_, not_full_, all_done_;
    std::deque<object> q_;
    const std::int64_t maxsize_;
    const bool joinable_;
    std::int64_t unfinished_ = 0;
};

}  // namespace

void add_sync_types(Registry& r) {
    r["Lock"] = [](list&, CallContext&) -> std::shared_ptr<Servant> {
        return std::make_shared<LockServant>(false);
    };
    r["RLock"] = [](list&, CallContext&) -> std::shared_ptr<Servant> {
        return std::make_shared<LockServant>(true);
    };
    r["Semaphore"] = [](list& a, CallContext&) -> std::shared_ptr<Servant> {
        return std::make_shared<SemaphoreServant>(a.empty() ? 1 : arg_int(a, 0, "Semaphore"),
                                                  false);
    };
    r["BoundedSemaphore"] = [](list& a, CallContext&) -> std::shared_ptr<Servant> {
        return std::make_shared<SemaphoreServant>(a.empty() ? 1 : arg_int(a, 0, "BoundedSemaphore"),
                                                  true);
    };
    r["Condition"] = [](list& a, CallContext& cx) -> std::shared_ptr<Servant> {
        if (a.empty() || a[0].is_none())
            return std::make_shared<ConditionServant>(std::make_shared<LockServant>(true));
        auto lock = std::dynamic_pointer_cast<LockServant>(cx.server->local_referent(a[0]));
        if (!lock) throw PyError("TypeError", "Condition() needs a Lock or RLock of this manager");
        return std::make_shared<ConditionServant>(std::move(lock));
    };
    r["Event"] = [](list&, CallContext&) -> std::shared_ptr<Servant> {
        return std::make_shared<EventServant>();
    };
    r["Barrier"] = [](list& a, CallContext&) -> std::shared_ptr<Servant> {
        return std::make_shared<BarrierServant>(arg_int(a, 0, "Barrier"), arg_timeout(a, 1));
    };
    r["Queue"] = [](list& a, CallContext&) -> std::shared_ptr<Servant> {
        return std::make_shared<QueueServant>(a.empty() ? 0 : arg_int(a, 0, "Queue"), false);
    };
    r["JoinableQueue"] = [](list& a, CallContext&) -> std::shared_ptr<Servant> {
        return std::make_shared<QueueServant>(a.empty() ? 0 : arg_int(a, 0, "JoinableQueue"), true);
    };
}

}  // namespace mproc::managers::detail
