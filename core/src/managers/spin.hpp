// Waiting for the next message on a manager connection by polling for a
// short while before sleeping in a blocking read. A manager call is a round
// trip of a few microseconds of work; a peer that sleeps between messages
// pays the scheduler's wake-up (most of the time of a call on a VM) on every
// one. See docs/managers.md ("Latency") and MPROC_MANAGER_SPIN_US.
#pragma once

#include <mproc/connection.hpp>

namespace mproc::managers::detail {

/// Returns when c has something to read, or when the spin budget is spent
/// (then the caller's blocking read sleeps as usual). No budget on a
/// machine with one CPU, where polling would only delay the peer.
void spin_until_readable(Connection& c);

}  // namespace mproc::managers::detail
