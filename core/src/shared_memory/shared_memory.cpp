// SharedMemory's portable half (names, state, errors) and ShareableList,
// which reads and writes the layout of CPython's ShareableList
// (Lib/multiprocessing/shared_memory.py), all integers native (little-endian
// on the machines we run on):
//
//   0                    int64   n, the number of items
//   8                    int64   n + 1 allocated offsets into the data area
//                                (the first 0; slot i spans [off[i], off[i+1]))
//   8 (n + 2)            data    slot i at data + off[i]
//   data + off[n]        n x 8   struct format of each item, NUL-padded
//   ... + 8 n            n x 1   back-transform code: 0 int/float/bool,
//                                1 str, 2 bytes, 3 None
//
// Formats: int "q", float "d", bool "xxxxxxx?" (the value in byte 7), None
// "xxxxxx?x", str/bytes "<capacity>s" (NUL-padded; Python strips trailing
// NULs when reading). A str/bytes that ends in NUL bytes is written as
// "<length>s<capacity - length>x" instead: the same bytes in the slot, a
// format Python reads (it still strips) and rewrites with "<capacity>s",
// and from which mproc reads the exact length back.
#include <cstring>

#include <fmt/format.h>

#include <mproc/shared_memory.hpp>

#include "shared_memory/segment.hpp"

