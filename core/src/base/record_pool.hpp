// The process record pool (internal to core): small blocks for what starting
// and joining a process allocates (the record, its target, the start
// method's handle, a shared authkey, the registry), taken from one
// page-aligned arena, allocated once, instead of the heap.
//
// Why: a fork parent pays a page fault for every page it writes while its
// child lives (a copy, tens of microseconds on some virtual machines) or
// after (a smaller one), and fork write-protects each written page again.
// With the heap, a start+join writes malloc's bookkeeping, errno (free()
// saves it), and the pages of half a dozen small blocks; with the pool it
// writes one page (a page holds fifteen slots, a process takes three or
// four: while a few processes are alive at once).
#pragma once

#include <cstddef>
#include <new>

namespace mproc::detail {

/// A block of `size` bytes (aligned for any type) from the pool, or from
/// the heap if it is larger than a slot or the pool is full.
void* record_allocate(std::size_t size);
/// Returns a block from record_allocate.
void record_deallocate(void* p) noexcept;

/// A standard allocator over record_allocate (for allocate_shared and
/// containers of the record).
template <class T>
struct RecordAllocator {
    using value_type = T;
    RecordAllocator() = default;
    template <class U>
    RecordAllocator(const RecordAllocator<U>&) noexcept {}
    T* allocate(std::size_t n) { return static_cast<T*>(record_allocate(n * sizeof(T))); }
    void deallocate(T* p, std::size_t) noexcept { record_deallocate(p); }
    template <class U>
    bool operator==(const RecordAllocator<U>&) const noexcept {
        return true;
    }
};

}  // namespace mproc::detail
