#include "exec_launch.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <system_error>

#include <boost/dll/runtime_symbol_info.hpp>

#include <mproc/plugin/posix/fd_connection.hpp>

extern char** environ;
// glibc's clone under its own name: ThreadSanitizer intercepts clone() and,
// for a clone that shares memory, would run its fork bookkeeping in the
// child on the parent's own sanitizer state.
extern "C" int __clone(int (*fn)(void*), void* stack, int flags, void* arg, ...);

namespace mproc::posix {

namespace {

[[noreturn]] void fail(int err, const char* what) {
    throw std::system_error(err, std::generic_category(), what);
}

// Closes the temporary descriptors.
struct Temps {
    std::vector<int> fds;
    ~Temps() {
        for (int fd : fds) ::close(fd);
    }
};

// What the child reads between clone() and execve(), prepared by the parent.
struct ExecPlan {
    const char* path;
    char* const* argv;
    char* const* envp;
    const int* temps;
    int ntemps;
    int first_target;
    int above;
    int error;  // written by the child when a step fails
};

// Runs in the child on its own small stack, in the parent's memory (the
// parent waits, suspended, until execve), with every signal blocked: so it
// makes raw system calls only, and no signal handler of the parent can run
// here. glibc's posix_spawn resets every signal's handler instead, two
// system calls for each of 64 signals (about a quarter of a millisecond).
#define MPROC_CHILD_STEP(call)          \
    if (long r_ = (call); r_ < 0) {     \
        plan->error = errno;            \
        ::syscall(SYS_exit_group, 127); \
    }
__attribute__((no_sanitize_address, no_sanitize_thread, no_sanitize_undefined)) int exec_child(
    void* arg) {
    auto* plan = static_cast<ExecPlan*>(arg);
    long fd = ::syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY);
    MPROC_CHILD_STEP(fd);
    if (fd != 0) {
        MPROC_CHILD_STEP(::syscall(SYS_dup3, fd, 0, 0));
        ::syscall(SYS_close, fd);
    }
    // dup3 without O_CLOEXEC: the placed descriptors survive the exec.
    for (int i = 0; i < plan->ntemps; ++i)
        MPROC_CHILD_STEP(::syscall(SYS_dup3, plan->temps[i], plan->first_target + i, 0));
    MPROC_CHILD_STEP(::syscall(SYS_close_range, plan->above, ~0U, 0));
    MPROC_CHILD_STEP(::syscall(SYS_execve, plan->path, plan->argv, plan->envp));
    return 127;
}
#undef MPROC_CHILD_STEP

// Blocks every signal in this thread while alive (glibc's internal ones
// too, hence the raw system call), so that the child starts with all of them
// blocked; libmproc unblocks them in the new program before main() runs
// (freeze_support.cpp).
struct AllSignalsBlocked {
    std::uint64_t old = 0;
    AllSignalsBlocked() {
        std::uint64_t all = ~std::uint64_t{0};
        ::syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, &old, sizeof all);
    }
    ~AllSignalsBlocked() { ::syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, nullptr, sizeof old); }
};

}  // namespace

pid_t spawn_program(const plugin::Host& host, const std::vector<std::string>& extra_args,
                    std::span<const int> pass) {
    // Children start with SIGPIPE ignored, as their connections will want.
    plugin::ignore_sigpipe_once();
    // Move every passed fd above the target range first, so that placing one
    // at 3 + i can never overwrite another still to be placed.
    const int first_target = 3;
    const int above = first_target + int(pass.size());
    Temps temps;
    for (int fd : pass) {
        int t = ::fcntl(fd, F_DUPFD_CLOEXEC, above);
        if (t < 0) fail(errno, "fcntl(F_DUPFD_CLOEXEC)");
        temps.fds.push_back(t);
    }

    std::string program = host.child_executable();
    std::string argv0 = program;
    if (program == "/proc/self/exe") {
        boost::dll::fs::error_code ec;
        auto loc = boost::dll::program_location(ec);
        if (!ec) argv0 = loc.string();
    }
    std::vector<char*> argv{argv0.data()};
    auto args = extra_args;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    // The child finds the plugins this program found (directories added in
    // code included) and knows it is an exec child.
    std::string marker = std::string(plugin::exec_child_env) + "=1";
    std::string plugin_path = "MPROC_PLUGIN_PATH=" + host.child_plugin_path();
    std::vector<char*> envp;
    for (char** e = environ; *e; ++e)
        if (std::strncmp(*e, "MPROC_PLUGIN_PATH=", 18) != 0) envp.push_back(*e);
    envp.push_back(marker.data());
    envp.push_back(plugin_path.data());
    envp.push_back(nullptr);

    ExecPlan plan{program.c_str(),       argv.data(),  envp.data(), temps.fds.data(),
                  int(temps.fds.size()), first_target, above,       0};
    // The child's stack: it makes a few system calls and nothing else.
    alignas(64) std::array<char, 16384> stack;
    pid_t pid;
    {
        AllSignalsBlocked blocked;
        pid = ::__clone(exec_child, stack.data() + stack.size(), CLONE_VM | CLONE_VFORK | SIGCHLD,
                        &plan);
    }
    if (pid < 0) fail(errno, "clone");
    if (plan.error != 0) {  // the child has exited with 127
        ::waitpid(pid, nullptr, 0);
        fail(plan.error, ("exec of " + program).c_str());
    }
    return pid;
}

void write_all(int fd, std::span<const std::byte> buf) {
    std::size_t done = 0;
    while (done < buf.size()) {
        ssize_t n = ::write(fd, buf.data() + done, buf.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            fail(errno, "write");
        }
        done += std::size_t(n);
    }
}

}  // namespace mproc::posix
