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
// Python's heterogeneous list is an mp::list of mp::objects (Python's data
// model); fmt prints it as Python's print() does.
#include <fmt/core.h>

#include <mproc/mproc.hpp>

namespace mp = mproc;

void f(mp::Connection conn) {
    conn.send(mp::list{42, mp::None, "hello"});
    conn.close();
}

int main(int argc, char** argv) {
    mp::freeze_support(argc, argv);
    auto [parent_conn, child_conn] = mp::Pipe();
    mp::Process p(f, child_conn);
    p.start();
    fmt::print("{}\n", parent_conn.recv<mp::object>());  // prints "[42, None, 'hello']"
    p.join();
}
