// Random bytes, and the main process's authentication key (32 of them), from
// OpenSSL's CSPRNG (which libmproc links for HMAC anyway; it reseeds after
// fork, so parent and child never share a stream).
#include <openssl/err.h>
#include <openssl/rand.h>

#include <climits>
#include <string>

#include <mproc/errors.hpp>

#include "authkey.hpp"
#include "process_state.hpp"

namespace mproc::detail {

std::vector<std::byte> random_authkey() {
    return random_bytes(32);
}

std::vector<std::byte> random_bytes(std::size_t n) {
    std::vector<std::byte> out(n);
    auto* p = reinterpret_cast<unsigned char*>(out.data());
    for (std::size_t got = 0; got < n;) {
        int step = int(std::min<std::size_t>(n - got, INT_MAX));
        if (RAND_bytes(p + got, step) != 1) {
            char why[256] = "unknown error";
            if (unsigned long e = ERR_get_error()) ERR_error_string_n(e, why, sizeof why);
            throw ProcessError(std::string("random bytes unavailable (OpenSSL RAND_bytes): ") +
                               why);
        }
        got += std::size_t(step);
    }
    return out;
}

}  // namespace mproc::detail
