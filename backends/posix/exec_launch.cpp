#include "exec_launch.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include <boost/dll/runtime_symbol_info.hpp>

#include <mproc/plugin/fd_connection.hpp>

extern char** environ;

namespace mproc::posix {

namespace {

[[noreturn]] void fail(int err, const char* what) {
    throw std::system_error(err, std::generic_category(), what);
}

// Closes the temporary descriptors and destroys the spawn objects.
struct SpawnScratch {
    std::vector<int> temps;
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    SpawnScratch() {
        posix_spawn_file_actions_init(&actions);
        posix_spawnattr_init(&attr);
    }
    ~SpawnScratch() {
        for (int fd : temps) ::close(fd);
        posix_spawn_file_actions_destroy(&actions);
        posix_spawnattr_destroy(&attr);
    }
};

}  // namespace

pid_t spawn_program(const std::vector<std::string>& extra_args, std::span<const int> pass) {
    // Children start with SIGPIPE ignored, as their connections will want.
    plugin::ignore_sigpipe_once();
    SpawnScratch s;
    // Move every passed fd above the target range first, so that placing one
    // at 3 + i can never overwrite another still to be placed.
    const int first_target = 3;
    const int above = first_target + int(pass.size());
    for (int fd : pass) {
        int t = ::fcntl(fd, F_DUPFD_CLOEXEC, above);
        if (t < 0) fail(errno, "fcntl(F_DUPFD_CLOEXEC)");
        s.temps.push_back(t);
    }
    int rc = posix_spawn_file_actions_addopen(&s.actions, 0, "/dev/null", O_RDONLY, 0);
    for (std::size_t i = 0; rc == 0 && i < s.temps.size(); ++i)
        rc = posix_spawn_file_actions_adddup2(&s.actions, s.temps[i], first_target + int(i));
    if (rc == 0) rc = posix_spawn_file_actions_addclosefrom_np(&s.actions, above);
    if (rc != 0) fail(rc, "posix_spawn_file_actions");
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&s.attr, &none);
    posix_spawnattr_setflags(&s.attr, POSIX_SPAWN_SETSIGMASK);

    std::string program = plugin::child_executable();
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
    std::string plugin_path = "MPROC_PLUGIN_PATH=" + plugin::child_plugin_path();
    std::vector<char*> envp;
    for (char** e = environ; *e; ++e)
        if (std::strncmp(*e, "MPROC_PLUGIN_PATH=", 18) != 0) envp.push_back(*e);
    envp.push_back(marker.data());
    envp.push_back(plugin_path.data());
    envp.push_back(nullptr);

    pid_t pid = 0;
    rc = posix_spawn(&pid, program.c_str(), &s.actions, &s.attr, argv.data(), envp.data());
    if (rc != 0) fail(rc, ("posix_spawn of " + program).c_str());
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
