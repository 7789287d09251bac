// The codec of plain function pointers (<mproc/function.hpp>): the locator
// used for targets, with a cache on each side (a pool sends the same few
// functions over and over).
#include <mproc/function.hpp>

#include <map>
#include <mutex>
#include <string_view>
#include <tuple>

#include <fmt/format.h>

#include <mproc/errors.hpp>

#include "base/fork_guard.hpp"
#include "process/function_locator.hpp"

namespace mproc::detail {

namespace {

struct Cache {
    ForkGuardedMutex mutex;
    std::map<const void*, CodeLocation> located;
    std::map<std::pair<std::string, std::uint64_t>, const void*, std::less<>> resolved;
};

Cache& cache() {
    static auto* c = new Cache();
    return *c;
}

}  // namespace

void encode_code_address(Encoder& e, const void* address, const char* signature) {
    if (address == nullptr) {
        e.write_nil();
        return;
    }
    auto& c = cache();
    CodeLocation where;
    {
        std::lock_guard lock(c.mutex);
        auto it = c.located.find(address);
        if (it != c.located.end()) where = it->second;
    }
    if (where.build_id.empty()) {
        try {
            where = locate_code(address);
        } catch (const ProcessError& x) {
            throw SerializationError(fmt::format("mproc::encode: function pointer: {}", x.what()));
        }
        std::lock_guard lock(c.mutex);
        c.located.emplace(address, where);
    }
    e.begin_array(3);
    e.write_str(where.build_id);
    e.write_uint(where.offset);
    e.write_str(signature);
}

const void* decode_code_address(Decoder& d, const char* signature) {
    if (d.peek() == ValueKind::nil) {
        d.read_nil();
        return nullptr;
    }
    expect_array(d, 3, "function pointer");
    std::string build_id(d.read_str());
    const std::uint64_t offset = d.read_uint();
    const std::string_view sent_signature = d.read_str();
    if (signature != nullptr && sent_signature != signature)
        decode_error(
            fmt::format("function pointer: sent as type '{}' but received as '{}' (mangled names)",
                        sent_signature, signature));
    auto& c = cache();
    auto key = std::pair{std::move(build_id), offset};
    {
        std::lock_guard lock(c.mutex);
        auto it = c.resolved.find(key);
        if (it != c.resolved.end()) return it->second;
    }
    const void* address = nullptr;
    try {
        address = resolve_code({key.first, offset, "the sender's module"});
    } catch (const ProcessError& x) {
        decode_error(fmt::format("function pointer: {}", x.what()));
    }
    std::lock_guard lock(c.mutex);
    c.resolved.emplace(std::move(key), address);
    return address;
}

}  // namespace mproc::detail
