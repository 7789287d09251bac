#include <openssl/rand.h>

#include <mproc/errors.hpp>

#include "process_state.hpp"

namespace mproc::detail {

std::vector<std::byte> random_authkey() {
    std::vector<std::byte> key(32);
    if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), int(key.size())) != 1)
        throw ProcessError("OpenSSL RAND_bytes failed to make an authkey");
    return key;
}

}  // namespace mproc::detail
