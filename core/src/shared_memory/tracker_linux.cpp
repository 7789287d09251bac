// The watcher: removes tracked segments whose users all died without
// closing them (SIGKILL, crash, _exit). One per program (a fork child
// shares its parent's), started at the first tracked create or attach, in a
// session of its own (a signal to the program's process group spares it).
// It is told each segment's name and inode through a ring in shared memory
// (or, from fork children, over the SOCK_SEQPACKET socket that links it to
// the program), keeps a read-only open file of each (no lock), and every
// 100 ms tries
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

#include <atomic>
#include <cerrno>
#include <cstring>
#include <new>
#include <string_view>

#include <fmt/format.h>

#include <mproc/errors.hpp>

#include "base/fork_guard.hpp"
#include "shared_memory/segment.hpp"

namespace mproc::shared_memory::detail {

namespace {

constexpr int check_interval_ms = 100;
constexpr std::size_t name_max = 255;

// Segments to watch, from the program that started the watcher, without a
// system call or a wakeup: a single-producer ring in memory the two share
// (MAP_SHARED before the clone). The watcher drains it every 100 ms, and
// when the program, at half full, sends it a wake-up ("d"). A record whose
// segment the program removed itself before the watcher read it is
// cancelled (ino 0), so a program that makes and removes many blocks costs
// the watcher nothing. Fork children of the program, and the program when
// the ring is full, send a message on the socket instead.
struct Record {
    std::atomic<std::uint64_t> ino;
    std::uint32_t len;
    char name[name_max + 1];
};
constexpr std::size_t ring_capacity = 256;
struct Ring {
    alignas(64) std::atomic<std::uint64_t> head;  // written by the program
    alignas(64) std::atomic<std::uint64_t> tail;  // written by the watcher
    Record records[ring_capacity];
};

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

void add(Table& t, std::uint64_t ino, const char* name, std::size_t len) {
    if (!valid_name(name, len)) return;
    for (std::size_t k = 0; k < t.n; ++k)
        if (t.e[k].ino == ino) return;  // already watched
    if (t.n == t.cap && !grow(t)) return;
    Entry& e = t.e[t.n];
    std::memcpy(e.name, name, len);
    e.name[len] = '\0';
    char path[sizeof "/dev/shm/" + name_max];
    copy_path(path, e.name);
    int fd = ::open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) return;  // gone already
    struct stat st;
    if (::fstat(fd, &st) != 0 || std::uint64_t(st.st_ino) != ino || !(st.st_mode & S_ISVTX)) {
        ::close(fd);
        return;
    }
    e.ino = ino;
    e.fd = fd;
    ++t.n;
}

// A message: "<inode> <name>" (anything else, as the wake-up "d", only
// wakes the watcher to drain the ring).
void add_message(Table& t, const char* msg, std::size_t len) {
    std::uint64_t ino = 0;
    std::size_t i = 0;
    while (i < len && msg[i] >= '0' && msg[i] <= '9')
        ino = ino * 10 + std::uint64_t(msg[i++] - '0');
    if (i == 0 || i >= len || msg[i] != ' ') return;
    ++i;
    add(t, ino, msg + i, len - i);
}

void drain(Table& t, Ring* ring) {
    std::uint64_t tail = ring->tail.load(std::memory_order_relaxed);
    std::uint64_t head = ring->head.load(std::memory_order_acquire);
    for (; tail != head; ++tail) {
        const Record& r = ring->records[tail % ring_capacity];
        std::uint64_t ino = r.ino.load(std::memory_order_relaxed);
        if (ino != 0 && r.len <= name_max) add(t, ino, r.name, r.len);
    }
    ring->tail.store(tail, std::memory_order_release);
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

[[noreturn]] void watcher_main(int sock, Ring* ring) {
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
        drain(t, ring);
        if (eof && t.n == 0) ::_exit(0);
        if (!eof) {
            pollfd p{3, POLLIN, 0};
            if (::poll(&p, 1, check_interval_ms) > 0) {
                char msg[32 + name_max];
                ssize_t k = ::recv(3, msg, sizeof msg, MSG_DONTWAIT);
                if (k > 0) {
                    add_message(t, msg, std::size_t(k));
                } else if (k == 0 || (errno != EAGAIN && errno != EINTR)) {
                    eof = true;  // the program and its fork children are gone
                    drain(t, ring);
                    check_all(t);
                    last_check = now_ms();
                }
            }
        } else {
            timespec ts{0, check_interval_ms * 1000000L};
            ::nanosleep(&ts, nullptr);
        }
        if (now_ms() - last_check >= check_interval_ms) {
            drain(t, ring);
            check_all(t);
            last_check = now_ms();
        }
    }
}

// ---- the program's side ----

struct Link {
    int fd = -1;
    pid_t owner = -1;         // fork_generation() of the process that made or checked fd
    std::uint64_t ino = 0;    // of the socket, to recognise it in a fork child
    Ring* ring = nullptr;     // shared with the watcher
    pid_t starter = -1;       // the same for the process that started the watcher, the
                              // ring's only writer
    unsigned long epoch = 0;  // counts the watchers started: which ring a ticket is of
    long last_alive_check = 0;
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
    void* mem =
        ::mmap(nullptr, sizeof(Ring), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
        int err = errno;
        ::close(sv[0]);
        ::close(sv[1]);
        throw ProcessError(
            fmt::format("shared memory watcher: mmap failed: {}", std::strerror(err)));
    }
    Ring* ring = new (mem) Ring{};
    long mid = raw_fork();
    if (mid == 0) {
        // Double fork: the watcher is no child of ours (no zombie to reap).
        long w = raw_fork();
        if (w == 0) watcher_main(sv[0], ring);
        ::syscall(SYS_exit_group, w < 0 ? 1 : 0);
    }
    int err = errno;
    ::close(sv[0]);
    auto give_up = [&](const std::string& why) {
        ::close(sv[1]);
        ::munmap(mem, sizeof(Ring));
        throw ProcessError("shared memory watcher: " + why);
    };
    if (mid < 0) give_up(fmt::format("fork failed: {}", std::strerror(err)));
    int status = 0;
    while (::waitpid(pid_t(mid), &status, 0) < 0 && errno == EINTR) {
    }
    // Wait until the watcher has let go of the segments it inherited.
    char ready = 0;
    ssize_t n;
    do n = ::recv(sv[1], &ready, 1, 0);
    while (n < 0 && errno == EINTR);
    if (n != 1) give_up("it ended as it started");
    struct stat st;
    ::fstat(sv[1], &st);
    if (link.ring) ::munmap(link.ring, sizeof(Ring));  // a dead watcher's
    link.fd = sv[1];
    link.owner = pid_t(mproc::detail::fork_generation());
    link.ino = std::uint64_t(st.st_ino);
    link.ring = ring;
    link.starter = link.owner;
    ++link.epoch;
    link.last_alive_check = now_ms();
}

// The link to a live watcher: ours, the one inherited from a fork parent,
// or a new one.
void ensure_watcher() {
    pid_t self = pid_t(mproc::detail::fork_generation());  // cheaper than getpid()
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

void watch_segment(Mapping& m) {
    const std::string& name = m.name;
    const std::uint64_t ino = m.seg.ino;
    std::lock_guard g(link_mutex());
    ensure_watcher();
    if (link.ring && link.starter == link.owner) {
        // Is the watcher still there? (A killed one is replaced; checked
        // at most every 100 ms: a recv that peeks.)
        long now = now_ms();
        if (now - link.last_alive_check >= check_interval_ms) {
            link.last_alive_check = now;
            char c;
            if (::recv(link.fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0) {
                ::close(link.fd);
                link.fd = -1;
                ensure_watcher();
            }
        }
        Ring* ring = link.ring;
        std::uint64_t head = ring->head.load(std::memory_order_relaxed);
        std::uint64_t tail = ring->tail.load(std::memory_order_acquire);
        if (head - tail < ring_capacity) {
            Record& r = ring->records[head % ring_capacity];
            r.ino.store(ino, std::memory_order_relaxed);
            r.len = std::uint32_t(name.size());
            std::memcpy(r.name, name.data(), name.size());
            ring->head.store(head + 1, std::memory_order_release);
            m.ticket = WatchTicket{link.epoch, head};
            if (head + 1 - tail == ring_capacity / 2)
                ::send(link.fd, "d", 1, MSG_NOSIGNAL | MSG_DONTWAIT);  // drain, please
            return;
        }
    }
    std::string msg = fmt::format("{} {}", ino, name);
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

void unwatch_segment(const WatchTicket& ticket) noexcept {
    if (ticket.epoch == 0) return;
    std::lock_guard g(link_mutex());
    if (ticket.epoch != link.epoch || !link.ring ||
        link.starter != pid_t(mproc::detail::fork_generation()))
        return;
    Ring* ring = link.ring;
    // Not read yet: the slot still holds our record (only we write slots,
    // and not this one before the watcher has passed it).
    if (ticket.seq < ring->tail.load(std::memory_order_acquire)) return;
    ring->records[ticket.seq % ring_capacity].ino.store(0, std::memory_order_relaxed);
}

}  // namespace mproc::shared_memory::detail
