// Exit hooks with priorities (Python: multiprocessing.util.Finalize).
//
//   namespace mp = mproc;
//   mp::util::Finalize close_log([] { flush_my_log(); }, /*exitpriority=*/10);
//   mp::util::Finalize tidy([] { remove_temp_dir(); }, 0);
//   ...
//   close_log();                   // may run early; then never again
//   tidy.cancel();                 // or never at all
//
// A finalizer with an exit priority runs when this process ends normally: a
// child after its target returns (or throws, or calls mproc::exit), the main
// program when main returns or std::exit is called. As in Python, those with
// priority >= 0 run first, then daemonic children are terminated and the
// others joined, then those with a negative priority; higher priorities run
// first and equal ones in reverse order of registration. A finalizer without
// a priority never runs at exit (only when called). Each runs at most once,
// and only in the process that made it: a fork child neither runs nor
// inherits its parent's (Python clears the registry in a child). An exception
// escaping a callback is printed on stderr and the others still run. Nothing
// runs after an abnormal end (a signal, _exit).
//
// Python ties a finalizer without priority to an object's life through a
// weak reference; C++ has none: call the finalizer (or cancel it) from the
// owner's destructor instead.
//
// std::atexit handlers registered inside a child run when the child ends
// normally, as in Python 3.13; those it inherited from a fork parent never do.
#pragma once

#include <mproc/export.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace mproc::util {

namespace detail {
struct FinalizerState;
}

/// A registered exit hook (Python: multiprocessing.util.Finalize). Copies
/// share the registration.
class MPROC_API Finalize {
  public:
    /// Registers callback; with an exit priority it runs at this process's
    /// normal end (see the header comment), without one only when called.
    explicit Finalize(std::function<void()> callback,
                      std::optional<int> exitpriority = std::nullopt);

    /// Runs the callback now, if it is still registered and was made in this
    /// process, and unregisters it (it never runs again).
    void operator()();
    /// Unregisters it without running the callback.
    void cancel();
    /// True while it is registered (not yet run nor cancelled).
    bool still_active() const;
    /// The exit priority given.
    std::optional<int> exitpriority() const;
    /// "<Finalize object, exitpriority=10>", "<Finalize object, dead>".
    std::string repr() const;

  private:
    std::shared_ptr<detail::FinalizerState> state_;
};

/// Runs the finalizers of this process with a priority of at least
/// minpriority (all those with a priority if nullopt, then forgets the
/// rest), highest first (Python: util._run_finalizers). Called at exit.
MPROC_API void run_finalizers(std::optional<int> minpriority = std::nullopt);

}  // namespace mproc::util
