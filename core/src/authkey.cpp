// Random bytes, and the main process's authentication key (32 of them), from the kernel's CSPRNG
// (getrandom), so libmproc needs no crypto library just to start; HMAC, where
// it is needed, comes from OpenSSL.
#include <sys/random.h>

#include <cerrno>
#include <system_error>

#include "authkey.hpp"
#include "process_state.hpp"

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
