// Shared memory blocks (see <mproc/shared_block.hpp>): a small-block heap of
// 64 KiB segments, large blocks in segments of their own, and the crossing
// of blocks into exec children.
//
// A small block is a run of 64-byte units in one 64-bit word of its segment's
// bitmap, claimed and freed with atomic operations, so that any process
// mapping the segment may allocate or free there without a lock a dead
// process could leave held. Each block starts with a header holding a count
// of the processes that have it; the block is freed when it drops to zero.
#include <mproc/shared_block.hpp>

#include <atomic>
#include <bit>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <mproc/errors.hpp>
#include <mproc/plugin/backend.hpp>

#include "base/fork_guard.hpp"
#include "base/process_identity.hpp"
#include "plugin/capability_check.hpp"
#include "plugin/plugin_registry.hpp"

namespace mproc {
namespace plugin {
SharedMemoryImpl::~SharedMemoryImpl() = default;
SemaphoreImpl::~SemaphoreImpl() = default;
}  // namespace plugin

namespace detail {
namespace {

constexpr std::size_t unit = 64;
constexpr std::size_t segment_size = 64 * 1024;
constexpr std::size_t units_per_segment = segment_size / unit;  // 1024
constexpr std::size_t bitmap_words = units_per_segment / 64;    // 16
constexpr std::size_t header_units = 3;                         // the SegmentHeader
constexpr std::uint32_t segment_magic = 0x6d705347;             // "mpSG"
constexpr std::uint32_t block_magic = 0x6d70424b;               // "mpBK"

struct SegmentHeader {
    std::uint32_t magic;
    std::uint32_t small;  // 1: a heap segment of small blocks; 0: one large block
    std::atomic<std::uint64_t> bitmap[bitmap_words];  // bit set: unit in use
};
static_assert(sizeof(SegmentHeader) <= header_units * unit);

struct BlockHeader {
    std::atomic<std::int64_t> processes;  // processes that have the block
    std::uint32_t units;
    std::uint32_t magic;
};
static_assert(sizeof(BlockHeader) <= 16);

// Where the data of a block starts, past its header.
std::size_t data_offset(std::size_t align) {
    return align <= 16 ? 16 : unit;
}

}  // namespace

/// One mapped segment in this process.
struct Segment {
    std::unique_ptr<plugin::SharedMemoryImpl> memory;
    plugin::ContextBackend* backend = nullptr;
    std::string backend_name;
    std::pair<std::uint64_t, std::uint64_t> id;  // the memory's identity

    std::byte* base() const { return memory->data().data(); }
    SegmentHeader* header() const { return reinterpret_cast<SegmentHeader*>(base()); }
    bool small() const { return header()->small != 0; }
};

/// This process's reference to one block.
struct BlockRef {
    std::shared_ptr<Segment> segment;
    std::size_t offset = 0;  // of the BlockHeader in the segment
    int counted_by = 0;      // the process whose count this reference holds

