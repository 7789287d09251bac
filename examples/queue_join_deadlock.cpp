// Port of the Python docs' programming guideline "Joining processes that use
// queues", in its fixed form:
//
//   from multiprocessing import Process, Queue
//
//   def f(q):
//       q.put('X' * 1000000)
//
//   if __name__ == '__main__':
//       queue = Queue()
//       p = Process(target=f, args=(queue,))
//       p.start()
//       p.join()                    # this deadlocks
//       obj = queue.get()
//
//   "A fix here would be to swap the last two lines (or simply remove the
//   p.join() line)."
//
// As in Python, a process that has put items on a queue waits, before it
// ends, until its feeder thread has pushed them all into the queue's pipe: a
// 1 MB item does not fit in the pipe, so the child ends only once somebody
// gets it. Joining it first would wait forever; getting first, then
// joining, is the fix. The item is printed in short (a million X's would
// not make a useful line).
#include <algorithm>
#include <string>

#include <fmt/core.h>

#include <mproc/mproc.hpp>

namespace mp = mproc;

void f(mp::Queue<std::string> q) {
    q.put(std::string(1000000, 'X'));
}

int main(int argc, char** argv) {
    mp::freeze_support(argc, argv);
    mp::Queue<std::string> queue;
    mp::Process p(f, queue);
    p.start();
    auto obj = queue.get();  // first get ...
    p.join();                // ... then join: no deadlock
    fmt::print("len(obj) = {}\n", obj.size());
    fmt::print("obj == 'X' * 1000000: {}\n",
               obj.size() == 1000000 &&
                       std::all_of(obj.begin(), obj.end(), [](char c) { return c == 'X'; })
                   ? "True"
                   : "False");
    fmt::print("{} exitcode = {}\n", p.name(), *p.exitcode());
}
