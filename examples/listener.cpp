// Port of the Python docs' Listener example ("Listeners and Clients"):
//
//   from multiprocessing.connection import Listener
//   from array import array
//
//   address = ('localhost', 6000)     # family is deduced to be 'AF_INET'
//   with Listener(address, authkey=b'secret password') as listener:
//       with listener.accept() as conn:
//           print('connection accepted from', listener.last_accepted)
//           conn.send([2.25, None, 'junk', float])
//           conn.send_bytes(b'hello')
//           conn.send_bytes(array('i', [42, 1729]))
//
// Python's list travels as an mproc::object; the type `float` cannot cross a
// msgpack connection (Python pickles it), so its name does. An address on
// the command line (a path, or a port on localhost) replaces ('localhost',
// 6000), and the listener says where it listens so that a client can start.
// Its peer is client.cpp; a Python client reads the list with
// msgpack.unpackb(conn.recv_bytes()) instead of conn.recv() (no pickle here).
#include <array>
#include <cstdlib>
#include <string>

#include <fmt/core.h>

#include <mproc/mproc.hpp>

namespace mp = mproc;
namespace mpc = mproc::connection;

mpc::Address address_from(int argc, char** argv) {
    if (argc < 2) return {"localhost", 6000};  // family is deduced to be AF_INET
    std::string arg = argv[1];
    if (arg.find_first_not_of("0123456789") == std::string::npos)
        return {"localhost", std::stol(arg)};
    return arg;  // a path: AF_UNIX
}

int main(int argc, char** argv) {
    mp::freeze_support(argc, argv);
    mpc::Listener listener(address_from(argc, argv), "secret password");
    fmt::print("listening on {}\n", listener.address());
    std::fflush(stdout);
    mp::Connection conn = listener.accept();
    fmt::print("connection accepted from {}\n", *listener.last_accepted());
    conn.send(mp::list{2.25, mp::None, "junk", "float"});
    conn.send_bytes("hello");
    std::array<int, 2> arr{42, 1729};
    conn.send_bytes(std::as_bytes(std::span(arr)));
    conn.close();
    listener.close();
}
