// Managers: a server process that owns Python-style objects (dict, list,
// Namespace, Queue, Lock, ...) and proxies through which any process uses
// them (Python: multiprocessing.managers, multiprocessing.Manager()).
//
//   namespace mp = mproc;
//   auto manager = mp::Manager();              // a started SyncManager
//   auto d = manager.dict();                   // a DictProxy; values are mp::object
//   auto l = manager.list(mp::list{0, 1, 2});
//   d[1] = "1"; d["2"] = 2; d[0.25] = mp::None;
//   l.reverse();
//   mp::Process p(worker, d, l);               // proxies cross into children
//   fmt::print("{}\n", d);                     // {1: '1', '2': 2, 0.25: None} (the referent)
//   fmt::print("{}\n", d.repr());              // <DictProxy object, typeid 'dict' at 0x1>
//
// The server is a child process started through the context's start method
// (named "SyncManager-N"), listening on an AF_UNIX socket (or the address
// given) with the authkey of the process that started it. It serves each
// connection with one thread, so a client that stalls, blocks (Lock.acquire,
// Queue.get) or sends garbage holds only its own thread. Every process keeps
// one "anchor" connection per manager for reference counts and one
// connection per thread for method calls. The server counts references per
// anchor connection: when a process ends (even killed) its connections close
// and its references are dropped, so a dead child leaks nothing.
//
// Beyond Python: the server ends when the process that started it ends (even
// by SIGKILL), and once the server is gone every proxy call throws
// ManagerError naming the manager's address, never hangs.
#pragma once

#include <mproc/export.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <mproc/codec.hpp>
#include <mproc/context.hpp>
#include <mproc/detail/target.hpp>
#include <mproc/errors.hpp>
#include <mproc/listener.hpp>
#include <mproc/object.hpp>
#include <mproc/timeout.hpp>

namespace mproc {

/// A manager's server is gone (killed, shut down, or never there): every
/// proxy call then throws this, naming the manager's address.
class MPROC_API ManagerError : public ProcessError {
  public:
    using ProcessError::ProcessError;
    ~ManagerError() override;
};

/// A missing dict key (Python: KeyError).
class MPROC_API KeyError : public RemoteError {
  public:
    using RemoteError::RemoteError;
    ~KeyError() override;
};

/// An index out of range (Python: IndexError).
class MPROC_API IndexError : public RemoteError {
  public:
    using RemoteError::RemoteError;
    ~IndexError() override;
};

/// A method not exposed, or a missing Namespace attribute (Python: AttributeError).
class MPROC_API AttributeError : public RemoteError {
  public:
    using RemoteError::RemoteError;
    ~AttributeError() override;
};

/// An operation on values of the wrong type (Python: TypeError).
class MPROC_API TypeError : public RemoteError {
  public:
    using RemoteError::RemoteError;
    ~TypeError() override;
};

namespace managers {

/// What names a referent: its typeid, its manager's address, its id there.
struct MPROC_API Token {
    std::string type_id;          ///< "dict", "list", ...
    connection::Address address;  ///< the manager's address
    std::int64_t id = 0;          ///< the referent's id in the server
};

namespace detail {
struct ProxyState;
/// Scratch encoder/decoder of this thread (default serializer).
MPROC_API Encoder& scratch_encoder();
MPROC_API Decoder& scratch_decoder();
}  // namespace detail

/// Any value with a codec as an mp::object (its wire form read back).
template <class T>
object to_object(const T& v) {
    if constexpr (std::is_convertible_v<const T&, object>) {
        return object(v);
    } else {
        auto& e = detail::scratch_encoder();
        e.clear();
        encode(e, v);
        auto& d = detail::scratch_decoder();
        d.reset(e.data());
        return decode<object>(d);
    }
}

/// An mp::object as a T (through its wire form); SerializationError if it does not fit.
template <class T>
T from_object(const object& o) {
    if constexpr (std::is_same_v<T, object>) {
        return o;
    } else {
        auto& e = detail::scratch_encoder();
        e.clear();
        encode(e, o);
        auto& d = detail::scratch_decoder();
        d.reset(e.data());
        return decode<T>(d);
    }
}

}  // namespace managers

namespace managers::detail {
struct ProxyState;
/// Records the proxy class name (for repr) in a state, and returns it.
MPROC_API std::shared_ptr<ProxyState> with_class(std::shared_ptr<ProxyState> s,
                                                 std::string_view cls);
/// A timeout as the wire carries it: None or seconds (a float).
inline object seconds(Timeout t) {
    if (!t) return None;
    return std::chrono::duration<double>(*t).count();
}
}  // namespace managers::detail

/// The base of every proxy: a counted reference to a referent in a manager's
/// server. Copies share one reference; the last copy in a process releases
/// it. Use _callmethod for methods the typed proxies do not name.
class MPROC_API BaseProxy {
  public:
    /// An empty proxy (refers to nothing; calls throw ValueError).
    BaseProxy() = default;
    /// Rebuilds a proxy from a reference read back from a managed object
    /// (see ref()); takes a reference of its own.
    explicit BaseProxy(const object& ref);

