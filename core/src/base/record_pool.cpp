// The process record pool (see record_pool.hpp): fixed slots in an arena
// allocated once, a free list, a mutex (guarded across fork) on the arena's
// first page. A fork child has its own copy, like the rest of its memory.
#include "base/record_pool.hpp"

#include <cstdint>
#include <mutex>
#include <utility>

#include "base/fork_guard.hpp"

namespace mproc::detail {
namespace {

constexpr std::size_t slot_size = 256;
constexpr std::size_t slot_count = 32;

union alignas(alignof(std::max_align_t)) Slot {
    Slot* next;
    std::byte bytes[slot_size];
};

// The bookkeeping first, on the page of the first slots.
struct alignas(4096) Arena {
    ForkGuardedMutex mutex;
    Slot* free = nullptr;
    std::size_t unused = 0;  // slots never handed out start here
    Slot slots[slot_count];

    bool owns(const void* p) const {
        auto a = reinterpret_cast<std::uintptr_t>(p);
        auto b = reinterpret_cast<std::uintptr_t>(&slots[0]);
        return a >= b && a < b + sizeof slots;
    }
};

Arena& arena() {
    static Arena* a = new (std::align_val_t(alignof(Arena))) Arena();  // never destroyed
    return *a;
}

}  // namespace

void* record_allocate(std::size_t size) {
    if (size <= slot_size) {
        auto& a = arena();
        std::lock_guard lock(a.mutex);
        if (a.free != nullptr) return std::exchange(a.free, a.free->next);
        if (a.unused < slot_count) return &a.slots[a.unused++];
    }
    return ::operator new(size);
}

void record_deallocate(void* p) noexcept {
    if (p == nullptr) return;
    auto& a = arena();
    if (!a.owns(p)) return ::operator delete(p);
    std::lock_guard lock(a.mutex);
    auto* s = static_cast<Slot*>(p);
    s->next = a.free;
    a.free = s;
}

}  // namespace mproc::detail
