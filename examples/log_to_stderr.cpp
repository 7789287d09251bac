// Port of the tutorial's "Logging" example (multiprocessing_log_to_stderr.py):
//
//   def worker():
//       print 'Doing some work'
//       sys.stdout.flush()
//
//   if __name__ == '__main__':
//       multiprocessing.log_to_stderr(logging.DEBUG)
//       p = multiprocessing.Process(target=worker)
//       p.start()
//       p.join()
//
// stderr then shows the library's lifecycle messages, among them
//   [INFO/Process-1] child process calling self.run()
//   [INFO/Process-1] process exiting with exitcode 0
//   [INFO/MainProcess] process shutting down
#include <cstdio>

#include <fmt/core.h>

#include <mproc/mproc.hpp>

namespace mp = mproc;

void worker() {
    fmt::print("Doing some work\n");
    std::fflush(stdout);
}

int main(int argc, char** argv) {
    mp::freeze_support(argc, argv);
    mp::log_to_stderr(mp::logging::DEBUG);
    mp::Process p(worker);
    p.start();
    p.join();
}