    /// Calls a method of the referent in the server and returns its result
    /// (Python: _callmethod(name, args)). Throws the referent's exception
    /// (RemoteError and its kin, Empty, Full, BrokenBarrierError, ValueError),
    /// or ManagerError when the server is gone.
    object _callmethod(std::string_view method, list args = {}) const;
    /// A copy of the referent (Python: _getvalue()).
    object _getvalue() const;
    /// Calls a method with typed arguments and result (each crossing through
    /// the serializer): maths.call<int>("add", 4, 3).
    /// With a proxy type as R, calls a method that returns a new referent
    /// (registered with a result typeid, Python's method_to_typeid) and
    /// returns its proxy: auto it = foo.call<GeneratorProxy>("__iter__").
    template <class R = object, class... A>
    R call(std::string_view method, const A&... args) const {
        if constexpr (std::is_base_of_v<BaseProxy, R>) {
            return R(_callmethod_proxy(method, list{managers::to_object(args)...}));
        } else {
            object r = _callmethod(method, list{managers::to_object(args)...});
            if constexpr (std::is_void_v<R>)
                return;
            else
                return managers::from_object<R>(r);
        }
    }
    /// Calls a method that returns a new referent and returns the state of
    /// its proxy (see call<P>); TypeError if the method returns a plain value.
    std::shared_ptr<managers::detail::ProxyState> _callmethod_proxy(std::string_view method,
                                                                    list args = {}) const;
    /// The names of the methods the referent exposes (Python: _exposed_).
    std::vector<std::string> _exposed_() const;
    /// The referent's token.
    const managers::Token& token() const;
    /// Python's repr of the proxy: <DictProxy object, typeid 'dict' at 0x1>.
    std::string repr() const;
    /// Python's str of the proxy: the referent's str (what print shows).
    std::string str() const;
    /// The proxy as a value to store in another managed dict or list; read
    /// back, it rebuilds a working proxy (e.g. ListProxy(d["inner"])).
    object ref() const;
    /// Same as ref(), so that a proxy can be stored directly: d["x"] = l.
    operator object() const { return ref(); }  // NOLINT: implicit by design
    /// True if the proxy refers to a referent.
    explicit operator bool() const noexcept { return state_ != nullptr; }
    /// Same referent.
    MPROC_API friend bool operator==(const BaseProxy& a, const BaseProxy& b);

    /// For codec and manager internals.
    const std::shared_ptr<managers::detail::ProxyState>& state() const noexcept { return state_; }
    /// For codec and manager internals.
    explicit BaseProxy(std::shared_ptr<managers::detail::ProxyState> s) : state_(std::move(s)) {}

  protected:
    /// Checks that the referent's typeid is one of these (after rebuilding from a ref).
    void expect_typeid(std::initializer_list<std::string_view> ids, std::string_view cls);
    /// Timeout as the wire wants it: None or seconds.
    static object seconds(Timeout t) { return managers::detail::seconds(t); }

