// mproc::shared_memory: named blocks of shared memory that any process can
// attach to by name, related or not, C++ or Python (Python:
// multiprocessing.shared_memory). POSIX shm_open underneath: a block is the
// file /dev/shm/<name>.
//
//   namespace smem = mproc::shared_memory;
//   smem::SharedMemory a("", true, 1 << 20);          // create, generated name
//   smem::SharedMemory b(a.name());                   // attach (any process)
//   std::span<double> d(reinterpret_cast<double*>(b.buf().data()), b.size() / sizeof(double));
//   smem::ShareableList l(mproc::list{1, 2.5, "text", mproc::None});
//   l.set(2, "more");                                 // python3 sees the same list
//
// Lifetime (beyond Python): a block created with track=true (the default)
// is unlinked once its last mproc user is gone: the last close() (or
// destructor) removes it, and a watcher process that mproc starts by
// itself removes it when every user was killed. It is never removed while a
// process still has it open through mproc. So `close(); unlink();` works as
// in Python, but "create, close, attach later" does not: keep a user open,
// or create with track=false (then the block lives until unlink(), as in
// Python without its tracker). docs/shared_memory.md has the design and its
// limits (Python processes attached to a block are not seen as users).
#pragma once

#include <mproc/export.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <mproc/codec.hpp>
#include <mproc/errors.hpp>
#include <mproc/object.hpp>

namespace mproc::shared_memory {

namespace detail {
struct Mapping;
}

/// A named block of shared memory (Python: SharedMemory). A copy is another
/// handle on the same block (as a second attach by name, without the system
/// calls: the handles of a block in one process share one mapping, so their
/// buf() is the same memory); each handle closes on its own, and the
/// destructor closes it. As a Process, Pool or Queue argument it crosses by
/// name (Python pickles it so): the receiver attaches to the block, or, in a
/// fork child given it as a Process argument, uses the inherited handle.
class MPROC_API SharedMemory {
  public:
    /// Creates (create=true) or attaches to (create=false) the block `name`
    /// (empty: a generated "mproc_..." name, create only). size is the new
    /// block's size in bytes (> 0) and is ignored on attach, as in Python.
    /// FileExistsError / FileNotFoundError when the name exists / does not;
    /// ValueError for a bad name or size. track=false: this process never
    /// counts as a user and never removes the block (see the header comment).
    explicit SharedMemory(std::string_view name, bool create = false, std::int64_t size = 0,
                          bool track = true);
    /// No block (closed).
    SharedMemory() noexcept = default;
    /// Creates a new block of size bytes (name empty: generated).
    static SharedMemory create(std::int64_t size, std::string_view name = {}, bool track = true) {
        return SharedMemory(name, true, size, track);
    }
    /// Attaches to the existing block `name`.
    static SharedMemory attach(std::string_view name, bool track = true) {
        return SharedMemory(name, false, 0, track);
    }
    /// Closes it (see close()).
    ~SharedMemory();
    /// Takes over other's block; other is left closed.
    SharedMemory(SharedMemory&& other) noexcept;
    /// Closes this block, then takes over other's.
    SharedMemory& operator=(SharedMemory&& other) noexcept;
    /// Another handle on other's block (closed if other is).
    SharedMemory(const SharedMemory& other);
    /// Closes this handle, then becomes another handle on other's block.
    SharedMemory& operator=(const SharedMemory& other);

    /// The block's memory; ClosedError after close().
    std::span<std::byte> buf() const;
    /// The name (without a leading '/'), as Python reports it.
    const std::string& name() const noexcept { return name_; }
    /// The size in bytes (the block's size, also when attached).
    std::size_t size() const noexcept { return size_; }
    /// True once closed.
    bool closed() const noexcept { return addr_ == nullptr; }
    /// True if this process counts as a user of a tracked block.
    bool tracked() const noexcept { return tracked_; }
    /// Unmaps the block in this process; if this was its last user and the
    /// block is tracked, removes it. Idempotent.
    void close() noexcept;
    /// Removes the name (the memory stays until every process unmaps it).
    /// For a tracked block, a no-op if the name is gone already (its last
    /// user's close removed it); otherwise FileNotFoundError if it is gone.
    void unlink();
    /// Python's repr: SharedMemory('name', size=N).
    std::string repr() const;

