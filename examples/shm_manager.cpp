// Port of the Python docs' SharedMemoryManager examples:
//
//   from multiprocessing.managers import SharedMemoryManager
//   smm = SharedMemoryManager()
//   smm.start()  # Start the process that manages the shared memory blocks
//   sl = smm.ShareableList(range(4))
//   sl                   # ShareableList([0, 1, 2, 3], name='psm_6572_7512')
//   raw_shm = smm.SharedMemory(size=128)
//   another_sl = smm.ShareableList('alpha')
//   another_sl           # ShareableList(['a', 'l', 'p', 'h', 'a'], name='psm_6572_12221')
//   smm.shutdown()  # Calls unlink() on sl, raw_shm, and another_sl
//
//   with SharedMemoryManager() as smm:
//       sl = smm.ShareableList(range(2000))
//       # Divide the work among two processes, storing partial results in sl
//       p1 = Process(target=do_work, args=(sl, 0, 1000))
//       p2 = Process(target=do_work, args=(sl, 1000, 2000))
//       p1.start()
//       p2.start()  # A multiprocessing.Pool might be more efficient
//       p1.join()
//       p2.join()   # Wait for all work to complete in both processes
//       total_result = sum(sl)  # Consolidate the partial results now in sl
//
// The docs leave do_work out; here it squares its slots. The ShareableList
// crosses into the processes by name, as Python pickles it.
#include <filesystem>

#include <fmt/format.h>

#include <mproc/mproc.hpp>

namespace mp = mproc;
namespace smem = mproc::shared_memory;

void do_work(smem::ShareableList sl, std::int64_t start, std::int64_t stop) {
    for (auto i = start; i < stop; ++i) sl.set(i, i * i);
}

bool linked(const std::string& name) {
    return std::filesystem::exists("/dev/shm/" + name);
}

int main(int argc, char** argv) {
    mp::freeze_support(argc, argv);

    mp::SharedMemoryManager smm;
    smm.start();  // Start the process that manages the shared memory blocks
    auto sl = smm.ShareableList(mp::list{0, 1, 2, 3});
    fmt::print("{}\n", sl.repr());
    auto raw_shm = smm.SharedMemory(128);
    fmt::print("{}\n", raw_shm.size());
    mp::list alpha;
    for (char c : std::string("alpha")) alpha.push_back(std::string(1, c));
    auto another_sl = smm.ShareableList(alpha);
    fmt::print("{}\n", another_sl.repr());
    smm.shutdown();  // Calls unlink() on sl, raw_shm, and another_sl
    fmt::print("unlinked: {}\n", !linked(sl.shm().name()) && !linked(raw_shm.name()) &&
                                     !linked(another_sl.shm().name()));

    std::string name;
    {
        mp::SharedMemoryManager smm2;
        smm2.start();
        mp::list items;
        for (std::int64_t i = 0; i < 2000; ++i) items.push_back(i);
        auto sl2 = smm2.ShareableList(items);
        name = sl2.shm().name();
        // Divide the work among two processes, storing partial results in sl2
        mp::Process p1(do_work, sl2, std::int64_t(0), std::int64_t(1000));
        mp::Process p2(do_work, sl2, std::int64_t(1000), std::int64_t(2000));
        p1.start();
        p2.start();  // A mp::Pool might be more efficient
        p1.join();
        p2.join();                      // Wait for all work to complete in both processes
        std::int64_t total_result = 0;  // Consolidate the partial results now in sl2
        for (std::size_t i = 0; i < sl2.size(); ++i)
            total_result += sl2[std::int64_t(i)].as<std::int64_t>();
        fmt::print("{}\n", total_result);
    }  // as leaving Python's with block: shutdown
    fmt::print("unlinked: {}\n", !linked(name));
}
