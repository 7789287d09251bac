// A pool worker's loop and the messages between it and the pool (internal).
#pragma once

#include <mproc/connection.hpp>
#include <mproc/detail/pool_core.hpp>

namespace mproc::detail {

/// Pool -> worker: [stop], [chunk, job, first, count, trampoline, function,
/// items...], or [batch, n, bin(chunk message)...] (n chunks, run in order;
/// each answered on its own).
enum ToWorker : int { to_worker_stop = 0, to_worker_chunk = 1, to_worker_batch = 2 };
/// Worker -> pool: [ready], [init_failed, error], [result, job, first, ok, items or error],
/// [retiring] (after a result: the worker exits; what else it was sent is not started).
enum FromWorker : int {
    from_worker_ready = 0,
    from_worker_init_failed = 1,
    from_worker_result = 2,
    from_worker_retiring = 3
};

/// The target of every pool worker process: chunks come on tasks, results
/// go out on results.
void pool_worker_main(Connection tasks, Connection results, WorkerSetup setup);

}  // namespace mproc::detail
