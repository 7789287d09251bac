// Shared values and arrays (Python: multiprocessing.Value, Array, RawValue,
// RawArray and multiprocessing.sharedctypes).
//
//   mproc::Value<double> num(0.0);                 // with a new RLock
//   mproc::Array<int> arr(std::views::iota(0, 10));
//   num = 3.1415927;                               // synchronized by its lock
//   for (int i = 0; i < arr.size(); ++i) arr[i] = -arr[i];
//   { std::lock_guard g(arr.get_lock()); arr.get_obj()[0] += 1; }   // raw, under the lock
//   mproc::Value n(mproc::typecode<'i'>, 7);       // typecodes, as in Python
//   mproc::Array s(mproc::c_char, 10);
//   mproc::RawArray<Point> pts({{1, 2}, {3, 4}});  // no lock
//
// T must be trivially copyable (it lives in shared memory and is copied
// bytewise). The memory is anonymous shared memory: nothing leaks when
// processes are killed, and it is released when the last process having it
// ends or drops it. Pass these to children as Process arguments.
#pragma once

#include <mproc/export.hpp>

#include <algorithm>
#include <cstddef>
#include <initializer_list>
#include <mutex>
#include <optional>
#include <ranges>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include <mproc/context.hpp>
#include <mproc/detail/synchronized.hpp>
#include <mproc/lock.hpp>
#include <mproc/shared_block.hpp>

namespace mproc {

/// A Python typecode ('d', 'i', 'c', ...) as a C++ type tag.
template <char Code>
struct typecode_t;
#define MPROC_TYPECODE_(code, T) \
    template <>                  \
    struct typecode_t<code> {    \
        using type = T;          \
    }
MPROC_TYPECODE_('c', char);
MPROC_TYPECODE_('b', signed char);
MPROC_TYPECODE_('B', unsigned char);
MPROC_TYPECODE_('?', bool);
MPROC_TYPECODE_('u', wchar_t);
MPROC_TYPECODE_('h', short);
MPROC_TYPECODE_('H', unsigned short);
MPROC_TYPECODE_('i', int);
MPROC_TYPECODE_('I', unsigned int);
MPROC_TYPECODE_('l', long);
MPROC_TYPECODE_('L', unsigned long);
MPROC_TYPECODE_('q', long long);
MPROC_TYPECODE_('Q', unsigned long long);
MPROC_TYPECODE_('f', float);
MPROC_TYPECODE_('d', double);
#undef MPROC_TYPECODE_
/// mproc::Value(mproc::typecode<'d'>, 0.0) is a Value<double>.
template <char Code>
inline constexpr typecode_t<Code> typecode{};
/// ctypes names of the typecodes.
inline constexpr typecode_t<'c'> c_char{};
inline constexpr typecode_t<'b'> c_byte{};
inline constexpr typecode_t<'B'> c_ubyte{};
inline constexpr typecode_t<'?'> c_bool{};
inline constexpr typecode_t<'u'> c_wchar{};
inline constexpr typecode_t<'h'> c_short{};
inline constexpr typecode_t<'H'> c_ushort{};
inline constexpr typecode_t<'i'> c_int{};
inline constexpr typecode_t<'I'> c_uint{};
inline constexpr typecode_t<'l'> c_long{};
inline constexpr typecode_t<'L'> c_ulong{};
inline constexpr typecode_t<'q'> c_longlong{};
inline constexpr typecode_t<'Q'> c_ulonglong{};
inline constexpr typecode_t<'f'> c_float{};
inline constexpr typecode_t<'d'> c_double{};

/// What guards a Value or Array: true (a new RLock), false (none), or a
/// Lock or RLock of your own (Python's lock= argument).
using LockArg = std::variant<bool, Lock, RLock>;

template <class T>
concept SharedType = std::is_trivially_copyable_v<T> && std::is_default_constructible_v<T>;

namespace detail {

template <SharedType T>
class SharedArrayBase;

/// A range of values to copy into a new shared array (not a shared array).
template <class R, class T>
concept ValuesFor =
    std::ranges::input_range<R> && std::convertible_to<std::ranges::range_value_t<R>, T> &&
    !std::is_base_of_v<Synchronized, std::remove_cvref_t<R>> &&
    !std::is_base_of_v<SharedArrayBase<T>, std::remove_cvref_t<R>>;

/// n zeroed Ts in shared memory made by ctx.
template <SharedType T>
SharedBlock allocate_array(const Context& ctx, std::size_t n) {
    return SharedBlock::allocate(ctx.backend(), sizeof(T) * std::max<std::size_t>(n, 1),
                                 std::min<std::size_t>(alignof(T), 64));
}

/// The lock a LockArg asks for (nullopt: none).
MPROC_API std::optional<SemLock> make_lock(const Context& ctx, const LockArg& lock);

/// Shared memory as an array of T (the part RawValue and RawArray share).
template <SharedType T>
class SharedArrayBase {
  public:
    std::size_t size() const noexcept { return size_; }
    T* data() const noexcept { return reinterpret_cast<T*>(block_.data()); }
    /// The block (for codecs).
    const SharedBlock& block() const noexcept { return block_; }

