// Port of test_value() from the docs' "Synchronization types like locks,
// conditions and queues" example program (mp_synchronize.py):
//
//   def value_func(running, mutex):
//       random.seed()
//       time.sleep(random.random()*4)
//
//       mutex.acquire()
//       print '\n\t\t\t' + str(multiprocessing.current_process()) + ' has finished'
//       running.value -= 1
//       mutex.release()
//
//   def test_value():
//       TASKS = 10
//       running = multiprocessing.Value('i', TASKS)
//       mutex = multiprocessing.Lock()
//
//       for i in range(TASKS):
//           p = multiprocessing.Process(target=value_func, args=(running, mutex))
//           p.start()
//
//       while running.value > 0:
//           time.sleep(0.08)
//           mutex.acquire()
//           print running.value,
//           sys.stdout.flush()
//           mutex.release()
//
//       print
//       print 'No more running processes'
//
// Every print happens under the mutex and is flushed before it is released,
// so the main process's counts and the children's lines never mix within a
// line, and each count printed is 10 minus the "has finished" lines above
// it. As in Python, the main process does not join: at exit mproc joins the
// children.
#include <chrono>
#include <cstdio>
#include <mutex>
#include <random>
#include <thread>

#include <fmt/core.h>

#include <mproc/mproc.hpp>

namespace mp = mproc;
using namespace std::chrono_literals;

void value_func(mp::Value<int> running, mp::Lock mutex) {
    std::mt19937 random{std::random_device{}()};
    std::this_thread::sleep_for(std::uniform_real_distribution(0.0, 4.0)(random) * 1s);

    std::lock_guard guard(mutex);
    fmt::print("\n\t\t\t{} has finished\n", mp::current_process());
    std::fflush(stdout);
    running = running.value() - 1;
}

int main(int argc, char** argv) {
    mp::freeze_support(argc, argv);
    constexpr int TASKS = 10;
    mp::Value running(mp::typecode<'i'>, TASKS);
    mp::Lock mutex;

    for (int i = 0; i < TASKS; ++i) {
        mp::Process p(value_func, running, mutex);
        p.start();
    }

    while (running.value() > 0) {
        std::this_thread::sleep_for(80ms);
        std::lock_guard guard(mutex);
        fmt::print("{} ", running.value());
        std::fflush(stdout);
    }

    fmt::print("\n");
    fmt::print("No more running processes\n");
}
