// The set of children of this process (Python's process._children), for
// active_children() and the exit-time join (internal to core).
#pragma once

#include <memory>
#include <vector>

#include <mproc/process.hpp>

#include "process/process_state.hpp"

namespace mproc {

class ProcessRegistry {
  public:
    /// A started child, owned by a live Process object.
    static void add(Process& p);
    /// The child's object moved.
    static void moved(Process& from, Process& to);
    /// The child's object is being destroyed: keep tracking a running child.
    static void destroying(Process& p);
    /// Stop tracking (joined or closed).
    static void discard(const detail::ProcessState& s);
    /// Reaps ended children and returns the running ones.
    static std::vector<Process*> active();
    /// In a new child: the parent's children are not ours.
    static void reset_in_child();
    /// The next process number in this process (1, 2, ...; anew in a child),
    /// Python's _process_counter.
    static int next_number();
};

}  // namespace mproc
