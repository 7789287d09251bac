// A block of shared memory: what Value/Array data and the state of locks,
// semaphores, conditions and barriers live in. Small blocks share a 64 KiB
// memory segment (one fd and one mapping for hundreds of objects); large
// ones get a segment of their own. Memory is anonymous (memfd on Linux), so
// nothing leaks when processes are killed: the OS frees a segment when the
// last process that maps it ends.
//
//   auto b = mproc::SharedBlock::allocate(ctx.backend(), sizeof(double), alignof(double));
//   auto* d = new (b.data()) double(3.14);
//
// Copies of a SharedBlock refer to the same memory. A block crosses into a
// spawn or forkserver child as a Process argument (its segment's handle goes
// out of band); a fork child simply inherits it. A block of a shared segment
// is reused only once every process that received it has dropped it.
#pragma once

#include <mproc/export.hpp>

#include <cstddef>
#include <memory>

#include <mproc/codec.hpp>
#include <mproc/serializer.hpp>

namespace mproc {

namespace plugin {
class ContextBackend;
}

namespace detail {
struct BlockRef;
}

/// A zero-filled block of memory shared by the processes that have it.
class MPROC_API SharedBlock {
  public:
    /// No block.
    SharedBlock() noexcept = default;
    /// A new zero-filled block of size bytes aligned to align (at most 64),
    /// made through backend.
    static SharedBlock allocate(plugin::ContextBackend& backend, std::size_t size,
                                std::size_t align = alignof(std::max_align_t));

    /// The first byte.
    std::byte* data() const noexcept { return data_; }
    /// Its size in bytes.
    std::size_t size() const noexcept { return size_; }
    /// True if this refers to a block.
    explicit operator bool() const noexcept { return data_ != nullptr; }
    /// The backend that made the memory.
    plugin::ContextBackend& backend() const;

  private:
    friend struct codec<SharedBlock>;
    std::shared_ptr<detail::BlockRef> ref_;
    std::byte* data_ = nullptr;
    std::size_t size_ = 0;
};

/// A SharedBlock crosses into spawn and forkserver children as a Process
/// argument only (Python: "should only be shared between processes through
/// inheritance"); sending one over a Connection is an error.
template <>
struct MPROC_API codec<SharedBlock> {
    /// Writes the segment's handle, where the block is in it, and its backend.
    static void encode(Encoder& e, const SharedBlock& b);
    /// Maps the segment (once per process) and refers to the block.
    static SharedBlock decode(Decoder& d);
};

}  // namespace mproc