  protected:
    SharedArrayBase() = default;
    SharedArrayBase(SharedBlock block, std::size_t n) : block_(std::move(block)), size_(n) {}
    SharedBlock block_;
    std::size_t size_ = 0;
};

/// Decodes a block for n Ts (n = block size / sizeof(T)).
template <SharedType T>
std::pair<SharedBlock, std::size_t> decode_array_block(Decoder& d) {
    auto b = decode<SharedBlock>(d);
    if (b.size() % sizeof(T) != 0 ||
        reinterpret_cast<std::uintptr_t>(b.data()) % std::min<std::size_t>(alignof(T), 64) != 0)
        throw SerializationError("a shared array's memory does not fit its element type");
    return {b, b.size() / sizeof(T)};
}

/// The char-array extras (Python's .value and .raw of c_char arrays).
inline std::string c_string(const char* p, std::size_t n) {
    return std::string(p, std::find(p, p + n, '\0'));
}
MPROC_API void check_fits(std::size_t have, std::size_t want);

}  // namespace detail

/// One T in shared memory, no lock (Python: RawValue).
template <SharedType T>
class RawValue : public detail::SharedArrayBase<T> {
  public:
    /// A value of the default context.
    explicit RawValue(T init = T{}) : RawValue(get_context(), init) {}
    RawValue(const Context& ctx, T init)
        : detail::SharedArrayBase<T>(detail::allocate_array<T>(ctx, 1), 1) {
        *this->data() = init;
    }
    template <char C, class U>
    RawValue(typecode_t<C>, U init) : RawValue(T(init)) {}

    /// Copies refer to the same shared value.
    RawValue(const RawValue&) = default;
    RawValue(RawValue&&) noexcept = default;
    /// Does not compile, as Value's: `a = b.value()` copies the value.
    RawValue& operator=(const RawValue&) = delete;
    /// Replaces the object (copies of the old one keep the old memory).
    RawValue& operator=(RawValue&&) noexcept = default;

    /// The value itself (raw: no lock).
    T& value() const noexcept { return *this->data(); }
    RawValue& operator=(const T& v) {
        *this->data() = v;
        return *this;
    }

  private:
    friend struct codec<RawValue<T>>;
    explicit RawValue(SharedBlock b) : detail::SharedArrayBase<T>(std::move(b), 1) {}
};
template <char C, class U>
RawValue(typecode_t<C>, U) -> RawValue<typename typecode_t<C>::type>;

/// A fixed-size array of T in shared memory, no lock (Python: RawArray).
template <SharedType T>
class RawArray : public detail::SharedArrayBase<T> {
  public:
    /// n zero-filled elements of the default context.
    explicit RawArray(std::size_t n) : RawArray(get_context(), n) {}
    RawArray(const Context& ctx, std::size_t n)
        : detail::SharedArrayBase<T>(detail::allocate_array<T>(ctx, n), n) {}
    /// A copy of a range's elements.
    template <detail::ValuesFor<T> R>
    explicit RawArray(R&& values) : RawArray(get_context(), std::forward<R>(values)) {}
    template <detail::ValuesFor<T> R>
    RawArray(const Context& ctx, R&& values)
        : RawArray(ctx, std::vector<T>(std::ranges::begin(values), std::ranges::end(values)), 0) {}
    RawArray(std::initializer_list<T> values)
        : RawArray(get_context(), std::vector<T>(values), 0) {}
    template <char C>
    RawArray(typecode_t<C>, std::size_t n) : RawArray(n) {}
    template <char C, class E>
    RawArray(typecode_t<C>, std::initializer_list<E> values)
        : RawArray(get_context(), std::vector<T>(values.begin(), values.end()), 0) {}

