// Loads OpenSSL's libcrypto at first use (see crypto.hpp).
#include "listener/crypto.hpp"

#include <exception>
#include <type_traits>

#include <fmt/format.h>
#include <boost/dll/shared_library.hpp>

#include <mproc/errors.hpp>

namespace mproc::detail {

namespace {

template <class F>
void resolve(const boost::dll::shared_library& lib, F*& f, const char* name) {
    f = &lib.get<F>(name);
}

Crypto load() {
    // Never unloaded; reachable from a static, so not reported as a leak.
    static auto* lib = new boost::dll::shared_library();
    try {
        lib->load(MPROC_LIBCRYPTO, boost::dll::load_mode::search_system_folders);
        Crypto c{};
        resolve(*lib, c.hmac, "HMAC");
        resolve(*lib, c.rand_bytes, "RAND_bytes");
        resolve(*lib, c.memcmp, "CRYPTO_memcmp");
        resolve(*lib, c.err_get_error, "ERR_get_error");
        resolve(*lib, c.err_error_string_n, "ERR_error_string_n");
        resolve(*lib, c.md5, "EVP_md5");
        resolve(*lib, c.sha256, "EVP_sha256");
        resolve(*lib, c.sha384, "EVP_sha384");
        resolve(*lib, c.sha3_256, "EVP_sha3_256");
        resolve(*lib, c.sha3_384, "EVP_sha3_384");
        return c;
    } catch (const std::exception& e) {
        throw ProcessError(
            fmt::format("cannot load OpenSSL's {} (needed to authenticate connections): {}",
                        MPROC_LIBCRYPTO, e.what()));
    }
}

}  // namespace

const Crypto& crypto() {
    static const Crypto c = load();  // a failed load is tried again next time
    return c;
}

}  // namespace mproc::detail
