// Port of the Python docs' multiprocessing.sharedctypes example, where a
// child process modifies several shared objects:
//
//   from multiprocessing import Process, Lock
//   from multiprocessing.sharedctypes import Value, Array
//   from ctypes import Structure, c_double
//
//   class Point(Structure):
//       _fields_ = [('x', c_double), ('y', c_double)]
//
//   def modify(n, x, s, A):
//       n.value **= 2
//       x.value **= 2
//       s.value = s.value.upper()
//       for a in A:
//           a.x **= 2
//           a.y **= 2
//
//   if __name__ == '__main__':
//       lock = Lock()
//
//       n = Value('i', 7)
//       x = Value(c_double, 1.0/3.0, lock=False)
//       s = Array('c', 'hello world', lock=lock)
//       A = Array(Point, [(1.875,-6.25), (-5.75,2.0), (2.375,9.5)], lock=lock)
//
//       p = Process(target=modify, args=(n, x, s, A))
//       p.start()
//       p.join()
//
//       print(n.value)
//       print(x.value)
//       print(s.value)
//       print([(a.x, a.y) for a in A])
//
// The ctypes Structure becomes a plain struct (any trivially copyable type
// will do). s and A share one Lock, as in Python; x has none.
#include <cctype>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include <mproc/mproc.hpp>

namespace mp = mproc;

struct Point {
    double x, y;
};

auto square(auto v) {
    return v * v;
}

void modify(mp::Value<int> n, mp::Value<double> x, mp::Array<char> s, mp::Array<Point> A) {
    n = square(n.value());  // n.value **= 2
    x = square(x.value());
    auto upper = s.value();  // s.value = s.value.upper()
    for (char& c : upper) c = char(std::toupper(static_cast<unsigned char>(c)));
    s.set_value(upper);
    // a.x **= 2; a.y **= 2, each element under the shared lock
    for (auto a : A) a.update([](Point p) { return Point{square(p.x), square(p.y)}; });
}

// Python's repr of a float: the shortest digits that read back the same
// (fmt's "{}"), with ".0" on whole numbers.
std::string repr(double v) {
    auto s = fmt::format("{}", v);
    if (s.find_first_of(".en") == std::string::npos) s += ".0";
    return s;
}

int main(int argc, char** argv) {
    mp::freeze_support(argc, argv);
    mp::Lock lock;

    mp::Value n(mp::typecode<'i'>, 7);
    mp::Value x(mp::c_double, 1.0 / 3.0, false);
    mp::Array<char> s(std::string_view("hello world"), lock);
    mp::Array<Point> A({{1.875, -6.25}, {-5.75, 2.0}, {2.375, 9.5}}, lock);

    mp::Process p(modify, n, x, s, A);
    p.start();
    p.join();

    fmt::print("{}\n", n.value());
    fmt::print("{}\n", repr(x.value()));
    fmt::print("{}\n", s.value());
    std::vector<std::string> points;
    for (Point a : A) points.push_back(fmt::format("({}, {})", repr(a.x), repr(a.y)));
    fmt::print("[{}]\n", fmt::join(points, ", "));
}
