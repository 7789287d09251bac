// Port of the Python docs' first SharedMemory example (two SharedMemory
// instances on one block), with the second instance in a second process:
//
//   from multiprocessing import shared_memory
//   shm_a = shared_memory.SharedMemory(create=True, size=10)
//   buffer = shm_a.buf
//   len(buffer)                             # 10
//   buffer[:4] = bytearray([22, 33, 44, 55])
//   buffer[4] = 100
//   shm_b = shared_memory.SharedMemory(shm_a.name)      # in another process
//   array.array('b', shm_b.buf[:5])         # array('b', [22, 33, 44, 55, 100])
//   shm_b.buf[:5] = b'howdy'
//   bytes(shm_a.buf[:5])                    # b'howdy'
//   shm_b.close()
//   shm_a.close()
//   shm_a.unlink()
//
// buf() is a std::span<std::byte>; the child attaches by name, as an
// unrelated program would.
#include <cstring>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <mproc/mproc.hpp>

namespace mp = mproc;
namespace smem = mproc::shared_memory;

void second(std::string name, mp::Connection done) {
    smem::SharedMemory shm_b(name);
    std::vector<int> first5;
    for (auto b : shm_b.buf().first(5)) first5.push_back(int(static_cast<signed char>(b)));
    fmt::print("array('b', {})\n", first5);
    std::memcpy(shm_b.buf().data(), "howdy", 5);
    shm_b.close();
    done.send(true);
}

int main(int argc, char** argv) {
    mp::freeze_support(argc, argv);
    auto shm_a = smem::SharedMemory::create(10);
    std::span<std::byte> buffer = shm_a.buf();
    fmt::print("{}\n", buffer.size());
    const std::byte first4[] = {std::byte{22}, std::byte{33}, std::byte{44}, std::byte{55}};
    std::memcpy(buffer.data(), first4, 4);
    buffer[4] = std::byte{100};

    auto [r, w] = mp::Pipe(false);
    mp::Process p(second, shm_a.name(), w);
    p.start();
    w.close();
    (void)r.recv<bool>();
    p.join();
    fmt::print("b'{}'\n", std::string_view(reinterpret_cast<const char*>(buffer.data()), 5));
    shm_a.close();
    shm_a.unlink();  // already gone with its last user: unlink() is then a no-op
}
