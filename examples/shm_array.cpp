// Port of the Python docs' NumPy example: an array in shared memory that a
// second process changes. A std::span<double> over the block stands in for
// the np.ndarray:
//
//   a = np.array([1, 1, 2, 3, 5, 8])
//   shm = shared_memory.SharedMemory(create=True, size=a.nbytes)
//   b = np.ndarray(a.shape, dtype=a.dtype, buffer=shm.buf)
//   b[:] = a[:]
//   b                                   # array([1, 1, 2, 3, 5, 8])
//   # in another process:
//   existing_shm = shared_memory.SharedMemory(name=shm.name)
//   c = np.ndarray((6,), dtype=np.int64, buffer=existing_shm.buf)
//   c[-1] = 888
//   c                                   # array([  1,   1,   2,   3,   5, 888])
//   existing_shm.close()
//   # back in the first:
//   b                                   # array([  1,   1,   2,   3,   5, 888])
//   shm.close()
//   shm.unlink()
#include <algorithm>
#include <array>
#include <span>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <mproc/mproc.hpp>

namespace mp = mproc;
namespace smem = mproc::shared_memory;

// The block as an array of doubles (mmap'd memory is page-aligned).
std::span<double> as_doubles(const smem::SharedMemory& shm) {
    return {reinterpret_cast<double*>(shm.buf().data()), shm.size() / sizeof(double)};
}

void other(std::string name, mp::Connection done) {
    smem::SharedMemory existing_shm(name);
    auto c = as_doubles(existing_shm).first(6);
    c.back() = 888;
    fmt::print("c = {}\n", c);
    existing_shm.close();
    done.send(true);
}

int main(int argc, char** argv) {
    mp::freeze_support(argc, argv);
    const std::array<double, 6> a = {1, 1, 2, 3, 5, 8};
    auto shm = smem::SharedMemory::create(sizeof a);
    auto b = as_doubles(shm);
    std::copy(a.begin(), a.end(), b.begin());
    fmt::print("b = {}\n", b);

    auto [r, w] = mp::Pipe(false);
    mp::Process p(other, shm.name(), w);
    p.start();
    w.close();
    (void)r.recv<bool>();
    p.join();
    fmt::print("b = {}\n", b);
    shm.close();
    shm.unlink();
}
