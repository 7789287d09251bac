// Port of test_condition() from the docs' "Synchronization types like locks,
// conditions and queues" example program (mp_synchronize.py):
//
//   def condition_func(cond):
//       cond.acquire()
//       print '\t' + str(cond)
//       time.sleep(2)
//       print '\tchild is notifying'
//       print '\t' + str(cond)
//       cond.notify()
//       cond.release()
//
//   def test_condition():
//       cond = multiprocessing.Condition()
//
//       p = multiprocessing.Process(target=condition_func, args=(cond,))
//       print cond
//
//       cond.acquire()
//       print cond
//       cond.acquire()
//       print cond
//
//       p.start()
//
//       print 'main is waiting'
//       cond.wait()
//       print 'main has woken up'
//
//       print cond
//       cond.release()
//       print cond
//       cond.release()
//
//       p.join()
//       print cond
//
// mproc prints a Condition as Python does: <Condition(<RLock(owner, depth)>,
// waiters)>. Nested std::lock_guards take the (re-entrant) lock twice; wait() releases both
// levels. The child can only take the lock while main waits, and main wakes
// only once the child lets go of it, so the output order is fixed; the
// child's sleep is the original's pacing.
#include <chrono>
#include <cstdio>
#include <mutex>
#include <thread>

#include <fmt/core.h>

#include <mproc/mproc.hpp>

namespace mp = mproc;
using namespace std::chrono_literals;

void condition_func(mp::Condition cond) {
    std::lock_guard guard(cond);
    fmt::print("\t{}\n", cond);
    std::fflush(stdout);
    std::this_thread::sleep_for(2s);
    fmt::print("\tchild is notifying\n");
    fmt::print("\t{}\n", cond);
    std::fflush(stdout);
    cond.notify();
}

int main(int argc, char** argv) {
    mp::freeze_support(argc, argv);
    mp::Condition cond;

    mp::Process p(condition_func, cond);
    fmt::print("{}\n", cond);
    {
        std::lock_guard outer(cond);
        fmt::print("{}\n", cond);
        {
            std::lock_guard inner(cond);
            fmt::print("{}\n", cond);

            p.start();

            fmt::print("main is waiting\n");
            std::fflush(stdout);
            cond.wait();
            fmt::print("main has woken up\n");

            fmt::print("{}\n", cond);
        }
        fmt::print("{}\n", cond);
    }

    p.join();
    fmt::print("{}\n", cond);
}
