// Port of the Python docs' Value/Array example ("Sharing state between
// processes", "Shared memory"):
//
//   from multiprocessing import Process, Value, Array
//
//   def f(n, a):
//       n.value = 3.1415927
//       for i in range(len(a)):
//           a[i] = -a[i]
//
//   if __name__ == '__main__':
//       num = Value('d', 0.0)
//       arr = Array('i', range(10))
//
//       p = Process(target=f, args=(num, arr))
//       p.start()
//       p.join()
//
//       print(num.value)
//       print(arr[:])
//
// Typecode 'd' is a double and 'i' an int: Value(typecode<'d'>, 0.0) is a
// Value<double>; an Array made from a range names its element type. Each
// read and write of an element takes the array's lock, as in Python.
#include <ranges>

#include <fmt/ranges.h>

#include <mproc/mproc.hpp>

namespace mp = mproc;

void f(mp::Value<double> n, mp::Array<int> a) {
    n = 3.1415927;
    for (std::size_t i = 0; i < a.size(); ++i) a[i] = -a[i];
}

int main(int argc, char** argv) {
    mp::freeze_support(argc, argv);
    mp::Value num(mp::typecode<'d'>, 0.0);
    mp::Array<int> arr(std::views::iota(0, 10));

    mp::Process p(f, num, arr);
    p.start();
    p.join();

    fmt::print("{}\n", num.value());
    fmt::print("{}\n", arr.to_vector());  // arr[:]
}
