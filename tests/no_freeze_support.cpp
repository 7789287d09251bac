// A program that forgot mproc::freeze_support(argc, argv). Starting a spawn
// child re-runs this main() in the child: the child must stop at its first
// mproc call with a message saying what to add, and start nothing (no fork
// bomb). Prints OK and exits 0 when that is what happened.
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include <mproc/mproc.hpp>

namespace mp = mproc;

void noop() {}

int main() {
    // In the child this is the first mproc call: it must stop there.
    auto ctx = mp::get_context("spawn");
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);  // grandchildren, if any, would be ours
    int err[2];
    if (::pipe(err) != 0) return 2;
    int saved = ::dup(2);
    ::dup2(err[1], 2);  // the child inherits this as its stderr
    ::close(err[1]);
    auto p = ctx.Process(noop);
    p.start();
    p.join();
    ::dup2(saved, 2);
    ::close(saved);
    std::string msg;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(err[0], buf, sizeof buf)) > 0) msg.append(buf, std::size_t(n));
    bool ok = p.exitcode() == 1 &&
              msg.find("Add\n    mproc::freeze_support(argc, argv);") != std::string::npos &&
              mp::active_children().empty();
    std::printf("%s\nexitcode: %d\nchild said: %s\n", ok ? "OK" : "FAILED", *p.exitcode(),
                msg.c_str());
    return ok ? 0 : 1;
}
