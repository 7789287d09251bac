// A program outside the tree, built with `pkg-config --cflags --libs mproc`
// against an installed mproc: it must find the plugins with no env var set.
#include <mproc/mproc.hpp>

#include <fmt/core.h>

namespace mp = mproc;

void greet(mp::Connection c, std::string who) {
    c.send("hello " + who);
}

int main(int argc, char** argv) {
    mp::freeze_support(argc, argv);
    auto [r, w] = mp::Pipe(false);
    mp::Process p(greet, w, std::string("installed world"));
    p.start();
    w.close();
    fmt::print("{}\n", r.recv<std::string>());
    p.join();
    fmt::print("exitcode {}\n", *p.exitcode());
    return *p.exitcode();
}
