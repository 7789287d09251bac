// Port of test_event() from the docs' "Synchronization types like locks,
// conditions and queues" example program (mp_synchronize.py):
//
//   def event_func(event):
//       print '\t%r is waiting' % multiprocessing.current_process()
//       event.wait()
//       print '\t%r has woken up' % multiprocessing.current_process()
//
//   def test_event():
//       event = multiprocessing.Event()
//
//       processes = [multiprocessing.Process(target=event_func, args=(event,))
//                    for i in range(5)]
//
//       for p in processes:
//           p.start()
//
//       print 'main is sleeping'
//       time.sleep(2)
//
//       print 'main is setting event'
//       event.set()
//
//       for p in processes:
//           p.join()
//
// The sleep gives the children time to say they are waiting, but nothing
// depends on it: whenever a child gets there, it wakes only once the event
// is set, so every "has woken up" line follows "main is setting event".
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include <fmt/core.h>

#include <mproc/mproc.hpp>

namespace mp = mproc;
using namespace std::chrono_literals;

void event_func(mp::Event event) {
    fmt::print("\t{} is waiting\n", mp::current_process());
    std::fflush(stdout);
    event.wait();
    fmt::print("\t{} has woken up\n", mp::current_process());
    std::fflush(stdout);
}

int main(int argc, char** argv) {
    mp::freeze_support(argc, argv);
    mp::Event event;

    std::vector<mp::Process> processes;
    for (int i = 0; i < 5; ++i) processes.emplace_back(event_func, event);

    for (auto& p : processes) p.start();

    fmt::print("main is sleeping\n");
    std::fflush(stdout);
    std::this_thread::sleep_for(2s);

    fmt::print("main is setting event\n");
    std::fflush(stdout);
    event.set();

    for (auto& p : processes) p.join();
}
