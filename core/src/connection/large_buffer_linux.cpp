// Large receive buffers on Linux: madvise(MADV_HUGEPAGE) on the 2 MiB-aligned
// interior (transparent huge pages are commonly "madvise" only).
#include <sys/mman.h>

#include <cstdint>

#include "connection/large_buffer.hpp"

namespace mproc::detail {

void advise_large_buffer(void* p, std::size_t n) noexcept {
#ifdef MADV_HUGEPAGE
    constexpr std::uintptr_t huge = std::uintptr_t(2) << 20;
    auto begin = (reinterpret_cast<std::uintptr_t>(p) + huge - 1) & ~(huge - 1);
    auto end = (reinterpret_cast<std::uintptr_t>(p) + n) & ~(huge - 1);
    if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#else
    (void)p;
    (void)n;
#endif
}

}  // namespace mproc::detail