    T& operator[](std::size_t i) const noexcept { return this->data()[i]; }
    T* begin() const noexcept { return this->data(); }
    T* end() const noexcept { return this->data() + this->size(); }
    /// The elements as a span.
    std::span<T> span() const noexcept { return {this->data(), this->size()}; }
    /// Elements [start, stop) (Python: a[start:stop]), clamped like Python's.
    std::vector<T> slice(std::ptrdiff_t start, std::ptrdiff_t stop) const {
        auto [a, b] = clamp(start, stop);
        return std::vector<T>(begin() + a, begin() + b);
    }
    /// Stores values from start on (Python: a[start:start+n] = values); the
    /// values must fit.
    void assign(std::size_t start, std::span<const T> values) const {
        detail::check_fits(this->size() - std::min(start, this->size()), values.size());
        std::copy(values.begin(), values.end(), begin() + start);
    }

    /// Char arrays: the characters up to the first NUL (Python: .value).
    std::string value() const requires std::is_same_v<T, char> {
        return detail::c_string(this->data(), this->size());
    }
    /// Char arrays: stores s, NUL-terminated if there is room (Python: .value = s).
    void set_value(std::string_view s) const requires std::is_same_v<T, char> {
        if (s.size() > this->size()) throw ValueError("byte string too long");  // Python's text
        std::copy(s.begin(), s.end(), this->data());
        if (s.size() < this->size()) this->data()[s.size()] = '\0';
    }
    /// Char arrays: every byte (Python: .raw).
    std::string raw() const requires std::is_same_v<T, char> {
        return std::string(this->data(), this->size());
    }

  private:
    template <SharedType>
    friend class Array;
    friend struct codec<RawArray<T>>;
    RawArray(SharedBlock b, std::size_t n) : detail::SharedArrayBase<T>(std::move(b), n) {}
    RawArray(const Context& ctx, const std::vector<T>& values, int) : RawArray(ctx, values.size()) {
        std::copy(values.begin(), values.end(), this->data());
    }
    std::pair<std::size_t, std::size_t> clamp(std::ptrdiff_t start, std::ptrdiff_t stop) const {
        auto n = std::ptrdiff_t(this->size());
        auto fix = [n](std::ptrdiff_t i) {
            return std::clamp(i < 0 ? i + n : i, std::ptrdiff_t(0), n);
        };
        auto a = fix(start), b = fix(stop);
        return {std::size_t(a), std::size_t(std::max(a, b))};
    }
};
template <char C>
RawArray(typecode_t<C>, std::size_t) -> RawArray<typename typecode_t<C>::type>;
template <char C, class E>
RawArray(typecode_t<C>, std::initializer_list<E>) -> RawArray<typename typecode_t<C>::type>;

/// One T in shared memory whose reads and writes take its lock (Python:
/// Value, a synchronized wrapper).
template <SharedType T>
class Value : public detail::Synchronized {
  public:
    /// A value of the default context with a new RLock (lock = true), no
    /// lock (false) or the lock given.
    explicit Value(T init = T{}, LockArg lock = true)
        : Value(get_context(), init, std::move(lock)) {}
    Value(const Context& ctx, T init, LockArg lock = true)
        : Synchronized(detail::make_lock(ctx, lock)), raw_(ctx, init) {}
    template <char C, class U>
    Value(typecode_t<C>, U init, LockArg lock = true) : Value(T(init), std::move(lock)) {}
    /// Wraps raw memory with a lock (see synchronized()).
    Value(RawValue<T> raw, std::optional<SemLock> lock)
        : Synchronized(std::move(lock)), raw_(std::move(raw)) {}
    /// Copies refer to the same shared value and lock (pass them to children).
    Value(const Value&) = default;
    Value(Value&&) noexcept = default;
    /// `a = b` between two Values does not compile: it would either make a
    /// refer to b's memory (what a child that got a still uses is not what a
    /// now means) or copy the value, and `a = 3` copying makes readers expect
    /// the latter. Say which: `a = b.value()` copies the value (docs/gotchas.md).
    Value& operator=(const Value&) = delete;
    /// Moving a new Value in replaces the object (as Python's `a = Value(...)`
    /// rebinds the name): copies of the old one, in children too, keep the
    /// old memory.
    Value& operator=(Value&&) noexcept = default;

