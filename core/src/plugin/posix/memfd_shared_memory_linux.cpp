// memfd shared memory (see memfd_shared_memory.hpp).
#include <mproc/plugin/posix/memfd_shared_memory.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include <fmt/format.h>

#include <mproc/errors.hpp>

namespace mproc::posix {
namespace {

class MemfdSharedMemory final : public plugin::SharedMemoryImpl {
  public:
    MemfdSharedMemory(int fd, void* data, std::size_t size) : fd_(fd), data_(data), size_(size) {
        struct stat st {};
        if (::fstat(fd, &st) == 0) id_ = {std::uint64_t(st.st_dev), std::uint64_t(st.st_ino)};
    }
    ~MemfdSharedMemory() override {
        ::munmap(data_, size_);
        ::close(fd_);
    }
    std::span<std::byte> data() const override { return {static_cast<std::byte*>(data_), size_}; }
    plugin::NativeHandle native_handle() const override { return fd_; }
    std::pair<std::uint64_t, std::uint64_t> identity() const override { return id_; }

  private:
    int fd_;
    void* data_;
    std::size_t size_;
    std::pair<std::uint64_t, std::uint64_t> id_{};
};

std::unique_ptr<plugin::SharedMemoryImpl> map(int fd, std::size_t size) {
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        int e = errno;
        ::close(fd);
        throw std::system_error(e, std::generic_category(), "mmap of shared memory");
    }
    return std::make_unique<MemfdSharedMemory>(fd, p, size);
}

}  // namespace

std::unique_ptr<plugin::SharedMemoryImpl> make_memfd_shared_memory(std::size_t size) {
    if (size == 0) throw ValueError("shared memory of size 0");
    int fd = ::memfd_create("mproc", MFD_CLOEXEC);
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "memfd_create");
    if (::ftruncate(fd, off_t(size)) != 0) {
        int e = errno;
        ::close(fd);
        throw std::system_error(e, std::generic_category(),
                                fmt::format("shared memory of {} bytes", size));
    }
    return map(fd, size);
}

std::unique_ptr<plugin::SharedMemoryImpl> attach_memfd_shared_memory(int fd, std::size_t size) {
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || std::size_t(st.st_size) < size ||
        size == 0)
        throw ProcessError(fmt::format("received handle is not shared memory of {} bytes", size));
    int own = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (own < 0) throw std::system_error(errno, std::generic_category(), "dup of shared memory");
    return map(own, size);
}

}  // namespace mproc::posix
