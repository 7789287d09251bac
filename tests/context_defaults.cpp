// A fresh process's default start method: unset until used, fixed by the
// first use (MPROC_START_METHOD, else fork), then set_start_method needs
// force. Run by meson twice: with and without MPROC_START_METHOD. Exits 0 on
// success and prints what failed otherwise.
#include <cstdio>
#include <cstdlib>
#include <string>

#include <mproc/mproc.hpp>

namespace mp = mproc;

static int failures = 0;
static void check(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "FAILED: %s\n", what);
        ++failures;
    }
}

int main(int argc, char** argv) {
    mp::freeze_support(argc, argv);
    const char* env = std::getenv("MPROC_START_METHOD");
    std::string expected = env ? env : "fork";
    check(!mp::get_start_method(true).has_value(),
          "get_start_method(allow_none) is unset at first");
    check(mp::get_all_start_methods().front() == expected, "the default comes first");
    check(!mp::get_start_method(true).has_value(), "listing the methods does not fix the default");
    check(mp::get_start_method() == expected, "get_start_method() fixes the default");
    check(mp::get_context().get_start_method() == expected, "get_context() is the default");
    try {
        mp::set_start_method("fork");
        check(false, "set_start_method after use without force throws");
    } catch (const mp::ValueError&) {
    }
    mp::set_start_method("fork", true);
    check(mp::get_start_method() == "fork", "set_start_method with force");
    std::printf("%s\n", failures ? "FAILED" : "OK");
    return failures ? 1 : 0;
}
