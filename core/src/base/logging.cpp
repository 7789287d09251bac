// mproc's logger (see <mproc/logging.hpp>). It sits below the process
// layer: the name of the current process and the exit hook come from there
// through logging_hooks.hpp, set when libmproc loads.
#include <mproc/logging.hpp>

#include <cstdio>
#include <memory>
#include <mutex>
#include <vector>

#include "base/fork_guard.hpp"
#include "base/logging_hooks.hpp"
#include "base/stderr.hpp"

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

namespace detail {

namespace {
std::string main_process_name() {
    return "MainProcess";
}
void nothing() {}
}  // namespace

LoggingHooks& logging_hooks() {
    static LoggingHooks hooks{&main_process_name, &nothing};
    return hooks;
}

}  // namespace detail

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
    detail::write_to_stderr(line);
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
        (*h)(level, detail::logging_hooks().process_name(), msg);
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
    detail::logging_hooks().logging_enabled();
    return l;
}

}  // namespace mproc
