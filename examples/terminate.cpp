// Port of the tutorial's "Terminating Processes" example
// (multiprocessing_terminate.py):
//
//   def slow_worker():
//       print 'Starting worker'
//       time.sleep(0.1)
//       print 'Finished worker'
//
//   if __name__ == '__main__':
//       p = multiprocessing.Process(target=slow_worker)
//       print 'BEFORE:', p, p.is_alive()
//       p.start()
//       print 'DURING:', p, p.is_alive()
//       p.terminate()
//       print 'TERMINATED:', p, p.is_alive()
//       p.join()
//       print 'JOINED:', p, p.is_alive()
//
// In the tutorial's run terminate() wins the race against the worker, which
// prints nothing. Here the worker first waits for a go-ahead that never
// comes, so that is always what happens. The printed form is Python 3's:
// <Process name='Process-1' pid=... parent=... stopped exitcode=-SIGTERM>.
#include <fmt/core.h>

#include <mproc/mproc.hpp>

namespace mp = mproc;

// Python prints booleans capitalised.
const char* py(bool b) {
    return b ? "True" : "False";
}

void slow_worker(mp::Connection go) {
    go.recv<bool>();  // the main process never sends: terminate() comes first
    fmt::print("Starting worker\n");
    fmt::print("Finished worker\n");
}

int main(int argc, char** argv) {
    mp::freeze_support(argc, argv);
    auto [go_reader, go_writer] = mp::Pipe(false);
    mp::Process p(slow_worker, go_reader);
    fmt::print("BEFORE: {} {}\n", p.repr(), py(p.is_alive()));

    p.start();
    fmt::print("DURING: {} {}\n", p.repr(), py(p.is_alive()));

    p.terminate();
    fmt::print("TERMINATED: {} {}\n", p.repr(), py(p.is_alive()));

    p.join();
    fmt::print("JOINED: {} {}\n", p.repr(), py(p.is_alive()));
}
