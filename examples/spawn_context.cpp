// Port of the Python docs' get_context example ("Contexts and start
// methods"):
//
//   import multiprocessing as mp
//
//   def foo(q):
//       q.put('hello')
//
//   if __name__ == '__main__':
//       ctx = mp.get_context('spawn')
//       q = ctx.Queue()
//       p = ctx.Process(target=foo, args=(q,))
//       p.start()
//       print(q.get())
//       p.join()
//
// A context leaves the program's default start method alone: only the
// processes (and queues) made with ctx use spawn, which is what a library
// that wants a particular start method should do.
#include <string>

#include <fmt/core.h>

#include <mproc/mproc.hpp>

namespace mp = mproc;

void foo(mp::Queue<std::string> q) {
    q.put("hello");
}

int main(int argc, char** argv) {
    mp::freeze_support(argc, argv);  // a spawned child becomes foo() here
    auto ctx = mp::get_context("spawn");
    auto q = ctx.Queue<std::string>();
    auto p = ctx.Process(foo, q);
    p.start();
    fmt::print("{}\n", q.get());
    p.join();
}
