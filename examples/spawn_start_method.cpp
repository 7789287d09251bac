// Port of the Python docs' set_start_method example ("Contexts and start
// methods"):
//
//   import multiprocessing as mp
//
//   def foo(q):
//       q.put('hello')
//
//   if __name__ == '__main__':
//       mp.set_start_method('spawn')
//       q = mp.Queue()
//       p = mp.Process(target=foo, args=(q,))
//       p.start()
//       print(q.get())
//       p.join()
//
// mproc has no Queue yet (issue 5), so this port sends the message over a
// Pipe instead: the child gets the writing end, the parent reads. The rest is
// the original: the default start method becomes spawn, so the child is a
// fresh copy of this program, which turns into the child in freeze_support.
// Under spawn the target must be a plain function (it crosses exec by
// build-id and offset) and its arguments must be serializable; a Connection
// crosses as a handle.
#include <string>

#include <fmt/core.h>

#include <mproc/mproc.hpp>

namespace mp = mproc;

void foo(mp::Connection q) {
    q.send(std::string("hello"));
}

int main(int argc, char** argv) {
    mp::freeze_support(argc, argv);  // a spawned child becomes foo() here
    mp::set_start_method("spawn");
    auto [reader, writer] = mp::Pipe(false);
    mp::Process p(foo, writer);
    p.start();
    writer.close();  // only the child writes now
    fmt::print("{}\n", reader.recv<std::string>());
    p.join();
}