  private:
    std::shared_ptr<managers::detail::ProxyState> state_;
};

/// Declares the constructors every typed proxy has.
#define MPROC_PROXY_CONSTRUCTORS(Cls, ...)                                 \
    Cls() = default;                                                       \
    explicit Cls(const ::mproc::object& ref) : BaseProxy(ref) {            \
        expect_typeid({__VA_ARGS__}, #Cls);                                \
    }                                                                      \
    explicit Cls(std::shared_ptr<::mproc::managers::detail::ProxyState> s) \
        : BaseProxy(::mproc::managers::detail::with_class(std::move(s), #Cls)) {}

/// A proxy of a managed dict (Python: DictProxy).
class MPROC_API DictProxy : public BaseProxy {
  public:
    MPROC_PROXY_CONSTRUCTORS(DictProxy, "dict")

    /// d[key], readable (a value) and assignable (sets the key).
    class Item {
      public:
        /// d[key]: KeyError if missing.
        operator object() const { return d_->getitem(key_); }  // NOLINT
        /// d[key] = value.
        Item& operator=(const object& value) {
            d_->setitem(key_, value);
            return *this;
        }
        /// The value (same as the conversion).
        object get() const { return d_->getitem(key_); }

      private:
        friend class DictProxy;
        Item(const DictProxy* d, object key) : d_(d), key_(std::move(key)) {}
        const DictProxy* d_;
        object key_;
    };

    /// d[key] (get or set).
    Item operator[](object key) const { return Item(this, std::move(key)); }
    /// d[key]; KeyError if missing.
    object getitem(const object& key) const { return _callmethod("__getitem__", {key}); }
    /// d[key] = value.
    void setitem(const object& key, const object& value) const {
        _callmethod("__setitem__", {key, value});
    }
    /// del d[key]; KeyError if missing.
    void delitem(const object& key) const { _callmethod("__delitem__", {key}); }
    /// d.get(key, default).
    object get(const object& key, const object& def = None) const {
        return _callmethod("get", {key, def});
    }
    /// key in d.
    bool contains(const object& key) const { return _callmethod("__contains__", {key}).as<bool>(); }
    /// len(d).
    std::size_t len() const {
        return static_cast<std::size_t>(_callmethod("__len__").as<std::int64_t>());
    }
    /// d.keys() (a list, as Python's proxy gives).
    list keys() const { return _callmethod("keys").as<list>(); }
    /// d.values().
    list values() const { return _callmethod("values").as<list>(); }
    /// d.items(): pairs, in insertion order.
    dict items() const { return _callmethod("items").as<dict>(); }
    /// d.copy(): a plain dict.
    dict copy() const { return _callmethod("copy").as<dict>(); }
    /// d.clear().
    void clear() const { _callmethod("clear"); }
    /// d.pop(key): KeyError if missing.
    object pop(const object& key) const { return _callmethod("pop", {key}); }
    /// d.pop(key, default).
    object pop(const object& key, const object& def) const {
        return _callmethod("pop", {key, def});
    }
    /// d.popitem(): the last pair; KeyError if empty.
    std::pair<object, object> popitem() const {
        auto t = _callmethod("popitem").as<list>();
        return {t.at(0), t.at(1)};
    }
    /// d.setdefault(key, default).
    object setdefault(const object& key, const object& def = None) const {
        return _callmethod("setdefault", {key, def});
    }
    /// d.update(other).
    void update(const dict& other) const { _callmethod("update", {other}); }
};

/// A proxy of a managed list (Python: ListProxy).
class MPROC_API ListProxy : public BaseProxy {
  public:
    MPROC_PROXY_CONSTRUCTORS(ListProxy, "list")

    /// l[i], readable and assignable; negative indices count from the end.
    class Item {
      public:
        /// l[i]: IndexError if out of range.
        operator object() const { return l_->getitem(i_); }  // NOLINT
        /// l[i] = value.
        Item& operator=(const object& value) {
            l_->setitem(i_, value);
            return *this;
        }
        /// The value.
        object get() const { return l_->getitem(i_); }

      private:
        friend class ListProxy;
        Item(const ListProxy* l, std::int64_t i) : l_(l), i_(i) {}
        const ListProxy* l_;
        std::int64_t i_;
    };

    /// l[i] (get or set).
    Item operator[](std::int64_t i) const { return Item(this, i); }
    /// l[i].
    object getitem(std::int64_t i) const { return _callmethod("__getitem__", {i}); }
    /// l[start:stop] (Python's slice rules; nullopt is an open end).
    list slice(std::optional<std::int64_t> start, std::optional<std::int64_t> stop) const {
        return _callmethod("__getslice__", {start ? object(*start) : object(None),
                                            stop ? object(*stop) : object(None)})
            .as<list>();
    }
    /// l[i] = value.
    void setitem(std::int64_t i, const object& value) const {
        _callmethod("__setitem__", {i, value});
    }
    /// del l[i].
    void delitem(std::int64_t i) const { _callmethod("__delitem__", {i}); }
    /// len(l).
    std::size_t len() const {
        return static_cast<std::size_t>(_callmethod("__len__").as<std::int64_t>());
    }
    /// x in l.
    bool contains(const object& x) const { return _callmethod("__contains__", {x}).as<bool>(); }
    /// l.append(x).
    void append(const object& x) const { _callmethod("append", {x}); }
    /// l.extend(items).
    void extend(const list& items) const { _callmethod("extend", {items}); }
    /// l.insert(i, x).
    void insert(std::int64_t i, const object& x) const { _callmethod("insert", {i, x}); }
    /// l.pop(i): IndexError if empty or out of range.
    object pop(std::int64_t i = -1) const { return _callmethod("pop", {i}); }
    /// l.remove(x): ValueError if absent.
    void remove(const object& x) const { _callmethod("remove", {x}); }
    /// l.index(x): ValueError if absent.
    std::size_t index(const object& x) const {
        return static_cast<std::size_t>(_callmethod("index", {x}).as<std::int64_t>());
    }
    /// l.count(x).
    std::size_t count(const object& x) const {
        return static_cast<std::size_t>(_callmethod("count", {x}).as<std::int64_t>());
    }
    /// l.reverse().
    void reverse() const { _callmethod("reverse"); }
    /// l.sort(reverse=...): numbers, strings, bytes, lists (TypeError for a mix).
    void sort(bool reverse = false) const { _callmethod("sort", {reverse}); }
    /// l += items.
    const ListProxy& operator+=(const list& items) const {
        _callmethod("__iadd__", {items});
        return *this;
    }
    /// l *= n.
    const ListProxy& operator*=(std::int64_t n) const {
        _callmethod("__imul__", {n});
        return *this;
    }
    /// l + items: a plain list.
    list operator+(const list& items) const { return _callmethod("__add__", {items}).as<list>(); }
    /// l * n: a plain list.
    list operator*(std::int64_t n) const { return _callmethod("__mul__", {n}).as<list>(); }
    /// A copy of the list (iterate over it: for (auto& x : l.tolist())).
    list tolist() const { return _getvalue().as<list>(); }
};

/// A proxy of a managed Namespace: attributes by name (Python: NamespaceProxy).
class MPROC_API NamespaceProxy : public BaseProxy {
  public:
    MPROC_PROXY_CONSTRUCTORS(NamespaceProxy, "Namespace")

    /// ns.name, readable and assignable.
    class Attr {
      public:
        /// getattr(ns, name): AttributeError if missing.
        operator object() const { return ns_->get(name_); }  // NOLINT
        /// setattr(ns, name, value).
        Attr& operator=(const object& value) {
            ns_->set(name_, value);
            return *this;
        }
        /// The value.
        object get() const { return ns_->get(name_); }

      private:
        friend class NamespaceProxy;
        Attr(const NamespaceProxy* ns, std::string name) : ns_(ns), name_(std::move(name)) {}
        const NamespaceProxy* ns_;
        std::string name_;
    };

    /// ns[name] is ns.name (get or set).
    Attr operator[](std::string name) const { return Attr(this, std::move(name)); }
    /// getattr(ns, name): AttributeError if missing.
    object get(std::string_view name) const {
        return _callmethod("__getattribute__", {std::string(name)});
    }
    /// setattr(ns, name, value).
    void set(std::string_view name, const object& value) const {
        _callmethod("__setattr__", {std::string(name), value});
    }
    /// delattr(ns, name).
    void del(std::string_view name) const { _callmethod("__delattr__", {std::string(name)}); }
};

/// A proxy of a managed Lock, RLock, Semaphore or BoundedSemaphore (Python:
/// AcquirerProxy); works with std::lock_guard and std::unique_lock.
class MPROC_API AcquirerProxy : public BaseProxy {
  public:
    MPROC_PROXY_CONSTRUCTORS(AcquirerProxy, "Lock", "RLock", "Semaphore", "BoundedSemaphore")

    /// acquire(blocking, timeout): true if acquired.
    bool acquire(bool blocking = true, Timeout timeout = std::nullopt) const {
        list args{blocking};
        if (timeout) args.push_back(seconds(timeout));
        return _callmethod("acquire", std::move(args)).as<bool>();
    }
    /// release(): RemoteError (RuntimeError) if not held.
    void release() const { _callmethod("release"); }
    /// For std::lock_guard.
    void lock() const { acquire(); }
    /// For std::unique_lock.
    bool try_lock() const { return acquire(false); }
    /// For std::lock_guard.
    void unlock() const { release(); }
};

/// A proxy of a managed Condition (Python: ConditionProxy).
class MPROC_API ConditionProxy : public AcquirerProxy {
  public:
    ConditionProxy() = default;
    /// Rebuilds from a reference.
    explicit ConditionProxy(const object& ref) : AcquirerProxy(BaseProxy(ref).state()) {
        expect_typeid({"Condition"}, "ConditionProxy");
    }
    /// Over a state.
    explicit ConditionProxy(std::shared_ptr<managers::detail::ProxyState> s)
        : AcquirerProxy(managers::detail::with_class(std::move(s), "ConditionProxy")) {}

    /// wait(timeout): false on timeout. The lock must be held.
    bool wait(Timeout timeout = std::nullopt) const {
        return _callmethod("wait", {seconds(timeout)}).as<bool>();
    }
    /// wait_for(predicate, timeout): waits until predicate() holds (checked
    /// here, between waits, as Python's proxy does); its last value.
    template <class P>
    bool wait_for(P predicate, Timeout timeout = std::nullopt) const {
        using clock = std::chrono::steady_clock;
        std::optional<clock::time_point> end;
        if (timeout) end = clock::now() + std::chrono::duration_cast<clock::duration>(*timeout);
        bool result = predicate();
        while (!result) {
            Timeout left;
            if (end) {
                left = std::chrono::duration<double>(*end - clock::now());
                if (left->count() <= 0) break;
            }
            wait(left);
            result = predicate();
        }
        return result;
    }
    /// notify(n).
    void notify(int n = 1) const { _callmethod("notify", {n}); }
    /// notify_all().
    void notify_all() const { _callmethod("notify_all"); }
};

/// A proxy of a managed Event (Python: EventProxy).
class MPROC_API EventProxy : public BaseProxy {
  public:
    MPROC_PROXY_CONSTRUCTORS(EventProxy, "Event")
    /// is_set().
    bool is_set() const { return _callmethod("is_set").as<bool>(); }
    /// set().
    void set() const { _callmethod("set"); }
    /// clear().
    void clear() const { _callmethod("clear"); }
    /// wait(timeout): the flag at the end.
    bool wait(Timeout timeout = std::nullopt) const {
        return _callmethod("wait", {seconds(timeout)}).as<bool>();
    }
};

/// A proxy of a managed Barrier (Python: BarrierProxy).
class MPROC_API BarrierProxy : public BaseProxy {
  public:
    MPROC_PROXY_CONSTRUCTORS(BarrierProxy, "Barrier")
    /// wait(timeout): 0..parties-1; BrokenBarrierError if broken or timed out.
    int wait(Timeout timeout = std::nullopt) const {
        return static_cast<int>(_callmethod("wait", {seconds(timeout)}).as<std::int64_t>());
    }
    /// abort().
    void abort() const { _callmethod("abort"); }
    /// reset().
    void reset() const { _callmethod("reset"); }
    /// The number of parties.
    int parties() const { return attr_int("parties"); }
    /// The number of parties waiting now.
    int n_waiting() const { return attr_int("n_waiting"); }
    /// True if broken.
    bool broken() const { return _callmethod("__getattribute__", {"broken"}).as<bool>(); }

  private:
    int attr_int(const char* name) const {
        return static_cast<int>(_callmethod("__getattribute__", {name}).as<std::int64_t>());
    }
};

/// A proxy of a managed Queue or JoinableQueue of mp::object (Python's
/// queue.Queue through a manager).
class MPROC_API QueueProxy : public BaseProxy {
  public:
    MPROC_PROXY_CONSTRUCTORS(QueueProxy, "Queue", "JoinableQueue")
    /// put(item, block, timeout): Full if no room in time.
    void put(const object& item, bool block = true, Timeout timeout = std::nullopt) const {
        _callmethod("put", {item, block, seconds(timeout)});
    }
    /// get(block, timeout): Empty if nothing in time.
    object get(bool block = true, Timeout timeout = std::nullopt) const {
        return _callmethod("get", {block, seconds(timeout)});
    }
    /// get(timeout).
    object get(std::chrono::duration<double> timeout) const { return get(true, timeout); }
    /// put_nowait(item).
    void put_nowait(const object& item) const { put(item, false); }
    /// get_nowait().
    object get_nowait() const { return get(false); }
    /// qsize().
    std::size_t qsize() const {
        return static_cast<std::size_t>(_callmethod("qsize").as<std::int64_t>());
    }
    /// empty().
    bool empty() const { return _callmethod("empty").as<bool>(); }
    /// full().
    bool full() const { return _callmethod("full").as<bool>(); }
    /// task_done(): ValueError if called more times than items were put.
    void task_done() const { _callmethod("task_done"); }
    /// join(): waits until every item put has been marked done.
    void join() const { _callmethod("join"); }
};

/// A proxy of a managed Value (Python: ValueProxy).
class MPROC_API ValueProxy : public BaseProxy {
  public:
    MPROC_PROXY_CONSTRUCTORS(ValueProxy, "Value")
    /// The value.
    object get() const { return _callmethod("get"); }
    /// Sets the value.
    void set(const object& v) const { _callmethod("set", {v}); }
    /// The value (Python's .value).
    object value() const { return get(); }
    /// v = x.
    const ValueProxy& operator=(const object& v) const {
        set(v);
        return *this;
    }
};

/// A proxy of a managed Array (Python: ArrayProxy over array.array).
class MPROC_API ArrayProxy : public BaseProxy {
  public:
    MPROC_PROXY_CONSTRUCTORS(ArrayProxy, "Array")
    /// len(a).
    std::size_t len() const {
        return static_cast<std::size_t>(_callmethod("__len__").as<std::int64_t>());
    }
    /// a[i].
    object getitem(std::int64_t i) const { return _callmethod("__getitem__", {i}); }
    /// a[i] = v (TypeError if v does not fit the typecode).
    void setitem(std::int64_t i, const object& v) const { _callmethod("__setitem__", {i, v}); }
    /// a copy of the items.
    list tolist() const { return _callmethod("tolist").as<list>(); }
};

/// A proxy for any registered typeid: call methods by name (Python's AutoProxy).
class MPROC_API AutoProxy : public BaseProxy {
  public:
    using BaseProxy::BaseProxy;
};

namespace managers {

/// How a type is registered (BaseManager::register_).
struct TypeOptions {
    /// False: no create() for it; only a method of another registered type
    /// makes it (Python: create_method=False).
    bool create_method = true;
    /// The manager kind whose servers serve it.
    std::string_view registry = "BaseManager";
};

namespace detail {
struct ManagerImpl;
/// A method of a registered type, type-erased: self, arguments -> result.
using MethodFn = std::function<object(void* self, const list& args)>;
/// A method whose result becomes a new referent: self, arguments -> the
/// object and its C++ type (checked against the result typeid's type).
using ProduceFn =
    std::function<std::pair<std::shared_ptr<void>, const std::type_info*>(void*, const list&)>;
/// One exposed method: a value method (fn) or a referent-making one
/// (produce, with the typeid of what it makes).
struct MethodEntry {
    std::string name;
    MethodFn fn;
    std::string result_typeid;
    ProduceFn produce;
};
/// What register_type records.
struct MPROC_API TypeEntry {
    std::function<std::shared_ptr<void>(const list& args)> factory;
    std::vector<MethodEntry> methods;
    const std::type_info* type = nullptr;  ///< the C++ type of the referents
    bool create_method = true;
};
MPROC_API void register_type(std::string_view registry, std::string type_id, TypeEntry entry);
MPROC_API void register_builtin(std::string_view registry, std::string type_id, std::string builtin,
                                bool shared);
[[noreturn]] MPROC_API void wrong_arg_count(std::string_view name, std::size_t want,
                                            std::size_t got);
template <class... P, std::size_t... I>
std::tuple<std::decay_t<P>...> typed_args(const list& a, std::index_sequence<I...>) {
    return std::tuple<std::decay_t<P>...>{from_object<std::decay_t<P>>(a[I])...};
}
}  // namespace detail

/// An exposed method of T, named once: {"add", &Maths::add}. Arguments and
/// result cross through the serializer, typed.
template <class T>
struct Method {
    std::string name;           ///< the name clients call
    detail::MethodFn fn;        ///< the call (a value method)
    std::string result_typeid;  ///< the typeid of the referent it makes, if any
    detail::ProduceFn produce;  ///< the call (a referent-making method)

    /// A member function.
    template <class R, class... P>
    Method(std::string n, R (T::*f)(P...)) : name(std::move(n)), fn(make(name, f)) {}
    /// A const member function.
    template <class R, class... P>
    Method(std::string n, R (T::*f)(P...) const) : name(std::move(n)), fn(make(name, f)) {}
    /// A member function whose result (a U, or a std::shared_ptr<U>) becomes
    /// a new referent of typeid result_type, registered for U; the caller
    /// gets a proxy of it (Python: method_to_typeid={name: result_type}):
    /// {"__iter__", &Foo::iter, "Iterator"}, then foo.call<IteratorProxy>("__iter__").
    template <class R, class... P>
    Method(std::string n, R (T::*f)(P...), std::string result_type)
        : name(std::move(n)), result_typeid(std::move(result_type)), produce(producer(name, f)) {}
    /// The same for a const member function.
    template <class R, class... P>
    Method(std::string n, R (T::*f)(P...) const, std::string result_type)
        : name(std::move(n)), result_typeid(std::move(result_type)), produce(producer(name, f)) {}

  private:
    // Checks the count, converts the arguments to P..., calls self->*f.
    template <class F, class... P>
    static decltype(auto) invoke(const std::string& name, void* self, F f, const list& a) {
        if (a.size() != sizeof...(P)) detail::wrong_arg_count(name, sizeof...(P), a.size());
        auto args = detail::typed_args<P...>(a, std::index_sequence_for<P...>{});
        return std::apply(
            [&](auto&&... x) -> decltype(auto) {
                return (static_cast<T*>(self)->*f)(std::move(x)...);
            },
            std::move(args));
    }
    template <class X>
    struct shared {
        using element = X;
        static std::shared_ptr<X> make(X&& x) { return std::make_shared<X>(std::move(x)); }
    };
    template <class X>
    struct shared<std::shared_ptr<X>> {
        using element = X;
        static std::shared_ptr<X> make(std::shared_ptr<X>&& x) { return std::move(x); }
    };
    template <class F, class R, class... P>
    static detail::ProduceFn produce_bind(std::string name, F f) {
        using S = shared<std::decay_t<R>>;
        return [name, f](void* self,
                         const list& a) -> std::pair<std::shared_ptr<void>, const std::type_info*> {
            return {std::shared_ptr<void>(S::make(invoke<F, P...>(name, self, f, a))),
                    &typeid(typename S::element)};
        };
    }
    template <class R, class... P>
    static detail::ProduceFn producer(const std::string& name, R (T::*f)(P...)) {
        return produce_bind<decltype(f), R, P...>(name, f);
    }
    template <class R, class... P>
    static detail::ProduceFn producer(const std::string& name, R (T::*f)(P...) const) {
        return produce_bind<decltype(f), R, P...>(name, f);
    }
    template <class F, class R, class... P>
    static detail::MethodFn bind(std::string name, F f) {
        return [name, f](void* self, const list& a) -> object {
            if constexpr (std::is_void_v<R>) {
                invoke<F, P...>(name, self, f, a);
                return None;
            } else {
                return to_object(invoke<F, P...>(name, self, f, a));
            }
        };
    }
    template <class R, class... P>
    static detail::MethodFn make(const std::string& name, R (T::*f)(P...)) {
        return bind<decltype(f), R, P...>(name, f);
    }
    template <class R, class... P>
    static detail::MethodFn make(const std::string& name, R (T::*f)(P...) const) {
        return bind<decltype(f), R, P...>(name, f);
    }
};

}  // namespace managers

/// A manager: a server for registered types, started in a child process
/// (start), run in this one (get_server().serve_forever()), or reached by
/// address (connect) (Python: multiprocessing.managers.BaseManager).
class MPROC_API BaseManager {
  public:
    /// A manager listening on a new AF_UNIX address, with this process's
    /// authkey, using the default context.
    BaseManager();
    /// A manager at address with authkey (Python: BaseManager(address, authkey)).
    explicit BaseManager(connection::Address address, connection::AuthKey authkey = {});
    /// The same, starting its server through ctx's start method.
    BaseManager(const Context& ctx, connection::Address address = {},
                connection::AuthKey authkey = {});
    BaseManager(BaseManager&&) noexcept;
    BaseManager& operator=(BaseManager&&) noexcept;
    BaseManager(const BaseManager&) = delete;
    BaseManager& operator=(const BaseManager&) = delete;
    /// Shuts down a server this object started.
    virtual ~BaseManager();

    /// Starts the server in a child process (ProcessError if already started).
    void start();
    /// Starts the server, which first runs initializer(initargs...) in its
    /// process (Python: start(initializer, initargs)). Under spawn and
    /// forkserver the initializer must be a plain function with serializable
    /// arguments (as a Process target); under fork any callable. If it
    /// throws, start() throws ManagerError with its message.
    template <class F, class... A>
    requires std::invocable < std::decay_t<F>
    &, std::decay_t<A>&... > void start(F&& initializer, A&&... initargs) {
        if (start_method() == "fork") {
            start_with({}, [f = std::decay_t<F>(std::forward<F>(initializer)),
                            args = std::tuple<std::decay_t<A>...>(
                                std::forward<A>(initargs)...)]() mutable { std::apply(f, args); });
        } else if constexpr (mproc::detail::PlainFunction<F> &&
                             (Serializable<std::decay_t<A>> && ...)) {
            auto& e = managers::detail::scratch_encoder();
            e.clear();
            auto fn = +initializer;
            mproc::encode(e, &mproc::detail::exec_trampoline<decltype(fn), std::decay_t<A>...>);
            mproc::encode(e, fn);
            mproc::encode(e, std::tuple<std::decay_t<A>...>(std::forward<A>(initargs)...));
            auto d = e.data();
            start_with(bytes(d.begin(), d.end()), {});
        } else {
            throw ValueError(
                "mproc: a manager's initializer must be a plain function with serializable "
                "arguments under the " +
                start_method() + " start method");
        }
    }
    /// Connects to a running server at address (ManagerError if none listens
    /// there, AuthenticationError if the key differs).
    void connect();
    /// Stops a server this object started and waits for it (up to 1 s, then
    /// terminates it); idempotent.
    void shutdown();
    /// Waits for the server process to end.
    void join(Timeout timeout = std::nullopt);
    /// The server's address (known once started or connected).
    const connection::Address& address() const;
    /// The server process's name ("SyncManager-1"); empty before start().
    std::string process_name() const;
    /// The server process's pid; nullopt unless this object started it.
    std::optional<int> pid() const;

    /// Registers type T under type_id for managers of class `registry`
    /// ("BaseManager" by default): a default-constructed T per create(), or
    /// what factory returns (a shared_ptr: return the same one to share an
    /// object, as the docs' get_queue). Call it at namespace scope (a static
    /// initializer) so that a spawned server process has it too.
    template <class T>
    static bool register_(std::string type_id, std::vector<managers::Method<T>> exposed,
                          std::function<std::shared_ptr<T>()> factory = {},
                          std::string_view registry = "BaseManager") {
        return register_<T>(std::move(type_id), std::move(exposed),
                            managers::TypeOptions{.registry = registry}, std::move(factory));
    }
    /// The same with options: create_method = false registers a type that
    /// only a method of another type makes ({"name", &T::f, "Typeid"}); a
    /// create() of it is refused, as Python's manager has no method for it.
    template <class T>
    static bool register_(std::string type_id, std::vector<managers::Method<T>> exposed,
                          const managers::TypeOptions& options,
                          std::function<std::shared_ptr<T>()> factory = {}) {
        managers::detail::TypeEntry e;
        if (factory)
            e.factory = [factory](const list&) { return std::shared_ptr<void>(factory()); };
        else if constexpr (std::is_default_constructible_v<T>)
            e.factory = [](const list&) { return std::shared_ptr<void>(std::make_shared<T>()); };
        e.type = &typeid(T);
        e.create_method = options.create_method && e.factory;
        for (auto& m : exposed)
            e.methods.push_back({std::move(m.name), std::move(m.fn), std::move(m.result_typeid),
                                 std::move(m.produce)});
        managers::detail::register_type(options.registry, std::move(type_id), std::move(e));
        return true;
    }
    /// Registers type_id as one of SyncManager's types ("Queue", "dict", ...):
    /// with shared, every create() gives the same object (the docs' get_queue).
    static bool register_builtin(std::string type_id, std::string builtin, bool shared = false,
                                 std::string_view registry = "BaseManager") {
        managers::detail::register_builtin(registry, std::move(type_id), std::move(builtin),
                                           shared);
        return true;
    }
    /// Creates a referent of a registered typeid (Python: manager.typeid(args...)).
    template <class P = AutoProxy, class... A>
    P create(std::string_view type_id, const A&... args) {
        return P(_create(type_id, list{managers::to_object(args)...}));
    }
    /// The server object, to run in this process (Python: get_server()).
    class Server {
      public:
        /// Serves until a client calls shutdown, then ends this process (as
        /// Python's serve_forever does with sys.exit).
        [[noreturn]] void serve_forever();
        /// The bound address.
        const connection::Address& address() const;
        Server(Server&&) noexcept;
        ~Server();

      private:
        friend class BaseManager;
        struct Impl;
        explicit Server(std::unique_ptr<Impl> impl);
        std::unique_ptr<Impl> impl_;
    };
    /// Binds the manager's address and returns its server (not started).
    Server get_server();

    /// Creates a referent of a registered typeid in the server; returns its state.
    std::shared_ptr<managers::detail::ProxyState> _create(std::string_view type_id, list args = {});
    /// The number of referents alive in the server (Python: _number_of_objects).
    std::size_t _number_of_objects();
    /// One line per referent: id, typeid and reference count (Python: _debug_info).
    std::string _debug_info();

  protected:
    /// The class name, used for the server process's name ("BaseManager").
    virtual std::string_view class_name() const { return "BaseManager"; }

  private:
    std::string start_method() const;
    void start_with(bytes initializer, std::function<void()> local_initializer);
    std::unique_ptr<managers::detail::ManagerImpl> impl_;
};

/// A manager of the standard types (Python: multiprocessing.managers.SyncManager).
class MPROC_API SyncManager : public BaseManager {
  public:
    using BaseManager::BaseManager;

    /// A new managed dict (a copy of init).
    DictProxy dict(const ::mproc::dict& init = {}) { return DictProxy(_create("dict", {init})); }
    /// A new managed list (a copy of init).
    ListProxy list(const ::mproc::list& init = {}) { return ListProxy(_create("list", {init})); }
    /// A new managed list of a range's items.
    template <class R>
    requires(!std::is_convertible_v<R, const ::mproc::list&>) && requires(R&& r) { std::begin(r); }
    ListProxy list(R&& range) {
        ::mproc::list l;
        for (auto&& x : range) l.push_back(object(x));
        return list(static_cast<const ::mproc::list&>(l));
    }
    /// A new managed Namespace with these attributes.
    NamespaceProxy Namespace(const ::mproc::dict& attrs = {}) {
        return NamespaceProxy(_create("Namespace", {attrs}));
    }
    /// A new managed Lock.
    AcquirerProxy Lock() { return AcquirerProxy(_create("Lock")); }
    /// A new managed RLock.
    AcquirerProxy RLock() { return AcquirerProxy(_create("RLock")); }
    /// A new managed Semaphore.
    AcquirerProxy Semaphore(int value = 1) { return AcquirerProxy(_create("Semaphore", {value})); }
    /// A new managed BoundedSemaphore.
    AcquirerProxy BoundedSemaphore(int value = 1) {
        return AcquirerProxy(_create("BoundedSemaphore", {value}));
    }
    /// A new managed Condition over a new RLock, or over a managed lock of this manager.
    ConditionProxy Condition(const AcquirerProxy& lock = {}) {
        return ConditionProxy(_create("Condition", {lock ? lock.ref() : object(None)}));
    }
    /// A new managed Event.
    EventProxy Event() { return EventProxy(_create("Event")); }
    /// A new managed Barrier (the action, if any, is Python-only: not supported).
    BarrierProxy Barrier(int parties, Timeout timeout = std::nullopt) {
        return BarrierProxy(_create("Barrier", {parties, seconds(timeout)}));
    }
    /// A new managed Queue of mp::object (maxsize 0: unbounded).
    QueueProxy Queue(int maxsize = 0) { return QueueProxy(_create("Queue", {maxsize})); }
    /// A new managed JoinableQueue.
    QueueProxy JoinableQueue(int maxsize = 0) {
        return QueueProxy(_create("JoinableQueue", {maxsize}));
    }
    /// A new managed Value: typecode as Python's ("i", "d", ...), and a value.
    ValueProxy Value(std::string_view typecode, const object& value) {
        return ValueProxy(_create("Value", {std::string(typecode), value}));
    }
    /// A new managed Array: typecode and items.
    ArrayProxy Array(std::string_view typecode, const ::mproc::list& items) {
        return ArrayProxy(_create("Array", {std::string(typecode), items}));
    }

  protected:
    std::string_view class_name() const override { return "SyncManager"; }

  private:
    static object seconds(Timeout t) { return managers::detail::seconds(t); }
};

/// A started SyncManager using the default context (Python: multiprocessing.Manager()).
MPROC_API SyncManager Manager();

namespace managers::detail {
/// Writes a proxy's token (and its authkey when not this process's).
MPROC_API void encode_proxy(Encoder& e, const BaseProxy& p);
/// Reads a token and makes a proxy state (taking a reference).
MPROC_API std::shared_ptr<ProxyState> decode_proxy(Decoder& d);
}  // namespace managers::detail

/// Proxies cross into children (Process arguments, Queues, Pipes) as their
/// token; the receiver takes a reference of its own.
template <class P>
requires std::derived_from<P, BaseProxy>
struct codec<P> {
    /// Writes the token.
    static void encode(Encoder& e, const P& p) { managers::detail::encode_proxy(e, p); }
    /// Rebuilds the proxy.
    static P decode(Decoder& d) { return P(managers::detail::decode_proxy(d)); }
};

}  // namespace mproc

/// print(proxy) shows the referent's str, as Python's; use .repr() for the proxy's repr.
template <class P>
requires std::derived_from<P, mproc::BaseProxy>
struct fmt::formatter<P> : fmt::formatter<std::string_view> {
    /// Formats str().
    auto format(const P& p, fmt::format_context& ctx) const {
        return fmt::formatter<std::string_view>::format(p.str(), ctx);
    }
};

/// print(d[k]) shows the value.
template <>
struct fmt::formatter<mproc::DictProxy::Item> : fmt::formatter<mproc::object> {
    /// Formats the value.
    auto format(const mproc::DictProxy::Item& i, fmt::format_context& ctx) const {
        return fmt::formatter<mproc::object>::format(i.get(), ctx);
    }
};

/// print(l[i]) shows the value.
template <>
struct fmt::formatter<mproc::ListProxy::Item> : fmt::formatter<mproc::object> {
    /// Formats the value.
    auto format(const mproc::ListProxy::Item& i, fmt::format_context& ctx) const {
        return fmt::formatter<mproc::object>::format(i.get(), ctx);
    }
};

/// print(ns.x) shows the value.
template <>
struct fmt::formatter<mproc::NamespaceProxy::Attr> : fmt::formatter<mproc::object> {
    /// Formats the value.
    auto format(const mproc::NamespaceProxy::Attr& a, fmt::format_context& ctx) const {
        return fmt::formatter<mproc::object>::format(a.get(), ctx);
    }
};
