// Port of test_semaphore() from the docs' "Synchronization types like locks,
// conditions and queues" example program (mp_synchronize.py):
//
//   def semaphore_func(sema, mutex, running):
//       sema.acquire()
//
//       mutex.acquire()
//       running.value += 1
//       print running.value, 'tasks are running'
//       mutex.release()
//
//       random.seed()
//       time.sleep(random.random()*2)
//
//       mutex.acquire()
//       running.value -= 1
//       print '%s has finished' % multiprocessing.current_process()
//       mutex.release()
//
//       sema.release()
//
//   def test_semaphore():
//       sema = multiprocessing.Semaphore(3)
//       mutex = multiprocessing.RLock()
//       running = multiprocessing.Value('i', 0)
//
//       processes = [
//           multiprocessing.Process(target=semaphore_func,
//                                   args=(sema, mutex, running))
//           for i in range(10)
//           ]
//
//       for p in processes:
//           p.start()
//
//       for p in processes:
//           p.join()
//
// The semaphore lets at most three of the ten processes run at a time, so no
// line says more than 3 tasks are running. Each line is flushed under the
// mutex, so lines from different processes do not mix.
#include <chrono>
#include <cstdio>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include <fmt/core.h>

#include <mproc/mproc.hpp>

namespace mp = mproc;
using namespace std::chrono_literals;

void semaphore_func(mp::Semaphore sema, mp::RLock mutex, mp::Value<int> running) {
    std::lock_guard slot(sema);

    {
        std::lock_guard guard(mutex);
        running = running.value() + 1;
        fmt::print("{} tasks are running\n", running.value());
        std::fflush(stdout);
    }

    std::mt19937 random{std::random_device{}()};
    std::this_thread::sleep_for(std::uniform_real_distribution(0.0, 2.0)(random) * 1s);

    std::lock_guard guard(mutex);
    running = running.value() - 1;
    fmt::print("{} has finished\n", mp::current_process());
    std::fflush(stdout);
}

int main(int argc, char** argv) {
    mp::freeze_support(argc, argv);
    mp::Semaphore sema(3);
    mp::RLock mutex;
    mp::Value running(mp::typecode<'i'>, 0);

    std::vector<mp::Process> processes;
    for (int i = 0; i < 10; ++i) processes.emplace_back(semaphore_func, sema, mutex, running);

    for (auto& p : processes) p.start();

    for (auto& p : processes) p.join();
}
