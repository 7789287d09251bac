// Python-compatible HMAC challenge/response (see authentication.hpp), with
// HMAC, random bytes and the constant-time comparison from OpenSSL (loaded
// at first use, see crypto.hpp).
#include <mproc/authentication.hpp>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <mproc/errors.hpp>

#include "listener/crypto.hpp"

namespace mproc::connection {

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view challenge_tag = "#CHALLENGE#";
constexpr std::string_view welcome = "#WELCOME#";
constexpr std::string_view failure = "#FAILURE#";
constexpr std::size_t message_length = 40;  // random bytes of a prefixed challenge
// Python <= 3.11 sends 20 random bytes and answers with a 16-byte HMAC-MD5;
// no prefixed message or reply has either length, which is how each side
// recognises the legacy protocol.
constexpr std::size_t md5only_message_length = 20;
constexpr std::size_t md5_digest_length = 16;
constexpr std::size_t max_digest_name = 8;  // "sha3_256"
constexpr std::size_t max_handshake_message = 256;

// n random bytes for a challenge, from OpenSSL's CSPRNG.
std::vector<std::byte> challenge_bytes(std::size_t n) {
    std::vector<std::byte> out(n);
    auto& c = detail::crypto();
    if (c.rand_bytes(reinterpret_cast<unsigned char*>(out.data()), int(n)) != 1) {
        char why[256] = "unknown error";
        if (unsigned long e = c.err_get_error()) c.err_error_string_n(e, why, sizeof why);
        throw AuthenticationError(
            fmt::format("random bytes unavailable (OpenSSL RAND_bytes): {}", why));
    }
    return out;
}

std::string_view as_text(std::span<const std::byte> b) {
    return {reinterpret_cast<const char*>(b.data()), b.size()};
}

std::span<const std::byte> as_bytes(std::string_view s) {
    return std::as_bytes(std::span(s));
}

const EVP_MD* digest_by_name(std::string_view name) {
    auto& c = detail::crypto();
    if (name == "md5") return c.md5();
    if (name == "sha256") return c.sha256();
    if (name == "sha384") return c.sha384();
    if (name == "sha3_256") return c.sha3_256();
    if (name == "sha3_384") return c.sha3_384();
    return nullptr;
}

std::vector<std::byte> hmac(std::string_view digest_name, std::span<const std::byte> key,
                            std::span<const std::byte> message) {
    const EVP_MD* md = digest_by_name(digest_name);
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    static const unsigned char empty = 0;  // OpenSSL wants a pointer even for an empty key
    if (md == nullptr ||
        detail::crypto().hmac(
            md, key.empty() ? &empty : reinterpret_cast<const unsigned char*>(key.data()),
            int(key.size()), reinterpret_cast<const unsigned char*>(message.data()), message.size(),
            out, &n) == nullptr)
        throw AuthenticationError(fmt::format("digest {} is unsupported here", digest_name));
    auto* p = reinterpret_cast<const std::byte*>(out);
    return {p, p + n};
}

// Python's _get_digest_name_and_payload: an empty name means the legacy
// (HMAC-MD5, unprefixed) protocol.
std::pair<std::string_view, std::span<const std::byte>> digest_name_and_payload(
    std::span<const std::byte> message) {
    if (message.size() == md5only_message_length || message.size() == md5_digest_length)
        return {{}, message};
    auto text = as_text(message);
    if (!text.empty() && text[0] == '{') {
        auto curly = text.substr(0, max_digest_name + 2).find('}', 1);
        if (curly != std::string_view::npos) {
            auto name = text.substr(1, curly - 1);
            if (std::find(std::begin(allowed_digests), std::end(allowed_digests), name) !=
                std::end(allowed_digests))
                return {name, message.subspan(curly + 1)};
        }
    }
    throw AuthenticationError(fmt::format(
        "unsupported message length ({} bytes), missing digest prefix, or unsupported digest",
        message.size()));
}

std::vector<std::byte> create_response(std::span<const std::byte> authkey,
                                       std::span<const std::byte> message) {
    auto name = digest_name_and_payload(message).first;
    if (name.empty()) return hmac("md5", authkey, message);  // legacy: the raw MAC
    // The MAC covers the whole message, prefix included, so that a peer
    // cannot downgrade the digest.
    auto mac = hmac(name, authkey, message);
    std::string head = fmt::format("{{{}}}", name);
    std::vector<std::byte> out(as_bytes(head).begin(), as_bytes(head).end());
    out.insert(out.end(), mac.begin(), mac.end());
    return out;
}

void verify_response(std::span<const std::byte> authkey, std::span<const std::byte> message,
                     std::span<const std::byte> response) {
    auto [name, mac] = digest_name_and_payload(response);
    if (name.empty()) name = "md5";
    auto expected = hmac(name, authkey, message);
    if (expected.size() != mac.size())
        throw AuthenticationError(fmt::format("expected a {} digest of {} bytes, got {}", name,
                                              expected.size(), mac.size()));
    if (detail::crypto().memcmp(expected.data(), mac.data(), mac.size()) != 0)
        throw AuthenticationError("digest received was wrong");
}

// One handshake message of at most 256 bytes, waiting no later than deadline.
std::vector<std::byte> receive(Connection& conn, std::optional<Clock::time_point> deadline) {
    if (deadline) {
        auto left = std::chrono::duration<double>(*deadline - Clock::now());
        if (!conn.poll(std::max(left, std::chrono::duration<double>(0))))
            throw TimeoutError("authentication: the peer did not answer in time");
    }
    return conn.recv_bytes(max_handshake_message);
}

std::optional<Clock::time_point> deadline_after(Timeout timeout) {
    if (!timeout) return std::nullopt;
    return Clock::now() + std::chrono::duration_cast<Clock::duration>(
                              std::max(*timeout, std::chrono::duration<double>(0)));
}

}  // namespace

