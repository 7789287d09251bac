// Port of the Python docs' first example, data parallelism with a Pool:
//
//   from multiprocessing import Pool
//
//   def f(x):
//       return x*x
//
//   if __name__ == '__main__':
//       with Pool(5) as p:
//           print(p.map(f, [1, 2, 3]))
//
// prints [1, 4, 9].
#include <vector>

#include <fmt/core.h>
#include <fmt/ranges.h>

#include <mproc/mproc.hpp>

namespace mp = mproc;

int f(int x) {
    return x * x;
}

int main(int argc, char** argv) {
    mp::freeze_support(argc, argv);
    mp::Pool p(5);  // leaving the scope terminates the pool, as Python's `with`
    fmt::print("{}\n", p.map(f, std::vector{1, 2, 3}));
}