    /// Reads it under the lock.
    T value() const {
        detail::Held h(*this);
        return raw_.value();
    }
    /// Writes it under the lock.
    void set(const T& v) {
        detail::Held h(*this);
        raw_.value() = v;
    }
    Value& operator=(const T& v) {
        set(v);
        return *this;
    }
    /// Read-modify-write under one hold of the lock: v = f(v); returns it.
    template <class F>
    T update(F f) {
        detail::Held h(*this);
        return raw_.value() = f(raw_.value());
    }
    Value& operator+=(const T& d) {
        update([&](T x) { return T(x + d); });
        return *this;
    }
    Value& operator-=(const T& d) {
        update([&](T x) { return T(x - d); });
        return *this;
    }
    Value& operator*=(const T& d) {
        update([&](T x) { return T(x * d); });
        return *this;
    }
    Value& operator/=(const T& d) {
        update([&](T x) { return T(x / d); });
        return *this;
    }
    /// The value itself, raw (hold get_lock() while you use it).
    T& get_obj() const noexcept { return raw_.value(); }
    /// The raw shared value (Python: the wrapped object).
    const RawValue<T>& shared() const noexcept { return raw_; }

  private:
    RawValue<T> raw_;
};
template <char C, class U>
Value(typecode_t<C>, U, LockArg = true) -> Value<typename typecode_t<C>::type>;

/// An array of T in shared memory whose element reads and writes take its
/// lock (Python: Array, a synchronized wrapper).
template <SharedType T>
class Array : public detail::Synchronized {
  public:
    /// One element, read and written under the array's lock. An Element
    /// refers to the array's memory and lock the way a copy of the Array
    /// does, so it stays valid when the Array object it came from is gone
    /// (`auto e = make_array()[0]; e = 1;` is fine).
    class Element : private detail::Synchronized {
      public:
        Element(const Element&) = default;
        operator T() const {
            detail::Held h(*this);
            return raw_[i_];
        }
        Element& operator=(const T& v) {
            detail::Held h(*this);
            raw_[i_] = v;
            return *this;
        }
        /// Assigns the other element's value (not its place).
        Element& operator=(const Element& e) { return *this = T(e); }
        /// Read-modify-write under one hold of the lock.
        template <class F>
        T update(F f) {
            detail::Held h(*this);
            return raw_[i_] = f(raw_[i_]);
        }
        Element& operator+=(const T& v) {
            update([&](T x) { return T(x + v); });
            return *this;
        }
        Element& operator-=(const T& v) {
            update([&](T x) { return T(x - v); });
            return *this;
        }
        Element& operator*=(const T& v) {
            update([&](T x) { return T(x * v); });
            return *this;
        }
        Element& operator/=(const T& v) {
            update([&](T x) { return T(x / v); });
            return *this;
        }

      private:
        friend class Array;
        Element(const Array& a, std::size_t i)
            : detail::Synchronized(a.lock_), raw_(a.raw_), i_(i) {}
        RawArray<T> raw_;
        std::size_t i_;
    };

