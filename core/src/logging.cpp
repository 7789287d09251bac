#include <mproc/logging.hpp>

#include <unistd.h>

#include <memory>
#include <mutex>

#include <mproc/process.hpp>

#include "process_state.hpp"

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

// Swapped atomically so that logging never holds a lock another thread
// could be holding at fork time.
std::shared_ptr<const Logger::Handler>& handler_slot() {
    static auto* slot = new std::shared_ptr<const Logger::Handler>();
    return *slot;
}

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

bool Logger::is_enabled_for(int level) const noexcept {
    if (!has_handler_.load(std::memory_order_relaxed)) return false;
    int l = level_.load(std::memory_order_relaxed);
    return level >= (l == logging::NOTSET ? logging::WARNING : l);
}

void Logger::set_handler(Handler handler) {
    auto p = handler ? std::make_shared<const Handler>(std::move(handler)) : nullptr;
    has_handler_.store(p != nullptr);
    to_stderr_.store(false);
    std::atomic_store(&handler_slot(), std::move(p));
}

void Logger::log(int level, std::string_view msg) {
    if (!is_enabled_for(level)) return;
    auto h = std::atomic_load(&handler_slot());
    if (h) (*h)(level, current_process().name(), msg);
}

Logger& get_logger() {
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
