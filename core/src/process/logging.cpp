#include <mproc/logging.hpp>

#include <unistd.h>

#include <memory>
#include <mutex>

#include <mproc/process.hpp>

#include "base/fork_guard.hpp"
#include "process/process_state.hpp"

namespace mproc {

namespace logging {

std::string level_name(int level) {
    switch (level) {
        case NOTSET:
            return "NOTSET";
        case SUBDEBUG:
            return "SUBDEBUG";
        case DEBUG:
            return "DEBUG";
        case INFO:
            return "INFO";
        case SUBWARNING:
            return "SUBWARNING";
        case WARNING:
            return "WARNING";
        case ERROR:
            return "ERROR";
        case CRITICAL:
            return "CRITICAL";
        default:
            return "Level " + std::to_string(level);
    }
}

}  // namespace logging

namespace {

// A plain atomic pointer, so that logging takes no lock another thread could
// hold at fork time. Replaced handlers are never freed: a thread may still
// be calling one, and handlers are set a handful of times per program.
std::atomic<const Logger::Handler*> handler_slot{nullptr};

void write_stderr(int level, std::string_view process, std::string_view msg) {
    std::string line = "[" + logging::level_name(level) + "/" + std::string(process) + "] ";
    line.append(msg);
    line.push_back('\n');
    std::fflush(stderr);
    std::size_t done = 0;
    while (done < line.size()) {
        ssize_t n = ::write(2, line.data() + done, line.size() - done);
        if (n <= 0) break;
        done += std::size_t(n);
    }
}

}  // namespace

[[gnu::hot]] bool Logger::is_enabled_for(int level) const noexcept {
    if (!has_handler_.load(std::memory_order_relaxed)) return false;
    int l = level_.load(std::memory_order_relaxed);
    return level >= (l == logging::NOTSET ? logging::WARNING : l);
}

void Logger::set_handler(Handler handler) {
    static auto* m = new detail::ForkGuardedMutex();  // only against concurrent set_handler calls
    static auto* all = new std::vector<std::unique_ptr<Handler>>();  // kept: see handler_slot
    const Handler* p = nullptr;
    if (handler) {
        std::lock_guard lock(*m);
        all->push_back(std::make_unique<Handler>(std::move(handler)));
        p = all->back().get();
    }
    has_handler_.store(p != nullptr);
    to_stderr_.store(false);
    handler_slot.store(p, std::memory_order_release);
}

void Logger::log(int level, std::string_view msg) {
    if (!is_enabled_for(level)) return;
    if (const Handler* h = handler_slot.load(std::memory_order_acquire))
        (*h)(level, current_process().name(), msg);
}

[[gnu::hot]] Logger& get_logger() {
    static auto* logger = new Logger();
    return *logger;
}

Logger& log_to_stderr(std::optional<int> level) {
    auto& l = get_logger();
    l.set_handler(&write_stderr);
    l.to_stderr_.store(true);
    if (level) l.set_level(*level);
    detail::ensure_exit_handler();
    return l;
}

}  // namespace mproc
