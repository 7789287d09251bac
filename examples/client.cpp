// Port of the Python docs' Client example ("Listeners and Clients"):
//
//   from multiprocessing.connection import Client
//   from array import array
//
//   address = ('localhost', 6000)
//   with Client(address, authkey=b'secret password') as conn:
//       print(conn.recv())                  # => [2.25, None, 'junk', float]
//       print(conn.recv_bytes())            # => 'hello'
//       arr = array('i', [0, 0, 0, 0, 0])
//       print(conn.recv_bytes_into(arr))    # => 8
//       print(arr)                          # => array('i', [42, 1729, 0, 0, 0])
//
// The heterogeneous list arrives as an mproc::object and prints as Python
// prints it. An address on the command line (a path, or a port on
// localhost) replaces ('localhost', 6000).
#include <array>
#include <string>

#include <fmt/core.h>
#include <fmt/ranges.h>

#include <mproc/mproc.hpp>

namespace mp = mproc;
namespace mpc = mproc::connection;

mpc::Address address_from(int argc, char** argv) {
    if (argc < 2) return {"localhost", 6000};
    std::string arg = argv[1];
    if (arg.find_first_not_of("0123456789") == std::string::npos)
        return {"localhost", std::stol(arg)};
    return arg;
}

int main(int argc, char** argv) {
    mp::freeze_support(argc, argv);
    mp::Connection conn = mpc::Client(address_from(argc, argv), "secret password");
    fmt::print("{}\n", conn.recv<mp::object>());        // => [2.25, None, 'junk', 'float']
    fmt::print("{}\n", mp::object(conn.recv_bytes()));  // => b'hello'
    std::array<int, 5> arr{0, 0, 0, 0, 0};
    fmt::print("{}\n", conn.recv_bytes_into(std::as_writable_bytes(std::span(arr))));  // => 8
    fmt::print("array('i', [{}])\n", fmt::join(arr, ", "));  // => array('i', [42, 1729, 0, 0, 0])
    conn.close();
}