void deliver_challenge(Connection& conn, std::span<const std::byte> authkey,
                       std::string_view digest_name, Timeout timeout) {
    auto deadline = deadline_after(timeout);
    std::vector<std::byte> message;
    if (digest_name == "legacy") {
        message = challenge_bytes(md5only_message_length);
    } else {
        if (digest_by_name(digest_name) == nullptr)
            throw ValueError(
                fmt::format("unknown digest '{}' (use md5, sha256, sha384, "
                            "sha3_256, sha3_384 or legacy)",
                            digest_name));
        auto head = fmt::format("{{{}}}", digest_name);
        auto random = challenge_bytes(message_length);
        message.assign(as_bytes(head).begin(), as_bytes(head).end());
        message.insert(message.end(), random.begin(), random.end());
    }
    std::vector<std::byte> out(as_bytes(challenge_tag).begin(), as_bytes(challenge_tag).end());
    out.insert(out.end(), message.begin(), message.end());
    conn.send_bytes(out);
    auto response = receive(conn, deadline);
    try {
        verify_response(authkey, message, response);
    } catch (const AuthenticationError&) {
        try {
            conn.send_bytes(failure);
        } catch (const std::exception&) {
            // The peer may be gone already; the verdict is what matters.
        }
        throw;
    }
    conn.send_bytes(welcome);
}

void answer_challenge(Connection& conn, std::span<const std::byte> authkey, Timeout timeout) {
    auto deadline = deadline_after(timeout);
    auto message = receive(conn, deadline);
    auto text = as_text(message);
    if (!text.starts_with(challenge_tag))
        throw AuthenticationError(
            fmt::format("protocol error: expected a challenge, got {} bytes", message.size()));
    auto challenge = std::span<const std::byte>(message).subspan(challenge_tag.size());
    if (challenge.size() < md5only_message_length)
        throw AuthenticationError(fmt::format("challenge too short: {} bytes", challenge.size()));
    conn.send_bytes(create_response(authkey, challenge));
    auto verdict = receive(conn, deadline);
    if (as_text(verdict) != welcome) throw AuthenticationError("digest sent was rejected");
}

}  // namespace mproc::connection
