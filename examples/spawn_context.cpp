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
// mproc has no Queue yet (issue 5), so this port uses the context's Pipe
// instead. A context leaves the program's default start method alone: only
// the processes made with ctx.Process use spawn, which is what a library that
// wants a particular start method should do.
#include <string>

#include <fmt/core.h>

#include <mproc/mproc.hpp>

namespace mp = mproc;

void foo(mp::Connection q) {
    q.send(std::string("hello"));
}

int main(int argc, char** argv) {
    mp::freeze_support(argc, argv);  // a spawned child becomes foo() here
    auto ctx = mp::get_context("spawn");
    auto [reader, writer] = ctx.Pipe(false);
    auto p = ctx.Process(foo, writer);
    p.start();
    writer.close();  // only the child writes now
    fmt::print("{}\n", reader.recv<std::string>());
    p.join();
}