    /// n zero-filled elements of the default context, with a new RLock
    /// (lock = true), no lock (false) or the lock given.
    explicit Array(std::size_t n, LockArg lock = true) : Array(get_context(), n, std::move(lock)) {}
    Array(const Context& ctx, std::size_t n, LockArg lock = true)
        : Synchronized(detail::make_lock(ctx, lock)), raw_(ctx, n) {}
    /// A copy of a range's elements.
    template <detail::ValuesFor<T> R>
    explicit Array(R&& values, LockArg lock = true)
        : Array(get_context(), std::forward<R>(values), std::move(lock)) {}
    template <detail::ValuesFor<T> R>
    Array(const Context& ctx, R&& values, LockArg lock = true)
        : Synchronized(detail::make_lock(ctx, lock)), raw_(ctx, std::forward<R>(values)) {}
    Array(std::initializer_list<T> values, LockArg lock = true)
        : Synchronized(detail::make_lock(get_context(), lock)), raw_(get_context(), values) {}
    template <char C>
    Array(typecode_t<C>, std::size_t n, LockArg lock = true) : Array(n, std::move(lock)) {}
    template <char C, class E>
    Array(typecode_t<C>, std::initializer_list<E> values, LockArg lock = true)
        : Array(std::vector<T>(values.begin(), values.end()), std::move(lock)) {}
    template <char C, detail::ValuesFor<T> R>
    Array(typecode_t<C>, R&& values, LockArg lock = true)
        : Array(std::forward<R>(values), std::move(lock)) {}
    /// Char arrays from a string literal, without its terminating NUL
    /// (Python: Array('c', b'hello') has 5 elements).
    template <std::size_t N>
    requires std::is_same_v<T, char>
    explicit Array(const char (&s)[N], LockArg lock = true)
        : Array(std::string_view(s, N - 1), std::move(lock)) {}
    template <char C, std::size_t N>
    requires std::is_same_v<T, char> Array(typecode_t<C>, const char (&s)[N], LockArg lock = true)
        : Array(std::string_view(s, N - 1), std::move(lock)) {}
    /// Wraps raw memory with a lock (see synchronized()).
    Array(RawArray<T> raw, std::optional<SemLock> lock)
        : Synchronized(std::move(lock)), raw_(std::move(raw)) {}

    std::size_t size() const noexcept { return raw_.size(); }
    /// Element i (unchecked), read and written under the lock.
    Element operator[](std::size_t i) const noexcept { return Element(*this, i); }
    /// Element i, checked (std::out_of_range).
    T at(std::size_t i) const {
        if (i >= size()) throw std::out_of_range("invalid index");  // Python's (ctypes) text
        return (*this)[i];
    }
    /// A copy of every element, under one hold of the lock.
    std::vector<T> to_vector() const { return slice(0, std::ptrdiff_t(size())); }
    /// Elements [start, stop) under the lock (Python: a[start:stop]).
    std::vector<T> slice(std::ptrdiff_t start, std::ptrdiff_t stop) const {
        detail::Held h(*this);
        return raw_.slice(start, stop);
    }
    /// Stores values from start on, under the lock.
    void assign(std::size_t start, std::span<const T> values) {
        detail::Held h(*this);
        raw_.assign(start, values);
    }
    /// Iterates over the elements; each read takes the lock.
    class iterator {
      public:
        using value_type = T;
        using difference_type = std::ptrdiff_t;
        iterator() = default;
        iterator(const Array* a, std::size_t i) : a_(a), i_(i) {}
        Element operator*() const { return (*a_)[i_]; }
        iterator& operator++() {
            ++i_;
            return *this;
        }
        iterator operator++(int) {
            auto t = *this;
            ++i_;
            return t;
        }
        bool operator==(const iterator& o) const { return i_ == o.i_; }

      private:
        const Array* a_ = nullptr;
        std::size_t i_ = 0;
    };
    iterator begin() const { return iterator(this, 0); }
    iterator end() const { return iterator(this, size()); }

    /// The elements themselves, raw (hold get_lock() while you use them).
    std::span<T> get_obj() const noexcept { return raw_.span(); }
    /// The raw shared array (Python: the wrapped object).
    const RawArray<T>& shared() const noexcept { return raw_; }

