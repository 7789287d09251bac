// The docs' "Server process" example: a manager's dict and list, changed by
// a child process through their proxies.
//
//   from multiprocessing import Process, Manager
//   def f(d, l):
//       d[1] = '1'; d['2'] = 2; d[0.25] = None
//       l.reverse()
//   with Manager() as manager:
//       d = manager.dict(); l = manager.list(range(10))
//       p = Process(target=f, args=(d, l)); p.start(); p.join()
//       print(d); print(l)
//
// Python 3.7+ prints the dict in insertion order, {1: '1', '2': 2, 0.25: None},
// as here (the docs' {0.25: None, 1: '1', '2': 2} is Python 2's hash order).
#include <ranges>

#include <fmt/core.h>

#include <mproc/managers.hpp>
#include <mproc/mproc.hpp>

namespace mp = mproc;

void f(mp::DictProxy d, mp::ListProxy l) {
    d[1] = "1";
    d["2"] = 2;
    d[0.25] = mp::None;
    l.reverse();
}

int main(int argc, char** argv) {
    mp::freeze_support(argc, argv);
    auto manager = mp::Manager();
    auto d = manager.dict();
    auto l = manager.list(std::views::iota(0, 10));
    mp::Process p(f, d, l);
    p.start();
    p.join();
    fmt::print("{}\n", d);
    fmt::print("{}\n", l);
}
