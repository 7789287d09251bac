// Port of the first example of the Python docs ("The Process class"):
//
//   def f(name):
//       print('hello', name)
//
//   if __name__ == '__main__':
//       p = Process(target=f, args=('bob',))
//       p.start()
//       p.join()
#include <string>

#include <fmt/core.h>

#include <mproc/mproc.hpp>

namespace mp = mproc;

void f(std::string name) {
    fmt::print("hello {}\n", name);
}

int main(int argc, char** argv) {
    mp::freeze_support(argc, argv);
    mp::Process p(f, "bob");
    p.start();
    p.join();
}