    /// Char arrays: the characters up to the first NUL, under the lock.
    std::string value() const requires std::is_same_v<T, char> {
        detail::Held h(*this);
        return raw_.value();
    }
    /// Char arrays: stores s under the lock.
    void set_value(std::string_view s) requires std::is_same_v<T, char> {
        detail::Held h(*this);
        raw_.set_value(s);
    }
    /// Char arrays: every byte, under the lock.
    std::string raw() const requires std::is_same_v<T, char> {
        detail::Held h(*this);
        return raw_.raw();
    }

  private:
    RawArray<T> raw_;
};
template <char C>
Array(typecode_t<C>, std::size_t, LockArg = true) -> Array<typename typecode_t<C>::type>;
template <char C, class E>
Array(typecode_t<C>, std::initializer_list<E>, LockArg = true)
    -> Array<typename typecode_t<C>::type>;
template <char C, std::ranges::input_range R>
Array(typecode_t<C>, R&&, LockArg = true) -> Array<typename typecode_t<C>::type>;

/// Python's synchronized(obj, lock): raw memory with a lock (a new RLock of
/// the memory's start method by default).
template <SharedType T>
Value<T> synchronized(const RawValue<T>& obj, LockArg lock = true) {
    return Value<T>(obj, detail::make_lock(Context(obj.block().backend()), lock));
}
template <SharedType T>
Array<T> synchronized(const RawArray<T>& obj, LockArg lock = true) {
    return Array<T>(obj, detail::make_lock(Context(obj.block().backend()), lock));
}

/// Python's copy(obj): new shared memory holding a copy of obj.
template <SharedType T>
RawValue<T> copy(const RawValue<T>& obj) {
    return RawValue<T>(Context(obj.block().backend()), obj.value());
}
template <SharedType T>
RawArray<T> copy(const RawArray<T>& obj) {
    return RawArray<T>(Context(obj.block().backend()), std::span<const T>(obj.begin(), obj.end()));
}

namespace detail {
template <class T>
struct SharedTypes {
    static_assert(SharedType<T>, "shared values hold trivially copyable types");
    using value = ::mproc::Value<T>;
    using array = ::mproc::Array<T>;
    using raw_value = ::mproc::RawValue<T>;
    using raw_array = ::mproc::RawArray<T>;
};
}  // namespace detail

// Codecs: they cross into children as Process arguments.
template <SharedType T>
struct codec<RawValue<T>> {
    static void encode(Encoder& e, const RawValue<T>& v) { mproc::encode(e, v.block()); }
    static RawValue<T> decode(Decoder& d) {
        auto [b, n] = detail::decode_array_block<T>(d);
        if (n != 1) throw SerializationError("a shared value's memory does not fit its type");
        return RawValue<T>(std::move(b));
    }
};
template <SharedType T>
struct codec<RawArray<T>> {
    static void encode(Encoder& e, const RawArray<T>& a) {
        e.begin_array(2);
        e.write_uint(a.size());
        mproc::encode(e, a.block());
    }
    static RawArray<T> decode(Decoder& d) {
        if (d.read_array() != 2) throw SerializationError("a shared array is an array of 2 items");
        auto n = d.read_uint();
        auto [b, cap] = detail::decode_array_block<T>(d);
        if (n > cap || (n > 0 && n != cap))
            throw SerializationError("a shared array's size does not fit its memory");
        return RawArray<T>(std::move(b), n);
    }
};
namespace detail {
/// codec of a synchronized wrapper S of raw memory Raw: the memory, then the lock.
template <class S, class Raw>
struct SynchronizedCodec {
    static void encode(Encoder& e, const S& s) {
        e.begin_array(2);
        mproc::encode(e, s.shared());
        mproc::encode(e, s.lock_object());
    }
    static S decode(Decoder& d) {
        if (d.read_array() != 2)
            throw SerializationError("a Value or Array is an array of 2 items");
        auto raw = mproc::decode<Raw>(d);
        return S(std::move(raw), mproc::decode<std::optional<SemLock>>(d));
    }
};
}  // namespace detail
template <SharedType T>
struct codec<Value<T>> : detail::SynchronizedCodec<Value<T>, RawValue<T>> {};
template <SharedType T>
struct codec<Array<T>> : detail::SynchronizedCodec<Array<T>, RawArray<T>> {};

}  // namespace mproc
