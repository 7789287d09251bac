// A second program for the shared_memory tests, started by hand (posix_spawn),
// unrelated to the test program:
//   shm_helper write NAME TEXT   attach, write TEXT at offset 0, print the size
//   shm_helper hold NAME         attach, print "held", close at stdin's end
//   shm_helper create SIZE       create, write "from helper", print the name,
//                                close at stdin's end
//   shm_helper list NAME         attach to a ShareableList, print its repr
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include <mproc/mproc.hpp>

namespace mp = mproc;
namespace smem = mproc::shared_memory;

namespace {

void wait_for_eof() {
    std::string line;
    while (std::getline(std::cin, line)) {
    }
}

}  // namespace

int main(int argc, char** argv) {
    mp::freeze_support(argc, argv);
    if (argc < 3) return 2;
    std::string cmd = argv[1];
    try {
        if (cmd == "write" && argc == 4) {
            smem::SharedMemory shm(argv[2]);
            std::memcpy(shm.buf().data(), argv[3], std::strlen(argv[3]));
            std::printf("%zu\n", shm.size());
        } else if (cmd == "hold") {
            smem::SharedMemory shm(argv[2]);
            std::printf("held\n");
            std::fflush(stdout);
            wait_for_eof();
        } else if (cmd == "create") {
            auto shm = smem::SharedMemory::create(std::atoll(argv[2]));
            std::memcpy(shm.buf().data(), "from helper", 11);
            std::printf("%s\n", shm.name().c_str());
            std::fflush(stdout);
            wait_for_eof();
        } else if (cmd == "list") {
            smem::ShareableList l{std::string_view(argv[2])};
            std::printf("%s\n", l.repr().c_str());
        } else {
            return 2;
        }
    } catch (const std::exception& e) {
        std::printf("error: %s\n", e.what());
        return 1;
    }
    return 0;
}
