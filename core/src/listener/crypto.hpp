// OpenSSL's libcrypto, loaded the first time authentication needs it
// (internal to core).
//
// libmproc does not link libcrypto: every process that loads libmproc, and
// so every spawned child, would pay for relocating it at start (several
// milliseconds here), while only Listener and Client authenticate. The
// headers give the types; the functions come from crypto().
#pragma once

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

namespace mproc::detail {

/// The libcrypto functions mproc uses.
struct Crypto {
    decltype(&::HMAC) hmac;
    decltype(&::RAND_bytes) rand_bytes;
    decltype(&::CRYPTO_memcmp) memcmp;
    decltype(&::ERR_get_error) err_get_error;
    decltype(&::ERR_error_string_n) err_error_string_n;
    decltype(&::EVP_md5) md5;
    decltype(&::EVP_sha256) sha256;
    decltype(&::EVP_sha384) sha384;
    decltype(&::EVP_sha3_256) sha3_256;
    decltype(&::EVP_sha3_384) sha3_384;
};

/// libcrypto's functions, loaded on the first call (never unloaded); throws
/// ProcessError naming the library and the reason when it cannot be loaded.
const Crypto& crypto();

}  // namespace mproc::detail
