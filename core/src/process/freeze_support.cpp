// freeze_support: where a program started by spawn or forkserver becomes the
// child (or the forkserver's server) instead of running main().
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include <mproc/context.hpp>
#include <mproc/plugin/backend.hpp>
#include <mproc/plugin/exec_protocol.hpp>

#include "base/environment.hpp"
#include "base/stderr.hpp"
#include "plugin/plugin_registry.hpp"
#include "process/exec_child.hpp"
#include "process/process_state.hpp"

namespace mproc {

namespace {

bool bootstrapped = false;

[[noreturn]] void run_as_exec_child(int argc, char** argv) {
    int code = 1;
    if (auto boot = detail::read_exec_bootstrap(argc, argv)) {
        code = detail::run_exec_child(boot->payload, boot->handles);
    } else {
        std::fprintf(stderr, "mproc: malformed exec child command line\n");
    }
    detail::end_process(code);
}

[[noreturn]] void run_as_helper(int argc, char** argv) {
    int code = 1;
    try {
        if (argc < 3) throw ValueError("malformed helper command line");
        code = get_context(std::string_view(argv[2])).backend().run_helper(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "mproc helper: %s\n", e.what());
    }
    detail::end_process(code);
}

}  // namespace

void freeze_support(int argc, char** argv) {
    bool child = argc >= 2 && std::strcmp(argv[1], plugin::exec_child_flag) == 0;
    bool helper = argc >= 2 && std::strcmp(argv[1], plugin::helper_flag) == 0;
    bootstrapped = true;
    if (!child && !helper) return;
    env::clear_exec_child();
    if (child) run_as_exec_child(argc, argv);
    run_as_helper(argc, argv);
}

namespace detail {

void check_bootstrapped() {
    if (bootstrapped || !env::exec_child()) return;
    static const char msg[] =
        "mproc: this program was started as a child by the spawn or forkserver start method, "
        "but it used mproc before mproc::freeze_support(argc, argv) ran. Add\n"
        "    mproc::freeze_support(argc, argv);\n"
        "as the first line of main() (and start no processes before it).\n";
    detail::write_to_stderr(msg);
    detail::end_process(1);
}

}  // namespace detail

}  // namespace mproc
