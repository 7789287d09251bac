// HMAC challenge/response authentication of a connection, wire-compatible
// with Python's multiprocessing.connection (deliver_challenge and
// answer_challenge). Listener and Client run it for you; call it directly
// only on a connection you made some other way.
//
//   mproc::connection::deliver_challenge(conn, key);  // one end...
//   mproc::connection::answer_challenge(conn, key);   // ...the other, same order reversed
//
// Protocol (Python 3.12's, which also talks to Python <= 3.11): the
// deliverer sends "#CHALLENGE#{sha256}" + 40 random bytes; the answerer
// replies "{sha256}" + HMAC-SHA256(key, challenge) -- or, if the challenge
// has the legacy form (20 bytes, no "{digest}" prefix, from Python <= 3.11),
// the raw 16-byte HMAC-MD5. The deliverer accepts either form of reply (a
// Python <= 3.11 answerer computes HMAC-MD5 over the whole prefixed
// challenge, which is what makes the stronger challenge safe to send to
// anyone), compares digests in constant time and answers "#WELCOME#" or
// "#FAILURE#". A wrong key raises AuthenticationError on both sides.
// HMAC and the random bytes come from OpenSSL.
#pragma once

#include <mproc/export.hpp>

#include <cstddef>
#include <span>
#include <string_view>

#include <mproc/connection.hpp>
#include <mproc/timeout.hpp>

namespace mproc::connection {

/// Digests a challenge may name, as Python allows them ("legacy" is not one
/// of them: it is Python <= 3.11's unprefixed HMAC-MD5 challenge).
inline constexpr std::string_view allowed_digests[] = {"md5", "sha256", "sha384", "sha3_256",
                                                       "sha3_384"};

/// Sends a random challenge, checks the peer's HMAC of it under authkey and
/// tells the peer the verdict; throws AuthenticationError if the reply is
/// wrong, TimeoutError if a reply does not come within timeout. digest_name
/// is one of allowed_digests, or "legacy" for Python <= 3.11's form (20
/// random bytes, HMAC-MD5, no prefix).
MPROC_API void deliver_challenge(Connection& conn, std::span<const std::byte> authkey,
                                 std::string_view digest_name = "sha256",
                                 Timeout timeout = std::nullopt);

/// Receives a challenge, replies with its HMAC under authkey, and throws
/// AuthenticationError unless the peer welcomes the reply (TimeoutError if
/// the peer is silent for longer than timeout).
MPROC_API void answer_challenge(Connection& conn, std::span<const std::byte> authkey,
                                Timeout timeout = std::nullopt);

}  // namespace mproc::connection
