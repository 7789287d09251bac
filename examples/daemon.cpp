// Port of the tutorial's "Daemon Processes" example (multiprocessing_daemon.py):
//
//   def daemon():
//       p = multiprocessing.current_process()
//       print 'Starting:', p.name, p.pid
//       sys.stdout.flush()
//       time.sleep(2)
//       print 'Exiting :', p.name, p.pid
//       sys.stdout.flush()
//
//   def non_daemon():
//       p = multiprocessing.current_process()
//       print 'Starting:', p.name, p.pid
//       sys.stdout.flush()
//       print 'Exiting :', p.name, p.pid
//       sys.stdout.flush()
//
//   if __name__ == '__main__':
//       d = multiprocessing.Process(name='daemon', target=daemon)
//       d.daemon = True
//       n = multiprocessing.Process(name='non-daemon', target=non_daemon)
//       n.daemon = False
//       d.start()
//       time.sleep(1)
//       n.start()
//
// Instead of sleeping, the daemon tells the main process it has started (so
// the output order is fixed) and then blocks on a pipe that nobody writes
// to. The main process joins nobody: at exit mproc joins the non-daemon and
// terminates the daemon, which therefore never prints "Exiting".
// (The target is daemon_ because <unistd.h> already declares daemon().)
#include <cstdio>

#include <fmt/core.h>

#include <mproc/mproc.hpp>

namespace mp = mproc;

void daemon_(mp::Connection started) {
    auto& p = mp::current_process();
    fmt::print("Starting: {} {}\n", p.name(), *p.pid());
    std::fflush(stdout);
    started.send(true);
    auto [reader, writer] = mp::Pipe(false);
    reader.recv<int>();  // the tutorial's time.sleep(2): never returns
    fmt::print("Exiting : {} {}\n", p.name(), *p.pid());
    std::fflush(stdout);
}

void non_daemon() {
    auto& p = mp::current_process();
    fmt::print("Starting: {} {}\n", p.name(), *p.pid());
    std::fflush(stdout);
    fmt::print("Exiting : {} {}\n", p.name(), *p.pid());
    std::fflush(stdout);
}

int main(int argc, char** argv) {
    mp::freeze_support(argc, argv);
    auto [started_reader, started_writer] = mp::Pipe(false);

    mp::Process d({.name = "daemon"}, daemon_, started_writer);
    d.set_daemon(true);

    mp::Process n({.name = "non-daemon"}, non_daemon);
    n.set_daemon(false);

    d.start();
    started_reader.recv<bool>();  // instead of time.sleep(1)
    n.start();
}
