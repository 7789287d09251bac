// mproc's logger (Python: multiprocessing.get_logger / log_to_stderr).
//
//   mproc::log_to_stderr(mproc::logging::INFO);
//   mproc::get_logger().info("ready");   // "[INFO/MainProcess] ready" on stderr
//
// The library logs its own lifecycle (child start and exit, shutdown) at
// INFO, DEBUG and SUBDEBUG, as Python's multiprocessing does. Nothing is
// printed until log_to_stderr() or set_handler() is called. Under fork a
// child inherits the configuration; under spawn it is passed to the child.
#pragma once

#include <mproc/export.hpp>

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

namespace mproc {

namespace logging {
/// Levels, as Python's logging plus multiprocessing's two extra ones.
inline constexpr int NOTSET = 0;
inline constexpr int SUBDEBUG = 5;
inline constexpr int DEBUG = 10;
inline constexpr int INFO = 20;
inline constexpr int SUBWARNING = 25;
inline constexpr int WARNING = 30;
inline constexpr int ERROR = 40;
inline constexpr int CRITICAL = 50;
/// The name printed for a level ("SUBDEBUG", "INFO", or "Level N").
MPROC_API std::string level_name(int level);
}  // namespace logging

/// multiprocessing.SUBDEBUG.
inline constexpr int SUBDEBUG = logging::SUBDEBUG;
/// multiprocessing.SUBWARNING.
inline constexpr int SUBWARNING = logging::SUBWARNING;

/// The "multiprocessing" logger.
class MPROC_API Logger {
  public:
    /// Receives each record that passes the level: level, process name, text.
    using Handler = std::function<void(int level, std::string_view process, std::string_view msg)>;

    /// Sets the level; NOTSET means WARNING (as Python's root logger).
    void set_level(int level) noexcept { level_.store(level, std::memory_order_relaxed); }
    /// The level set (NOTSET until set).
    int level() const noexcept { return level_.load(std::memory_order_relaxed); }
    /// True if a record of this level would be handled.
    bool is_enabled_for(int level) const noexcept;
    /// Replaces the handler (nullptr: no output).
    void set_handler(Handler handler);
    /// True if log_to_stderr() set the handler (children inherit it).
    bool logs_to_stderr() const noexcept { return to_stderr_.load(std::memory_order_relaxed); }

    /// Logs a message at a level.
    void log(int level, std::string_view msg);
    /// Logs a formatted message at a level, formatting only when enabled.
    template <class... A>
    void log(int level, fmt::format_string<A...> f, A&&... args) {
        if (is_enabled_for(level))
            log(level, std::string_view(fmt::format(f, std::forward<A>(args)...)));
    }
    /// Logs at SUBDEBUG.
    template <class... A>
    void subdebug(fmt::format_string<A...> f, A&&... a) {
        log(logging::SUBDEBUG, f, std::forward<A>(a)...);
    }
    /// Logs at DEBUG.
    template <class... A>
    void debug(fmt::format_string<A...> f, A&&... a) {
        log(logging::DEBUG, f, std::forward<A>(a)...);
    }
    /// Logs at INFO.
    template <class... A>
    void info(fmt::format_string<A...> f, A&&... a) {
        log(logging::INFO, f, std::forward<A>(a)...);
    }
    /// Logs at SUBWARNING.
    template <class... A>
    void subwarning(fmt::format_string<A...> f, A&&... a) {
        log(logging::SUBWARNING, f, std::forward<A>(a)...);
    }
    /// Logs at WARNING.
    template <class... A>
    void warning(fmt::format_string<A...> f, A&&... a) {
        log(logging::WARNING, f, std::forward<A>(a)...);
    }
    /// Logs at ERROR.
    template <class... A>
    void error(fmt::format_string<A...> f, A&&... a) {
        log(logging::ERROR, f, std::forward<A>(a)...);
    }
    /// Logs at CRITICAL.
    template <class... A>
    void critical(fmt::format_string<A...> f, A&&... a) {
        log(logging::CRITICAL, f, std::forward<A>(a)...);
    }

  private:
    std::atomic<int> level_{logging::NOTSET};
    std::atomic<bool> has_handler_{false};
    std::atomic<bool> to_stderr_{false};
    friend Logger& log_to_stderr(std::optional<int> level);
};

/// The library's logger.
MPROC_API Logger& get_logger();
/// Sends the logger's records to stderr as "[LEVEL/ProcessName] message";
/// sets the level if one is given. Returns the logger.
MPROC_API Logger& log_to_stderr(std::optional<int> level = std::nullopt);

}  // namespace mproc