  private:
    std::string name_;
    std::byte* addr_ = nullptr;
    std::size_t size_ = 0;
    detail::Mapping* mapping_ = nullptr;  // the process's mapping of the block, shared
    bool tracked_ = false;
    bool was_tracked_ = false;
    bool removed_by_close_ = false;
};

/// A fixed-length list of scalars (int, float, bool, str, bytes, None) in a
/// SharedMemory block, with the byte layout of Python's ShareableList, so
/// that Python and C++ read and write the same list (Python: ShareableList).
/// Each slot has a capacity fixed at creation (8 bytes, or for a str/bytes
/// its UTF-8 length rounded up to the next multiple of 8, at least one byte
/// more); a value may change type within it, as in Python. Trailing NUL
/// bytes of a str/bytes are kept (Python loses them): see
/// docs/shared_memory.md for how. Not synchronised, as in Python.
class MPROC_API ShareableList {
  public:
    /// A new list holding sequence's items in a new block (name empty:
    /// generated). ValueError for an item of another kind.
    explicit ShareableList(const list& sequence, std::string_view name = {}, bool track = true);
    /// Attaches to the list in the existing block `name`.
    explicit ShareableList(std::string_view name, bool track = true);

    /// The number of items.
    std::size_t size() const noexcept { return n_; }
    /// Item i (negative: from the end); IndexError-like ValueError if out of range.
    object operator[](std::int64_t i) const { return get(i); }
    /// Item i (negative: from the end).
    object get(std::int64_t i) const;
    /// Stores value in slot i; ValueError if a str/bytes is longer than the
    /// slot's capacity (naming it) or value is not a scalar.
    void set(std::int64_t i, const object& value);
    /// How many items equal value (same kind and value: 1 != 1.0 here).
    std::size_t count(const object& value) const;
    /// The first position of value; ValueError if absent.
    std::size_t index(const object& value) const;
    /// The struct format of all items, as Python's format property.
    std::string format() const;
    /// The items, as a list.
    list items() const;
    /// The block holding the list.
    SharedMemory& shm() noexcept { return shm_; }
    /// The block holding the list.
    const SharedMemory& shm() const noexcept { return shm_; }
    /// Python's repr: ShareableList([...], name='...').
    std::string repr() const;

  private:
    std::size_t position(std::int64_t i) const;
    std::size_t slot_offset(std::size_t pos) const;  // into the block
    std::size_t slot_capacity(std::size_t pos) const;
    std::string slot_format(std::size_t pos) const;
    void load_layout();

    SharedMemory shm_;
    std::size_t n_ = 0;
    std::vector<std::int64_t> offsets_;  // n_ + 1 allocated offsets, data-relative
};

}  // namespace mproc::shared_memory

namespace mproc {

/// A SharedMemory crosses by name (as Python pickles it): the receiver
/// attaches to the block, so the sender must keep a handle open until then
/// (a tracked block goes with its last user). Read as a std::string, the
/// name.
template <>
struct codec<shared_memory::SharedMemory> {
    /// Writes the name.
    static void encode(Encoder& e, const shared_memory::SharedMemory& s) { e.write_str(s.name()); }
    /// Attaches by name.
    static shared_memory::SharedMemory decode(Decoder& d) {
        return shared_memory::SharedMemory(d.read_str());
    }
};

/// A ShareableList crosses by its block's name, as a SharedMemory.
template <>
struct codec<shared_memory::ShareableList> {
    /// Writes the block's name.
    static void encode(Encoder& e, const shared_memory::ShareableList& l) {
        e.write_str(l.shm().name());
    }
    /// Attaches by name.
    static shared_memory::ShareableList decode(Decoder& d) {
        return shared_memory::ShareableList(d.read_str());
    }
};

}  // namespace mproc
