// Named segments over POSIX shm_open (/dev/shm/<name>), and the user locks
// that decide when a tracked one is removed (docs/shared_memory.md):
//
// - every mproc process that has a tracked segment open holds flock(LOCK_SH)
//   on its own open file of it; the kernel drops the lock when the last
//   reference to that open file goes (close and munmap, or death, even by
//   SIGKILL; a fork child that inherited the fd and the mapping keeps it);
// - a tracked segment is marked by the sticky bit in its mode, set by the
//   creator only once it holds its lock: a segment made by Python or with
//   track=false is never removed by mproc;
// - whoever can take LOCK_EX on a fresh open file of a marked segment knows
//   that nobody holds it, and removes the name: close() does that after
//   dropping its own lock, the watcher (tracker_linux.cpp) when users died.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include <fmt/format.h>

#include <mproc/errors.hpp>

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

std::string generated_name() {
    unsigned char r[8];
    std::size_t got = 0;
    while (got < sizeof r) {
        ssize_t n = ::getrandom(r + got, sizeof r - got, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw ProcessError(fmt::format("getrandom failed: {}", std::strerror(errno)));
        }
        got += std::size_t(n);
    }
    std::string out = "mproc_";
    for (unsigned char c : r) out += fmt::format("{:02x}", c);
    return out;
}

Segment create_segment(std::string& name, std::size_t size, bool track) {
    const bool generate = name.empty();
    int fd = -1;
    for (;;) {
        if (generate) name = generated_name();
        fd = ::shm_open(shm_path(name).c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, plain_mode);
        if (fd >= 0) break;
        if (errno == EEXIST && generate) continue;
        fail(errno, "shm_open", name);
    }
    auto undo = [&](int err, const char* what) {
        ::shm_unlink(shm_path(name).c_str());
        ::close(fd);
        fail(err, what, name);
    };
    // The lock before the mark: a marked segment always has a user until
    // its creator closes it, so no remover can take it in between.
    if (track && !lock_shared(fd)) undo(errno ? errno : EWOULDBLOCK, "flock");
    if (::ftruncate(fd, off_t(size)) != 0) undo(errno, "ftruncate");
    if (track && ::fchmod(fd, tracked_mode) != 0) undo(errno, "fchmod");
    struct stat st;
    if (::fstat(fd, &st) != 0) undo(errno, "fstat");
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) undo(errno, "mmap");
    Segment s;
    s.addr = static_cast<std::byte*>(p);
    s.size = size;
    s.fd = fd;
    s.ino = std::uint64_t(st.st_ino);
    s.tracked = track;
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
    if (::fstat(fd, &st) != 0) undo(errno, "fstat");
    const bool tracked = track && (st.st_mode & S_ISVTX) != 0;
    if (tracked) {
        if (!lock_shared(fd)) undo(errno ? errno : EWOULDBLOCK, "flock");
        // Its last user may have removed it between our open and our lock.
        if (::fstat(fd, &st) != 0) undo(errno, "fstat");
        if (st.st_nlink == 0) {
            ::close(fd);
            throw FileNotFoundError(fmt::format(
                "no shared memory block named '{}' (its last user had just closed it)", name));
        }
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
    try {
        s.addr = map(fd, s.size, name);
    } catch (...) {
        ::close(fd);
        throw;
    }
    return s;
}

bool close_segment(Segment& s, const std::string& name) noexcept {
    if (s.addr) ::munmap(s.addr, s.size);
    if (s.fd >= 0) ::close(s.fd);
    s.addr = nullptr;
    s.fd = -1;
    if (!s.tracked) return false;
    s.tracked = false;
    // Our lock is gone with our open file (unless a fork child shares it:
    // then it is still a user). A fresh open file that gets LOCK_EX proves
    // that no process holds the segment.
    int fd = ::shm_open(shm_path(name).c_str(), O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) return false;
    bool removed = false;
    struct stat st;
    if (::fstat(fd, &st) == 0 && std::uint64_t(st.st_ino) == s.ino &&
        ::flock(fd, LOCK_EX | LOCK_NB) == 0 && ::fstat(fd, &st) == 0 && st.st_nlink > 0)
        removed = ::shm_unlink(shm_path(name).c_str()) == 0;
    ::close(fd);
    return removed;
}

void unlink_segment(const std::string& name) {
    if (::shm_unlink(shm_path(name).c_str()) != 0) fail(errno, "shm_unlink", name);
}

}  // namespace mproc::shared_memory::detail
