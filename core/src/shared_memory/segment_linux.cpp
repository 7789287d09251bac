// Named segments over POSIX shm_open (/dev/shm/<name>), and the user locks
// that decide when a tracked one is removed (docs/shared_memory.md):
//
// - every mproc process that has a tracked segment open holds flock(LOCK_SH)
//   on its own open file of it; the kernel drops the lock when the last
//   reference to that open file goes (close and munmap, or death, even by
//   SIGKILL; a fork child that inherited the fd and the mapping keeps it);
// - a tracked segment is marked by the sticky bit in its mode, given at
//   creation (the creator then takes its lock and checks that no sweep took
//   the segment in between): a segment made by Python or with track=false
//   is never removed by mproc;
// - whoever can take LOCK_EX on a fresh open file of a marked segment knows
//   that nobody holds it, and removes the name: close() does that (on its
//   own open file when no fork can share it, else on a fresh one after
//   dropping its own), the watcher (tracker_linux.cpp) when users died.
#include <fcntl.h>
#include <pthread.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include <mproc/errors.hpp>

#include "base/fork_guard.hpp"
#include "shared_memory/segment.hpp"

namespace mproc::shared_memory::detail {

namespace {

constexpr mode_t plain_mode = S_IRUSR | S_IWUSR;  // 0600, as Python
constexpr mode_t tracked_mode = S_ISVTX | plain_mode;

std::string shm_path(const std::string& name) {
    return "/" + name;
}

[[noreturn]] void fail(int err, const char* what, const std::string& name) {
    if (err == EEXIST)
        throw FileExistsError(fmt::format("shared memory block '{}' already exists", name));
    if (err == ENOENT)
        throw FileNotFoundError(fmt::format("no shared memory block named '{}'", name));
    throw ProcessError(
        fmt::format("shared memory block '{}': {} failed: {}", name, what, std::strerror(err)));
}

// LOCK_SH, waiting out the microseconds a remover holds LOCK_EX; false if
// someone holds LOCK_EX for more than two seconds (not mproc).
bool lock_shared(int fd) {
    auto start = std::chrono::steady_clock::now();
    for (;;) {
        if (::flock(fd, LOCK_SH | LOCK_NB) == 0) return true;
        if (errno == EINTR) continue;
        if (errno != EWOULDBLOCK) return false;
        if (std::chrono::steady_clock::now() - start > std::chrono::seconds(2)) return false;
        std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
}

std::byte* map(int fd, std::size_t size, const std::string& name) {
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) fail(errno, "mmap", name);
    return static_cast<std::byte*>(p);
}

}  // namespace

namespace {

std::atomic<unsigned long> fork_count{0};
[[maybe_unused]] const int atfork_registered =
    ::pthread_atfork([] { fork_count.fetch_add(1, std::memory_order_relaxed); }, nullptr, nullptr);

// A key from getrandom per process (re-read in each fork child), mixed with
// a counter: names cost no system call. A clash is retried (O_EXCL).
std::atomic<std::uint64_t> name_key{0};
std::atomic<unsigned> name_key_generation{~0U};
std::atomic<std::uint64_t> name_counter{0};

std::uint64_t splitmix(std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

}  // namespace

unsigned long forks_made() noexcept {
    return fork_count.load(std::memory_order_relaxed);
}

std::string generated_name() {
    unsigned gen = mproc::detail::fork_generation();
    if (name_key_generation.load(std::memory_order_acquire) != gen) {
        std::uint64_t key = 0;
        std::size_t got = 0;
        auto* p = reinterpret_cast<unsigned char*>(&key);
        while (got < sizeof key) {
            ssize_t n = ::getrandom(p + got, sizeof key - got, 0);
            if (n < 0) {
                if (errno == EINTR) continue;
                throw ProcessError(fmt::format("getrandom failed: {}", std::strerror(errno)));
            }
            got += std::size_t(n);
        }
        name_key.store(key, std::memory_order_relaxed);
        name_key_generation.store(gen, std::memory_order_release);
    }
    std::uint64_t r = splitmix(name_key.load(std::memory_order_relaxed) ^
                               splitmix(name_counter.fetch_add(1, std::memory_order_relaxed)));
    return fmt::format("mproc_{:016x}", r);
}

Segment create_segment(std::string& name, std::size_t size, bool track) {
    const bool generate = name.empty();
    int fd = -1;
    struct stat st;
    for (;;) {
        if (generate) name = generated_name();
        // A tracked segment is marked from the start: a watcher's sweep
        // could take it before we hold our lock, which the check below sees.
        fd = ::shm_open(shm_path(name).c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
                        track ? tracked_mode : plain_mode);
        if (fd < 0) {
            if (errno == EEXIST && generate) continue;
            fail(errno, "shm_open", name);
        }
        if (!track) break;
        if (!lock_shared(fd)) {
            int err = errno ? errno : EWOULDBLOCK;
            ::close(fd);
            fail(err, "flock", name);
        }
        if (::fstat(fd, &st) != 0) {
            int err = errno;
            ::close(fd);
            fail(err, "fstat", name);
        }
        if (st.st_nlink > 0) break;
        ::close(fd);  // swept in between (microseconds): make it again
    }
    auto undo = [&](int err, const char* what) {
        ::shm_unlink(shm_path(name).c_str());
        ::close(fd);
        fail(err, what, name);
    };
    if (::ftruncate(fd, off_t(size)) != 0) undo(errno, "ftruncate");
    if (!track && ::fstat(fd, &st) != 0) undo(errno, "fstat");
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) undo(errno, "mmap");
    Segment s;
    s.addr = static_cast<std::byte*>(p);
    s.size = size;
    s.fd = fd;
    s.ino = std::uint64_t(st.st_ino);
    s.tracked = track;
    s.opener = int(mproc::detail::fork_generation());
    s.forks = forks_made();
    return s;
}

Segment attach_segment(const std::string& name, bool track) {
    int fd = ::shm_open(shm_path(name).c_str(), O_RDWR | O_CLOEXEC, 0);
    if (fd < 0) fail(errno, "shm_open", name);
    struct stat st;
    auto undo = [&](int err, const char* what) {
        ::close(fd);
        fail(err, what, name);
    };
    // The lock first (harmless on an unmarked segment: only removers take
    // LOCK_EX, and only on marked ones), then one fstat says all.
    if (track && !lock_shared(fd)) undo(errno ? errno : EWOULDBLOCK, "flock");
    if (::fstat(fd, &st) != 0) undo(errno, "fstat");
    const bool tracked = track && (st.st_mode & S_ISVTX) != 0;
    if (tracked && st.st_nlink == 0) {
        // Its last user removed it between our open and our lock.
        ::close(fd);
        throw FileNotFoundError(fmt::format(
            "no shared memory block named '{}' (its last user had just closed it)", name));
    }
    if (st.st_size <= 0) {
        ::close(fd);
        throw ValueError(fmt::format("shared memory block '{}' has size 0: nothing to map", name));
    }
    Segment s;
    s.size = std::size_t(st.st_size);
    s.fd = fd;
    s.ino = std::uint64_t(st.st_ino);
    s.tracked = tracked;
    s.opener = int(mproc::detail::fork_generation());
    s.forks = forks_made();
    try {
        s.addr = map(fd, s.size, name);
    } catch (...) {
        ::close(fd);
        throw;
    }
    return s;
}

bool close_segment(Segment& s, const std::string& name) noexcept {
    bool removed = false;
    if (s.tracked && s.fd >= 0 && s.opener == int(mproc::detail::fork_generation()) &&
        s.forks == forks_made()) {
        // No fork since we opened it: our open file is ours alone, and
        // turning our lock into LOCK_EX succeeds only if no other process
        // holds the segment.
        struct stat st;
        if (::flock(s.fd, LOCK_EX | LOCK_NB) == 0 && ::fstat(s.fd, &st) == 0 && st.st_nlink > 0)
            removed = ::shm_unlink(shm_path(name).c_str()) == 0;
        s.tracked = false;
    }
    if (s.addr) ::munmap(s.addr, s.size);
    if (s.fd >= 0) ::close(s.fd);
    s.addr = nullptr;
    s.fd = -1;
    if (!s.tracked) return removed;
    s.tracked = false;
    // A fork child may share our open file (and so our lock: it is a user
    // too). A fresh open file that gets LOCK_EX proves that no process holds
    // the segment.
    int fd = ::shm_open(shm_path(name).c_str(), O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) return false;
    struct stat st;
    if (::fstat(fd, &st) == 0 && std::uint64_t(st.st_ino) == s.ino &&
        ::flock(fd, LOCK_EX | LOCK_NB) == 0 && ::fstat(fd, &st) == 0 && st.st_nlink > 0)
        removed = ::shm_unlink(shm_path(name).c_str()) == 0;
    ::close(fd);
    return removed;
}

// ---- the process's table of mappings ----

namespace {

struct Table {
    mproc::detail::ForkGuardedMutex mutex;
    std::vector<Mapping*> mappings;
};

Table& table() {
    static auto* t = new Table;  // leaked: used until exit, and in fork children
    return *t;
}

// Puts a newly opened segment in the table (closing it if that fails).
Mapping* adopt(Segment seg, const std::string& name, bool track) {
    try {
        auto m = std::make_unique<Mapping>();
        m->seg = seg;
        m->name = name;
        m->track = track;
        auto& t = table();
        std::lock_guard g(t.mutex);
        t.mappings.push_back(m.get());
        return m.release();
    } catch (...) {
        close_segment(seg, name);
        throw;
    }
}

}  // namespace

Mapping* create_mapping(std::string& name, std::size_t size, bool track) {
    return adopt(create_segment(name, size, track), name, track);
}

Mapping* attach_mapping(const std::string& name, bool track, bool& fresh) {
    auto& t = table();
    {
        std::lock_guard g(t.mutex);
        for (Mapping* m : t.mappings) {
            if (m->name != name || m->track != track) continue;
            // Does the name still name the block we hold? (We hold it open,
            // so its inode number cannot be reused meanwhile.)
            struct stat st;
            if (::stat(("/dev/shm/" + name).c_str(), &st) != 0) break;  // gone: fail below
            if (std::uint64_t(st.st_ino) != m->seg.ino) continue;
            ++m->refs;
            fresh = false;
            return m;
        }
    }
    fresh = true;
    return adopt(attach_segment(name, track), name, track);
}

void retain_mapping(Mapping* m) noexcept {
    std::lock_guard g(table().mutex);
    ++m->refs;
}

bool release_mapping(Mapping* m) noexcept {
    auto& t = table();
    {
        std::lock_guard g(t.mutex);
        if (--m->refs > 0) return false;
        std::erase(t.mappings, m);
    }
    std::unique_ptr<Mapping> owned(m);
    bool removed = close_segment(m->seg, m->name);
    if (removed) unwatch_segment(m->ticket);
    return removed;
}

void unlink_segment(const std::string& name) {
    if (::shm_unlink(shm_path(name).c_str()) != 0) fail(errno, "shm_unlink", name);
}

}  // namespace mproc::shared_memory::detail
