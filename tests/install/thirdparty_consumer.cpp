// A program outside the tree that uses a third-party start method
// (tests/plugins/third_party_backend.cpp), both built against an installed
// mproc's headers only: the child must run under the third party's backend
// (it marks its children through MPROC_TEST_THIRD_PARTY_CHILD), with a Lock
// from the POSIX helpers libmproc exports for such backends.
#include <cstdlib>

#include <mproc/mproc.hpp>

#include <fmt/core.h>

namespace mp = mproc;

#ifdef MPROC_TEST_LINK_PLUGIN
#include <mproc/plugins.hpp>
// Built with the plugin's source: link it in instead of loading a file.
MPROC_LINK_PLUGIN(start_method, "thirdparty")
#endif

void report(mp::Connection c, mp::Lock lock) {
    std::lock_guard g(lock);
    c.send(std::getenv("MPROC_TEST_THIRD_PARTY_CHILD") != nullptr);
}

int main(int argc, char** argv) {
    mp::freeze_support(argc, argv);
    auto ctx = mp::get_context("thirdparty");
    auto [r, w] = ctx.Pipe(false);
    auto p = ctx.Process(report, w, ctx.Lock());
    p.start();
    w.close();
    bool marked = r.recv<bool>();
    p.join();
    fmt::print("third-party child: {}\nexitcode {}\n", marked, *p.exitcode());
    return marked ? *p.exitcode() : 1;
}
