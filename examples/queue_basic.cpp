// Port of the Python docs' Queue example ("Exchanging objects between
// processes"):
//
//   from multiprocessing import Process, Queue
//
//   def f(q):
//       q.put([42, None, 'hello'])
//
//   if __name__ == '__main__':
//       q = Queue()
//       p = Process(target=f, args=(q,))
//       p.start()
//       print(q.get())    # prints "[42, None, 'hello']"
//       p.join()
//
// Python's heterogeneous list becomes a typed tuple; it travels as a msgpack
// array, exactly as the list would, and is printed the way Python prints it.
// The queue is passed to the child as a Process argument (inheritance), as
// in Python.
#include <optional>
#include <string>
#include <tuple>

#include <fmt/core.h>

#include <mproc/mproc.hpp>

#include "python_repr.hpp"

namespace mp = mproc;

using Message = std::tuple<int, std::optional<int>, std::string>;

void f(mp::Queue<Message> q) {
    q.put(Message{42, std::nullopt, "hello"});
}

int main(int argc, char** argv) {
    mp::freeze_support(argc, argv);
    mp::Queue<Message> q;
    mp::Process p(f, q);
    p.start();
    fmt::print("{}\n", repr(q.get()));  // prints "[42, None, 'hello']"
    p.join();
}
