// The polling wait of spin.hpp on Linux: its budget, and its retreat when
// the machine is busy.
#include <sys/resource.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <thread>

#include "base/environment.hpp"
#include "managers/spin.hpp"

namespace mproc::managers::detail {

namespace {

constexpr long default_spin_us = 50;
constexpr long max_spin_us = 10'000;
// After a spin during which the thread was preempted, the next waits sleep at
// once: polling only pays while a CPU is free for it. The number grows four
// times with each preempted spin (sustained load) up to busy_backoff_max, and
// halves with each spin that was not preempted (a passing disturbance).
constexpr int busy_backoff_min = 16;
constexpr int busy_backoff_max = 10'000;
// After a spin that ended with nothing to read, this many: the peer is
// doing something else between messages.
constexpr int idle_backoff = 16;

std::chrono::microseconds spin_budget() {
    static const std::chrono::microseconds budget = [] {
        long us = std::thread::hardware_concurrency() > 1 ? default_spin_us : 0;
        if (auto v = env::manager_spin_us()) {
            long parsed = 0;
            auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), parsed);
            // Not a number, or negative: the default, as for other variables
            // whose values we cannot read.
            if (ec == std::errc() && end == v->data() + v->size() && parsed >= 0)
                us = std::min(parsed, max_spin_us);
        }
        return std::chrono::microseconds(us);
    }();
    return budget;
}

long involuntary_switches() {
    rusage u{};
    ::getrusage(RUSAGE_THREAD, &u);
    return u.ru_nivcsw;
}

thread_local int sleep_without_spinning = 0;
thread_local int busy_backoff = busy_backoff_min;

}  // namespace

void spin_until_readable(Connection& c) {
    const auto budget = spin_budget();
    if (budget.count() == 0) return;
    if (sleep_without_spinning > 0) {
        --sleep_without_spinning;
        return;
    }
    const long switches = involuntary_switches();
    const auto deadline = std::chrono::steady_clock::now() + budget;
    bool readable = false;
    while (!(readable = c.poll(std::chrono::seconds(0))))
        if (std::chrono::steady_clock::now() >= deadline) break;
    if (!readable) sleep_without_spinning = idle_backoff;
    // Preempted while polling: another thread wanted this CPU (perhaps the
    // very peer we wait for). A spinning thread also loses the scheduler's
    // preference for threads that wake from sleep, so under load polling
    // costs far more than it saves: stop for a while.
    if (involuntary_switches() != switches) {
        sleep_without_spinning = std::max(sleep_without_spinning, busy_backoff);
        busy_backoff = std::min(busy_backoff * 4, busy_backoff_max);
    } else {
        busy_backoff = std::max(busy_backoff / 2, busy_backoff_min);
    }
}

}  // namespace mproc::managers::detail
