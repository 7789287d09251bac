// The watcher: removes tracked segments whose users all died without
// closing them (SIGKILL, crash, _exit). One per program (a fork child
// shares its parent's), started at the first tracked create or attach, in a
// session of its own (a signal to the program's process group spares it).
// It is told each segment's name and inode over a SOCK_SEQPACKET socket,
// keeps a read-only open file of each (no lock), and every 100 ms tries
// LOCK_EX on it: success means no process holds the segment (every user
// holds LOCK_SH for as long as it has it mapped: segment_linux.cpp), so it
// removes the name. It forgets a segment once the segment is unlinked, and
// exits once the program and every process sharing the socket have ended
// and it watches nothing. At start it also sweeps /dev/shm for marked
// (sticky) segments of this user that nobody holds: what a killed watcher
// left.
//
// The watcher is started with a raw clone (no fork handlers: the caller
// holds the tracker mutex) from a program that may have threads, so it runs
// async-signal-safe system calls only: no malloc, no stdio, no locks.
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include <fmt/format.h>

#include <mproc/errors.hpp>

#include "base/fork_guard.hpp"
#include "shared_memory/segment.hpp"

namespace mproc::shared_memory::detail {

namespace {

constexpr int check_interval_ms = 100;
constexpr std::size_t name_max = 255;

// ---- the watcher process (async-signal-safe code only) ----

struct Entry {
    std::uint64_t ino;
    int fd;
    char name[name_max + 1];
};

struct Table {
    Entry* e = nullptr;
    std::size_t n = 0;
    std::size_t cap = 0;
};

void copy_path(char* out, const char* name) {  // "/dev/shm/" + name
    const char prefix[] = "/dev/shm/";
    std::memcpy(out, prefix, sizeof prefix - 1);
    std::size_t len = std::strlen(name);
    std::memcpy(out + sizeof prefix - 1, name, len + 1);
}

bool grow(Table& t) {
    std::size_t cap = t.cap ? t.cap * 2 : 64;
    void* p = ::mmap(nullptr, cap * sizeof(Entry), PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return false;
    if (t.e) {
        std::memcpy(p, t.e, t.n * sizeof(Entry));
        ::munmap(t.e, t.cap * sizeof(Entry));
    }
    t.e = static_cast<Entry*>(p);
    t.cap = cap;
    return true;
}

// Removes the name if nobody holds the segment open through mproc.
// Returns true when the entry is done with (removed, or gone already).
bool try_remove(int fd, std::uint64_t ino, const char* name) {
    struct stat st;
    if (::fstat(fd, &st) != 0 || st.st_nlink == 0) return true;  // unlinked by someone
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) return false;       // in use
    char path[sizeof "/dev/shm/" + name_max];
    copy_path(path, name);
    struct stat byname;
    if (::fstat(fd, &st) == 0 && st.st_nlink > 0 && ::stat(path, &byname) == 0 &&
        std::uint64_t(byname.st_ino) == ino)
        ::unlink(path);
    return true;
}

void check_all(Table& t) {
    for (std::size_t i = 0; i < t.n;) {
        Entry& e = t.e[i];
        if (try_remove(e.fd, e.ino, e.name)) {
            ::close(e.fd);
            t.e[i] = t.e[--t.n];
        } else {
            ++i;
        }
    }
}

bool valid_name(const char* s, std::size_t len) {
    if (len == 0 || len > name_max) return false;
    for (std::size_t i = 0; i < len; ++i)
        if (s[i] == '/' || s[i] == '\0') return false;
    return !(len == 1 && s[0] == '.') && !(len == 2 && s[0] == '.' && s[1] == '.');
}

// A message: "<inode> <name>".
void add(Table& t, const char* msg, std::size_t len) {
    std::uint64_t ino = 0;
    std::size_t i = 0;
    while (i < len && msg[i] >= '0' && msg[i] <= '9')
        ino = ino * 10 + std::uint64_t(msg[i++] - '0');
    if (i == 0 || i >= len || msg[i] != ' ') return;
    ++i;
    if (!valid_name(msg + i, len - i)) return;
    for (std::size_t k = 0; k < t.n; ++k)
        if (t.e[k].ino == ino) return;  // already watched
    if (t.n == t.cap && !grow(t)) return;
    Entry& e = t.e[t.n];
    std::memcpy(e.name, msg + i, len - i);
    e.name[len - i] = '\0';
    char path[sizeof "/dev/shm/" + name_max];
    copy_path(path, e.name);
    int fd = ::open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) return;
    struct stat st;
    if (::fstat(fd, &st) != 0 || std::uint64_t(st.st_ino) != ino || !(st.st_mode & S_ISVTX)) {
        ::close(fd);
        return;
    }
    e.ino = ino;
    e.fd = fd;
    ++t.n;
}

// Marked segments of this user that nobody holds: left by a killed watcher.
void sweep() {
    int dir = ::open("/dev/shm", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) return;
    alignas(8) char buf[8192];
    const uid_t uid = ::geteuid();
    for (;;) {
        long n = ::syscall(SYS_getdents64, dir, buf, sizeof buf);
        if (n <= 0) break;
        for (long off = 0; off < n;) {
            struct Dirent64 {
                std::uint64_t d_ino;
                std::int64_t d_off;
                unsigned short d_reclen;
                unsigned char d_type;
                char d_name[1];
            };
            auto* d = reinterpret_cast<Dirent64*>(buf + off);
            off += d->d_reclen;
            if (d->d_type != DT_REG && d->d_type != DT_UNKNOWN) continue;
            struct stat st;
            if (::fstatat(dir, d->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
            if (!S_ISREG(st.st_mode) || !(st.st_mode & S_ISVTX) || st.st_uid != uid) continue;
            int fd = ::openat(dir, d->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
            if (fd < 0) continue;
            if (std::strlen(d->d_name) <= name_max)
                try_remove(fd, std::uint64_t(st.st_ino), d->d_name);
            ::close(fd);
        }
    }
    ::close(dir);
}

// The watcher is a copy of its program: the /dev/shm segments the program
// had mapped are mapped here too, and would count as users for ever.
void unmap_inherited_segments() {
    std::size_t cap = 1 << 16, len = 0;
    void* mem = ::mmap(nullptr, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) return;
    char* buf = static_cast<char*>(mem);
    int fd = ::open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    for (;;) {
        if (len == cap) {
            void* bigger = ::mremap(buf, cap, cap * 2, MREMAP_MAYMOVE);
            if (bigger == MAP_FAILED) break;
            buf = static_cast<char*>(bigger);
            cap *= 2;
        }
        ssize_t n = ::read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        len += std::size_t(n);
    }
    ::close(fd);
    // Lines: "start-end perms offset dev inode   path".
    const char shm[] = " /dev/shm/";
    for (std::size_t i = 0; i < len;) {
        std::size_t end = i;
        while (end < len && buf[end] != '\n') ++end;
        std::string_view line(buf + i, end - i);
        if (line.find(shm) != std::string_view::npos) {
            unsigned long start = 0, stop = 0;
            std::size_t k = 0;
            auto hex = [&](unsigned long& v) {
                for (; k < line.size(); ++k) {
                    char c = line[k];
                    int d = c >= '0' && c <= '9'   ? c - '0'
                            : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                                   : -1;
                    if (d < 0) break;
                    v = v * 16 + unsigned(d);
                }
            };
            hex(start);
            if (k < line.size() && line[k] == '-') {
                ++k;
                hex(stop);
                if (stop > start) ::munmap(reinterpret_cast<void*>(start), stop - start);
            }
        }
        i = end + 1;
    }
    ::munmap(buf, cap);
}

long now_ms() {
    timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return long(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

[[noreturn]] void watcher_main(int sock) {
    ::prctl(PR_SET_NAME, "mproc-shmwatch");
    ::setsid();
    sigset_t all;
    sigfillset(&all);
    ::sigprocmask(SIG_SETMASK, &all, nullptr);  // only SIGKILL ends it
    int nul = ::open("/dev/null", O_RDWR);
    for (int i = 0; i < 3; ++i)
        if (i != sock) ::dup2(nul, i);
    if (sock != 3) ::dup2(sock, 3);
    if (::syscall(SYS_close_range, 4U, ~0U, 0U) != 0)
        for (int fd = 4; fd < 65536; ++fd) ::close(fd);
    ::chdir("/");
    unmap_inherited_segments();
    // Ready: the program may count on our not holding its segments now.
    ::send(3, "r", 1, MSG_NOSIGNAL);
    rlimit rl;
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;  // one fd per watched segment
        ::setrlimit(RLIMIT_NOFILE, &rl);
    }
    sweep();
    Table t;
    bool eof = false;
    long last_check = now_ms();
    for (;;) {
        if (eof && t.n == 0) ::_exit(0);
        int timeout = t.n ? check_interval_ms : -1;
        if (!eof) {
            pollfd p{3, POLLIN, 0};
            int r = ::poll(&p, 1, timeout);
            if (r > 0) {
                char msg[32 + name_max];
                ssize_t k = ::recv(3, msg, sizeof msg, MSG_DONTWAIT);
                if (k > 0)
                    add(t, msg, std::size_t(k));
                else if (k == 0 || (errno != EAGAIN && errno != EINTR)) {
                    eof = true;
                    check_all(t);
                    last_check = now_ms();
                }
            }
        } else {
            timespec ts{0, check_interval_ms * 1000000L};
            ::nanosleep(&ts, nullptr);
        }
        if (now_ms() - last_check >= check_interval_ms) {
            check_all(t);
            last_check = now_ms();
        }
    }
}

// ---- the program's side ----

struct Link {
    int fd = -1;
    pid_t owner = 0;        // the process that made or checked fd
    std::uint64_t ino = 0;  // of the socket, to recognise it in a fork child
};

Link link;

mproc::detail::ForkGuardedMutex& link_mutex() {
    static auto* m = new mproc::detail::ForkGuardedMutex;  // leaked: used until exit
    return *m;
}

long raw_fork() {
    return ::syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
}

void start_watcher() {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
        throw ProcessError(
            fmt::format("shared memory watcher: socketpair failed: {}", std::strerror(errno)));
    long mid = raw_fork();
    if (mid == 0) {
        // Double fork: the watcher is no child of ours (no zombie to reap).
        long w = raw_fork();
        if (w == 0) watcher_main(sv[0]);
        ::syscall(SYS_exit_group, w < 0 ? 1 : 0);
    }
    int err = errno;
    ::close(sv[0]);
    if (mid < 0) {
        ::close(sv[1]);
        throw ProcessError(
            fmt::format("shared memory watcher: fork failed: {}", std::strerror(err)));
    }
    int status = 0;
    while (::waitpid(pid_t(mid), &status, 0) < 0 && errno == EINTR) {
    }
    // Wait until the watcher has let go of the segments it inherited.
    char ready = 0;
    ssize_t n;
    do n = ::recv(sv[1], &ready, 1, 0);
    while (n < 0 && errno == EINTR);
    if (n != 1) {
        ::close(sv[1]);
        throw ProcessError("shared memory watcher: it ended as it started");
    }
    struct stat st;
    ::fstat(sv[1], &st);
    link.fd = sv[1];
    link.owner = ::getpid();
    link.ino = std::uint64_t(st.st_ino);
}

// The link to a live watcher: ours, the one inherited from a fork parent,
// or a new one.
void ensure_watcher() {
    pid_t self = ::getpid();
    if (link.fd >= 0 && link.owner != self) {
        struct stat st;
        if (::fstat(link.fd, &st) == 0 && S_ISSOCK(st.st_mode) &&
            std::uint64_t(st.st_ino) == link.ino)
            link.owner = self;  // inherited across fork: share the parent's watcher
        else
            link.fd = -1;  // closed in this child, maybe reused: not ours
    }
    if (link.fd < 0) start_watcher();
}

}  // namespace

void watch_segment(const std::string& name, std::uint64_t ino) {
    std::string msg = fmt::format("{} {}", ino, name);
    std::lock_guard g(link_mutex());
    for (int attempt = 0; attempt < 2; ++attempt) {
        ensure_watcher();
        ssize_t n;
        do n = ::send(link.fd, msg.data(), msg.size(), MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        if (n == ssize_t(msg.size())) return;
        ::close(link.fd);  // the watcher was killed: start another
        link.fd = -1;
    }
    throw ProcessError("shared memory watcher: cannot reach it");
}

}  // namespace mproc::shared_memory::detail