    BlockHeader* header() const { return reinterpret_cast<BlockHeader*>(segment->base() + offset); }
    ~BlockRef();
};

namespace {

// The segments this process maps, by identity, and those it allocates from.
struct Heap {
    ForkGuardedMutex mutex;
    std::map<std::pair<std::uint64_t, std::uint64_t>, std::weak_ptr<Segment>> mapped;
    // Small-block segments made here. Each lives while blocks of it are
    // used here, except the first of each backend, kept for the next ones.
    std::vector<std::weak_ptr<Segment>> own;
    std::map<plugin::ContextBackend*, std::shared_ptr<Segment>> first;
};

Heap& heap() {
    static auto* h = new Heap();  // leaked: blocks may die during exit
    return *h;
}

std::shared_ptr<Segment> new_segment(plugin::ContextBackend& backend, std::size_t size,
                                     bool small) {
    auto s = std::make_shared<Segment>();
    s->memory = backend.make_shared_memory(size);
    s->backend = &backend;
    s->backend_name = std::string(backend.name());
    s->id = s->memory->identity();
    auto* h = new (s->base()) SegmentHeader{};
    h->small = small ? 1 : 0;
    if (small) h->bitmap[0].store((std::uint64_t(1) << header_units) - 1);
    h->magic = segment_magic;
    return s;
}

// Claims n (<= 64) free units in one bitmap word; returns the first unit.
std::optional<std::size_t> claim(SegmentHeader& h, std::size_t n) {
    std::uint64_t mask0 = n == 64 ? ~std::uint64_t(0) : (std::uint64_t(1) << n) - 1;
    for (std::size_t w = 0; w < bitmap_words; ++w) {
        std::uint64_t bits = h.bitmap[w].load(std::memory_order_relaxed);
        for (std::size_t shift = 0; shift + n <= 64;) {
            std::uint64_t mask = mask0 << shift;
            if ((bits & mask) == 0) {
                if (h.bitmap[w].compare_exchange_weak(bits, bits | mask, std::memory_order_acq_rel))
                    return w * 64 + shift;
                continue;  // bits reloaded: look at this place again
            }
            // Skip past the highest used unit under the mask.
            shift = std::size_t(64 - std::countl_zero(bits & mask));
        }
    }
    return std::nullopt;
}

}  // namespace

BlockRef::~BlockRef() {
    if (!segment->small() || counted_by != this_process_id()) return;
    auto* b = header();
    if (b->processes.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    // The last process let go: free the units.
    std::size_t first = offset / unit;
    std::size_t n = b->units;
    b->magic = 0;
    std::uint64_t mask = (n == 64 ? ~std::uint64_t(0) : (std::uint64_t(1) << n) - 1)
                         << (first % 64);
    segment->header()->bitmap[first / 64].fetch_and(~mask, std::memory_order_acq_rel);
}

}  // namespace detail

SharedBlock SharedBlock::allocate(plugin::ContextBackend& backend, std::size_t size,
                                  std::size_t align) {
    using namespace detail;
    if (align == 0 || align > unit || (align & (align - 1)) != 0)
        throw ValueError(
            fmt::format("shared memory alignment {} is not a power of 2 up to 64", align));
    require_capability(backend, plugin::Capability::shared_memory,
                       "shared state (a lock, semaphore, shared value or queue)");
    std::size_t start = data_offset(align);
    if (size > std::size_t(1) << 46)
        throw ValueError(fmt::format("shared block of {} bytes is too large", size));
    auto ref = std::make_shared<BlockRef>();
    ref->counted_by = this_process_id();
    std::size_t units = (start + std::max<std::size_t>(size, 1) + unit - 1) / unit;
    if (units <= 64) {
        auto& h = heap();
        std::lock_guard lock(h.mutex);
        std::optional<std::size_t> first;
        std::erase_if(h.own, [](auto& w) { return w.expired(); });
        std::erase_if(h.mapped, [](auto& kv) { return kv.second.expired(); });
        for (auto& w : h.own) {
            auto s = w.lock();
            if (!s || s->backend != &backend) continue;
            if ((first = claim(*s->header(), units))) {
                ref->segment = s;
                break;
            }
        }
        if (!first) {
            auto s = new_segment(backend, segment_size, true);
            first = claim(*s->header(), units);
            h.own.push_back(s);
            h.first.try_emplace(&backend, s);
            h.mapped[s->id] = s;
            ref->segment = s;
        }
        ref->offset = *first * unit;
        std::memset(ref->segment->base() + ref->offset, 0, units * unit);
        auto* b = new (ref->segment->base() + ref->offset) BlockHeader{};
        b->processes.store(1, std::memory_order_relaxed);
        b->units = std::uint32_t(units);
        b->magic = block_magic;
    } else {
        // A large block: a segment of its own, data page-aligned after the headers.
        start = 4096;
        auto s = new_segment(backend, start + size, false);
        ref->segment = s;
        ref->offset = unit * header_units;
        auto* b = new (s->base() + ref->offset) BlockHeader{};
        b->processes.store(1, std::memory_order_relaxed);
        b->magic = block_magic;
        std::lock_guard lock(heap().mutex);
        heap().mapped[s->id] = s;
        start -= ref->offset;
    }
    SharedBlock block;
    block.data_ = ref->segment->base() + ref->offset + start;
    block.size_ = size;
    block.ref_ = std::move(ref);
    return block;
}

plugin::ContextBackend& SharedBlock::backend() const {
    if (!ref_) throw ValueError("no shared block");
    return *ref_->segment->backend;
}

void codec<SharedBlock>::encode(Encoder& e, const SharedBlock& b) {
    if (!b.ref_) throw ValueError("cannot send an empty SharedBlock");
    if (e.handles == nullptr)
        throw ProcessError(
            "shared objects (locks, semaphores, shared values) should only be shared between "
            "processes through inheritance: pass them as Process arguments, not over a "
            "Connection or Queue");
    auto& ref = *b.ref_;
    auto& seg = *ref.segment;
    e.begin_array(6);
    e.write_str(seg.backend_name);
    e.write_handle(e.handles->add(seg.memory->native_handle()));
    e.write_uint(seg.memory->data().size());
    e.write_uint(ref.offset);
    e.write_uint(std::uint64_t(b.data_ - seg.base()));
    e.write_uint(b.size_);
    // The receiver's count, taken now so that the block outlives the
    // message even if every sender drops it first.
    if (seg.small()) ref.header()->processes.fetch_add(1, std::memory_order_relaxed);
}

SharedBlock codec<SharedBlock>::decode(Decoder& d) {
    using namespace detail;
    if (d.read_array() != 6) throw SerializationError("a SharedBlock is an array of 6 items");
    std::string backend_name(d.read_str());
    if (d.handles == nullptr)
        throw SerializationError("a SharedBlock arrived where handles cannot");
    auto fd = d.handles->borrow(d.read_handle());
    std::uint64_t seg_size = d.read_uint();
    std::uint64_t offset = d.read_uint();
    std::uint64_t data = d.read_uint();
    std::uint64_t size = d.read_uint();
    if (seg_size < header_units * unit || offset + sizeof(BlockHeader) > seg_size ||
        data < offset + 16 || data > seg_size || size > seg_size - data)
        throw SerializationError("a SharedBlock lies outside its segment");

    // The segment is mapped once per process: a second mapping of memory
    // already mapped here is dropped for the first.
    auto& backend = *static_cast<plugin::ContextBackend*>(
        load_plugin(plugin::PluginKind::start_method, backend_name).instance);
    std::unique_ptr<plugin::SharedMemoryImpl> memory;
    try {
        memory = backend.attach_shared_memory(fd, seg_size);
    } catch (const ProcessError& e) {
        throw SerializationError(
            fmt::format("a SharedBlock's memory cannot be mapped: {}", e.what()));
    }
    auto id = memory->identity();
    std::shared_ptr<Segment> seg;
    auto& h = heap();
    std::lock_guard lock(h.mutex);
    auto it = h.mapped.find(id);
    if (it != h.mapped.end()) seg = it->second.lock();
    if (!seg) {
        seg = std::make_shared<Segment>();
        seg->memory = std::move(memory);
        seg->backend = &backend;
        seg->backend_name = backend_name;
        seg->id = id;
        if (seg->header()->magic != segment_magic)
            throw SerializationError("a SharedBlock's segment is not mproc shared memory");
        h.mapped[id] = seg;
    }
    auto ref = std::make_shared<BlockRef>();
    ref->segment = seg;
    ref->offset = offset;
    if (ref->header()->magic != block_magic) {
        ref->counted_by = 0;  // not ours to release
        throw SerializationError("a SharedBlock names memory that holds no block");
    }
    ref->counted_by = this_process_id();  // adopts the count the sender took
    SharedBlock b;
    b.data_ = seg->base() + data;
    b.size_ = size;
    b.ref_ = std::move(ref);
    return b;
}

}  // namespace mproc
