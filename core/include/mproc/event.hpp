// Events across processes (Python: multiprocessing.Event).
//
//   mproc::Event ready;
//   mproc::Process p([](mproc::Event e) { e.set(); }, ready);
//   p.start();
//   ready.wait(5s);   // true once set
#pragma once

#include <mproc/export.hpp>

#include <ostream>
#include <string>

#include <fmt/format.h>

#include <mproc/condition.hpp>

namespace mproc {

/// A flag processes set, clear and wait for.
class MPROC_API Event {
  public:
    /// A new, clear event of the default context.
    Event();
    /// A new, clear event made by ctx's start method.
    explicit Event(const Context& ctx);

    /// True once set (until cleared).
    bool is_set() const;
    /// Sets the flag and wakes every waiter.
    void set();
    /// Clears the flag.
    void clear();
    /// Waits until the flag is set or timeout passes; returns the flag.
    bool wait(Timeout timeout = std::nullopt);
    /// Python's printable form (3.13): <Event at 0x7ffd5c2a3b40 unset>, or
    /// "set"; also what fmt and operator<< print.
    std::string repr() const;
    /// Prints repr().
    friend std::ostream& operator<<(std::ostream& os, const Event& e) { return os << e.repr(); }

  private:
    friend struct codec<Event>;
    Event(Condition cond, Semaphore flag) : cond_(std::move(cond)), flag_(std::move(flag)) {}
    mutable Condition cond_;
    mutable Semaphore flag_;
};

template <>
struct MPROC_API codec<Event> {
    static void encode(Encoder& e, const Event& ev);
    static Event decode(Decoder& d);
};

}  // namespace mproc

/// fmt::print("{}", event) prints repr().
template <>
struct fmt::formatter<mproc::Event> : fmt::formatter<std::string_view> {
    template <class Ctx>
    auto format(const mproc::Event& e, Ctx& ctx) const {
        return fmt::formatter<std::string_view>::format(e.repr(), ctx);
    }
};
