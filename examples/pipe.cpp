// Port of the Python docs' Pipe example ("Exchanging objects between
// processes"):
//
//   def f(conn):
//       conn.send([42, None, 'hello'])
//       conn.close()
//
//   if __name__ == '__main__':
//       parent_conn, child_conn = Pipe()
//       p = Process(target=f, args=(child_conn,))
//       p.start()
//       print(parent_conn.recv())   # prints "[42, None, 'hello']"
//       p.join()
//
// Python's heterogeneous list becomes a typed tuple; it travels as a msgpack
// array, exactly as the list would, and is printed the way Python prints it.
#include <optional>
#include <string>
#include <tuple>

#include <fmt/core.h>

#include <mproc/mproc.hpp>

#include "python_repr.hpp"

namespace mp = mproc;

using Message = std::tuple<int, std::optional<int>, std::string>;

void f(mp::Connection conn) {
    conn.send(Message{42, std::nullopt, "hello"});
    conn.close();
}

int main(int argc, char** argv) {
    mp::freeze_support(argc, argv);
    auto [parent_conn, child_conn] = mp::Pipe();
    mp::Process p(f, child_conn);
    p.start();
    fmt::print("{}\n", repr(parent_conn.recv<Message>()));  // prints "[42, None, 'hello']"
    p.join();
}
