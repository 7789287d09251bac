// freeze_support: where a program started by spawn or forkserver becomes the
// child (or the forkserver's server) instead of running main().
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include <boost/dll/runtime_symbol_info.hpp>

#include <mproc/context.hpp>
#include <mproc/plugin/backend.hpp>

#include "base/environment.hpp"
#include "process/exec_child.hpp"
#include "plugin/plugin_registry.hpp"
#include "process/process_state.hpp"

namespace mproc {

namespace {

bool bootstrapped = false;

// The POSIX start methods exec a child with every signal blocked, which
// spares them resetting each signal's handler first (exec_launch.cpp); the
// child unblocks them here, while libmproc loads, before main() runs.
__attribute__((constructor)) void unblock_signals_in_exec_child() {
    if (::getenv(plugin::exec_child_env) == nullptr) return;
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
}

std::vector<std::byte> read_all(int fd) {
    std::vector<std::byte> out;
    std::byte buf[65536];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        out.insert(out.end(), buf, buf + n);
    }
    return out;
}

[[noreturn]] void run_as_exec_child(int argc, char** argv) {
    int code = 1;
    if (argc >= 4) {
        int fd = std::atoi(argv[2]);
        int n = std::atoi(argv[3]);
        auto payload = read_all(fd);
        ::close(fd);
        std::vector<std::intptr_t> handles;
        for (int i = 0; i < n; ++i) handles.push_back(fd + 1 + i);
        code = detail::run_exec_child(payload, handles);
    } else {
        std::fprintf(stderr, "mproc: malformed exec child command line\n");
    }
    detail::flush_std_streams();
    ::_exit(code);
}

[[noreturn]] void run_as_helper(int argc, char** argv) {
    int code = 1;
    try {
        if (argc < 3) throw ValueError("malformed helper command line");
        code = get_context(std::string_view(argv[2])).backend().run_helper(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "mproc helper: %s\n", e.what());
    }
    detail::flush_std_streams();
    ::_exit(code);
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
    (void)!::write(2, msg, sizeof msg - 1);
    ::_exit(1);
}

}  // namespace detail

namespace plugin {

int ContextBackend::run_helper(int, char**) {
    throw ValueError(std::string("start method '") + std::string(name()) + "' has no helper mode");
}

int run_exec_child(std::span<const std::byte> payload, std::span<const NativeHandle> handles) {
    return detail::run_exec_child(payload, handles);
}

// The program's named directories, then those its plugins were found in: a
// child looks there first, and mostly nowhere else.
std::string child_plugin_path() {
    std::string out;
    for (const auto& d : detail::user_plugin_directories()) out += d.string() + ":";
    if (auto p = env::plugin_path()) out += *p + ":";
    for (const auto& d : detail::loaded_plugin_directories()) out += d.string() + ":";
    if (!out.empty() && out.back() == ':') out.pop_back();
    return out;
}

std::string child_executable() {
    auto exe = get_executable();
    if (!exe.empty()) return exe.string();
    return "/proc/self/exe";
}

}  // namespace plugin
}  // namespace mproc
