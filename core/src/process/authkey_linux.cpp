// Random bytes, and the main process's authentication key (32 of them), from
// the kernel's CSPRNG (getrandom), as Python's os.urandom. Not OpenSSL's
// RAND_bytes: its first call in a process costs about 3 ms (it loads its
// configuration and seeds its DRBG), which every spawned child would pay at
// start. The authentication challenges use OpenSSL (authentication.cpp).
#include <sys/random.h>

#include <cerrno>
#include <system_error>

#include "process/authkey.hpp"
#include "process/process_state.hpp"

namespace mproc::detail {

std::vector<std::byte> random_authkey() {
    return random_bytes(32);
}

std::vector<std::byte> random_bytes(std::size_t n) {
    std::vector<std::byte> key(n);
    std::size_t got = 0;
    while (got < key.size()) {
        ssize_t n = ::getrandom(key.data() + got, key.size() - got, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw std::system_error(errno, std::generic_category(), "getrandom");
        }
        got += std::size_t(n);
    }
    return key;
}

}  // namespace mproc::detail