namespace mproc::shared_memory {

namespace {

std::string checked_name(std::string_view name, bool create) {
    while (!name.empty() && name.front() == '/') name.remove_prefix(1);  // as glibc does
    if (name.empty()) {
        if (!create) throw ValueError("SharedMemory: the name can only be empty when create=true");
        return {};
    }
    if (name.size() > 255)
        throw ValueError(
            fmt::format("SharedMemory: name of {} characters; the limit is 255", name.size()));
    if (name == "." || name == ".." || name.find('/') != std::string_view::npos ||
        name.find('\0') != std::string_view::npos)
        throw ValueError(fmt::format(
            "SharedMemory: '{}' is not a valid name (no '/' after the first character, no NUL, "
            "not '.' or '..')",
            name));
    return std::string(name);
}

}  // namespace

SharedMemory::SharedMemory(std::string_view name, bool create, std::int64_t size, bool track)
    : name_(checked_name(name, create)) {
    if (size < 0) throw ValueError("SharedMemory: 'size' must be a positive integer");
    if (create && size == 0)
        throw ValueError("SharedMemory: 'size' must be a positive number different from zero");
    bool fresh = true;
    mapping_ = create ? detail::create_mapping(name_, std::size_t(size), track)
                      : detail::attach_mapping(name_, track, fresh);
    addr_ = mapping_->seg.addr;
    size_ = mapping_->seg.size;
    tracked_ = mapping_->seg.tracked;
    was_tracked_ = tracked_;
    if (tracked_ && fresh) {
        try {
            detail::watch_segment(*mapping_);
        } catch (...) {
            close();
            throw;
        }
    }
}

SharedMemory::~SharedMemory() {
    close();
}

SharedMemory::SharedMemory(const SharedMemory& o)
    : name_(o.name_),
      addr_(o.addr_),
      size_(o.size_),
      mapping_(o.mapping_),
      tracked_(o.tracked_),
      was_tracked_(o.was_tracked_) {
    if (mapping_) detail::retain_mapping(mapping_);
}

SharedMemory& SharedMemory::operator=(const SharedMemory& o) {
    if (this != &o) *this = SharedMemory(o);
    return *this;
}

SharedMemory::SharedMemory(SharedMemory&& o) noexcept
    : name_(std::move(o.name_)),
      addr_(std::exchange(o.addr_, nullptr)),
      size_(o.size_),
      mapping_(std::exchange(o.mapping_, nullptr)),
      tracked_(std::exchange(o.tracked_, false)),
      was_tracked_(o.was_tracked_),
      removed_by_close_(o.removed_by_close_) {}

SharedMemory& SharedMemory::operator=(SharedMemory&& o) noexcept {
    if (this != &o) {
        close();
        name_ = std::move(o.name_);
        addr_ = std::exchange(o.addr_, nullptr);
        size_ = o.size_;
        mapping_ = std::exchange(o.mapping_, nullptr);
        tracked_ = std::exchange(o.tracked_, false);
        was_tracked_ = o.was_tracked_;
        removed_by_close_ = o.removed_by_close_;
    }
    return *this;
}

std::span<std::byte> SharedMemory::buf() const {
    if (!addr_) throw ClosedError(fmt::format("SharedMemory '{}' is closed", name_));
    return {addr_, size_};
}

void SharedMemory::close() noexcept {
    if (!mapping_) return;
    removed_by_close_ = detail::release_mapping(std::exchange(mapping_, nullptr));
    addr_ = nullptr;
    tracked_ = false;
}

void SharedMemory::unlink() {
    if (name_.empty()) throw ClosedError("SharedMemory: no block (moved from)");
    if (removed_by_close_) return;
    try {
        detail::unlink_segment(name_);
    } catch (const FileNotFoundError&) {
        // A tracked block goes by itself when its last user closes: another
        // process may have closed it between our close() and unlink().
        if (!was_tracked_) throw;
    }
}

std::string SharedMemory::repr() const {
    return fmt::format("SharedMemory({}, size={})", object(name_).repr(), size_);
}

// ---- ShareableList ----

namespace {

constexpr std::size_t align = 8;

enum Code : std::int8_t { plain = 0, text = 1, binary = 2, none = 3 };

std::int64_t load_i64(const std::byte* p) {
    std::int64_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

void store_i64(std::byte* p, std::int64_t v) {
    std::memcpy(p, &v, sizeof v);
}

std::string_view bytes_of(const object& v, bool& is_text) {
    if (auto* s = v.get_if<std::string>()) {
        is_text = true;
        return *s;
    }
    if (auto* b = v.get_if<bytes>()) {
        is_text = false;
        return {reinterpret_cast<const char*>(b->data()), b->size()};
    }
    throw std::logic_error("not text");
}

bool is_text_kind(const object& v) {
    return v.is<std::string>() || v.is<bytes>();
}

void check_scalar(const object& v, std::size_t pos) {
    if (v.is<none_t>() || v.is<bool>() || v.is<std::int64_t>() || v.is<double>() || is_text_kind(v))
        return;
    throw ValueError(fmt::format(
        "ShareableList item {}: a {} cannot be stored (int, float, bool, str, bytes and None can)",
        pos, v.type_name()));
}

// The format for a str/bytes of len bytes in a slot of cap bytes.
std::string text_format(std::string_view data, std::size_t cap, std::size_t pos) {
    if (data.empty() || data.back() != '\0') return fmt::format("{}s", cap);
    auto f = fmt::format("{}s{}x", data.size(), cap - data.size());
    if (f.size() > 8)
        throw ValueError(fmt::format(
            "ShareableList item {}: a str/bytes that ends in NUL bytes needs the format '{}', "
            "longer than the 8 bytes the layout has for a format",
            pos, f));
    return f;
}

}  // namespace

ShareableList::ShareableList(const list& sequence, std::string_view name, bool track) {
    n_ = sequence.size();
    offsets_.assign(1, 0);
    for (std::size_t i = 0; i < n_; ++i) {
        const object& v = sequence[i];
        check_scalar(v, i);
        std::size_t cap = align;
        if (is_text_kind(v)) {
            bool t;
            cap = align * (bytes_of(v, t).size() / align + 1);
        }
        offsets_.push_back(offsets_.back() + std::int64_t(cap));
    }
    std::size_t total = 8 + 8 * (n_ + 1) + std::size_t(offsets_.back()) + 9 * n_;
    shm_ = SharedMemory(name, true, std::int64_t(total), track);
    std::byte* b = shm_.buf().data();
    store_i64(b, std::int64_t(n_));
    for (std::size_t i = 0; i <= n_; ++i) store_i64(b + 8 * (i + 1), offsets_[i]);
    for (std::size_t i = 0; i < n_; ++i) set(std::int64_t(i), sequence[i]);
}

ShareableList::ShareableList(std::string_view name, bool track)
    : shm_(SharedMemory::attach(name, track)) {
    load_layout();
}

void ShareableList::load_layout() {
    auto buf = shm_.buf();
    auto bad = [&](const std::string& why) {
        return ValueError(
            fmt::format("ShareableList '{}': not a ShareableList layout ({})", shm_.name(), why));
    };
    if (buf.size() < 16) throw bad(fmt::format("{} bytes", buf.size()));
    std::int64_t n = load_i64(buf.data());
    if (n < 0 || std::uint64_t(n) > (buf.size() - 16) / 17)
        throw bad(fmt::format("{} items in {} bytes", n, buf.size()));
    n_ = std::size_t(n);
    offsets_.resize(n_ + 1);
    for (std::size_t i = 0; i <= n_; ++i) {
        offsets_[i] = load_i64(buf.data() + 8 * (i + 1));
        if (offsets_[i] < 0 || (i > 0 && offsets_[i] < offsets_[i - 1]))
            throw bad(fmt::format("offset {} is {}", i, offsets_[i]));
    }
    std::size_t need = 8 * (n_ + 2) + std::size_t(offsets_[n_]) + 9 * n_;
    if (offsets_[n_] > std::int64_t(buf.size()) || need > buf.size())
        throw bad(fmt::format("needs {} bytes, has {}", need, buf.size()));
}

std::size_t ShareableList::position(std::int64_t i) const {
    std::int64_t p = i < 0 ? i + std::int64_t(n_) : i;
    if (p < 0 || p >= std::int64_t(n_))
        throw ValueError(fmt::format("ShareableList index {} out of range (size {})", i, n_));
    return std::size_t(p);
}

std::size_t ShareableList::slot_offset(std::size_t pos) const {
    return 8 * (n_ + 2) + std::size_t(offsets_[pos]);
}

std::size_t ShareableList::slot_capacity(std::size_t pos) const {
    return std::size_t(offsets_[pos + 1] - offsets_[pos]);
}

std::string ShareableList::slot_format(std::size_t pos) const {
    auto* p = reinterpret_cast<const char*>(shm_.buf().data()) + 8 * (n_ + 2) +
              std::size_t(offsets_[n_]) + 8 * pos;
    std::size_t len = 8;
    while (len > 0 && p[len - 1] == '\0') --len;
    return std::string(p, len);
}

object ShareableList::get(std::int64_t i) const {
    std::size_t pos = position(i);
    auto buf = shm_.buf();
    const std::byte* data = buf.data() + slot_offset(pos);
    const std::size_t cap = slot_capacity(pos);
    const auto code = std::int8_t(buf[8 * (n_ + 2) + std::size_t(offsets_[n_]) + 8 * n_ + pos]);
    const std::string f = slot_format(pos);
    auto bad = [&] {
        return ValueError(fmt::format(
            "ShareableList '{}' item {}: format '{}' with code {} in a slot of {} bytes is "
            "not one mproc reads",
            shm_.name(), pos, f, int(code), cap));
    };
    if (code == none) return None;
    if (code < 0 || code > none) throw bad();
    if (f == "q" && cap >= 8 && code == plain) return load_i64(data);
    if (f == "d" && cap >= 8 && code == plain) {
        double d;
        std::memcpy(&d, data, sizeof d);
        return d;
    }
    if ((f == "xxxxxxx?" || f == "xxxxxx?x") && cap >= 8 && code == plain)
        return data[f == "xxxxxxx?" ? 7 : 6] != std::byte{0};
    // "<n>s" or "<n>s<k>x"
    std::size_t i1 = 0, n = 0, k = 0;
    while (i1 < f.size() && f[i1] >= '0' && f[i1] <= '9') n = n * 10 + std::size_t(f[i1++] - '0');
    if (i1 == 0 || i1 >= f.size() || f[i1] != 's') throw bad();
    bool exact = false;
    if (++i1 < f.size()) {
        std::size_t i2 = i1;
        while (i2 < f.size() && f[i2] >= '0' && f[i2] <= '9')
            k = k * 10 + std::size_t(f[i2++] - '0');
        if (i2 == i1 || i2 + 1 != f.size() || f[i2] != 'x') throw bad();
        exact = true;
    }
    if (n + k > cap) throw bad();
    std::string_view raw(reinterpret_cast<const char*>(data), n);
    if (!exact && code != plain)
        while (!raw.empty() && raw.back() == '\0') raw.remove_suffix(1);
    if (code == text) return std::string(raw);
    bytes out(raw.size());
    std::memcpy(out.data(), raw.data(), raw.size());
    return out;
}

void ShareableList::set(std::int64_t i, const object& value) {
    std::size_t pos = position(i);
    check_scalar(value, pos);
    auto buf = shm_.buf();
    std::byte* data = buf.data() + slot_offset(pos);
    const std::size_t cap = slot_capacity(pos);
    std::string f;
    Code code = plain;
    std::byte slot[8] = {};
    std::string_view payload;
    if (value.is<none_t>()) {
        f = "xxxxxx?x";
        code = none;
    } else if (auto* b = value.get_if<bool>()) {
        f = "xxxxxxx?";
        slot[7] = std::byte(*b ? 1 : 0);
    } else if (auto* n = value.get_if<std::int64_t>()) {
        f = "q";
        store_i64(slot, *n);
    } else if (auto* d = value.get_if<double>()) {
        f = "d";
        std::memcpy(slot, d, sizeof *d);
    } else {
        bool is_text = false;
        payload = bytes_of(value, is_text);
        if (payload.size() > cap)
            throw ValueError(fmt::format(
                "ShareableList item {}: a {} of {} bytes exceeds the slot's capacity of {} bytes",
                pos, is_text ? "str" : "bytes", payload.size(), cap));
        f = text_format(payload, cap, pos);
        code = is_text ? text : binary;
    }
    if (cap < 8) throw ValueError(fmt::format("ShareableList item {}: slot of {} bytes", pos, cap));
    std::byte* formats = buf.data() + 8 * (n_ + 2) + std::size_t(offsets_[n_]);
    std::memset(formats + 8 * pos, 0, 8);
    std::memcpy(formats + 8 * pos, f.data(), f.size());
    formats[8 * n_ + pos] = std::byte(code);
    if (code == text || code == binary) {
        std::memcpy(data, payload.data(), payload.size());
        std::memset(data + payload.size(), 0, cap - payload.size());
    } else {
        std::memcpy(data, slot, 8);
    }
}

std::size_t ShareableList::count(const object& value) const {
    std::size_t c = 0;
    for (std::size_t i = 0; i < n_; ++i) c += get(std::int64_t(i)) == value;
    return c;
}

std::size_t ShareableList::index(const object& value) const {
    for (std::size_t i = 0; i < n_; ++i)
        if (get(std::int64_t(i)) == value) return i;
    throw ValueError(fmt::format("{} not in this container", value.repr()));
}

std::string ShareableList::format() const {
    std::string out;
    for (std::size_t i = 0; i < n_; ++i) out += slot_format(i);
    return out;
}

list ShareableList::items() const {
    list out;
    for (std::size_t i = 0; i < n_; ++i) out.push_back(get(std::int64_t(i)));
    return out;
}

std::string ShareableList::repr() const {
    return fmt::format("ShareableList({}, name={})", object(items()).repr(),
                       object(shm_.name()).repr());
}

}  // namespace mproc::shared_memory
