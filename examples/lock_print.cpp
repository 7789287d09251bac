// Port of the Python docs' Lock example ("Synchronization between
// processes"):
//
//   from multiprocessing import Process, Lock
//
//   def f(l, i):
//       l.acquire()
//       try:
//           print('hello world', i)
//       finally:
//           l.release()
//
//   if __name__ == '__main__':
//       lock = Lock()
//
//       for num in range(10):
//           Process(target=f, args=(lock, num)).start()
//
// std::lock_guard plays the part of try/finally. The line is flushed while
// the lock is held, so that it reaches stdout under the lock (a redirected
// stdout is otherwise only written when the child exits). As in Python, the
// main process does not join: at exit mproc joins the children.
#include <cstdio>
#include <mutex>

#include <fmt/core.h>

#include <mproc/mproc.hpp>

namespace mp = mproc;

void f(mp::Lock l, int i) {
    std::lock_guard guard(l);
    fmt::print("hello world {}\n", i);
    std::fflush(stdout);
}

int main(int argc, char** argv) {
    mp::freeze_support(argc, argv);
    mp::Lock lock;

    for (int num = 0; num < 10; ++num) mp::Process(f, lock, num).start();
}
