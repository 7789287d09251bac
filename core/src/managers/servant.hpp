// What the server keeps for each referent (internal): a Servant answers the
// methods its typeid exposes, by name; nothing else is ever run from a
// message. Errors are thrown as PyError (Python's exception type name and
// message), which the server sends back as "#ERROR".
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include <mproc/object.hpp>

namespace mproc::managers::detail {

class Server;

/// An exception for the caller, by Python's type name.
class PyError : public std::runtime_error {
  public:
    PyError(std::string type, const std::string& message)
        : std::runtime_error(message), type_(std::move(type)) {}
    /// Python's exception type name.
    const std::string& type() const noexcept { return type_; }

  private:
    std::string type_;
};

class Servant;

/// Who is calling: the connection (owner of RLocks and Conditions) and the
/// server; a method registered with a result typeid leaves the new referent
/// in produced (the server adds it and replies with a reference).
struct CallContext {
    std::uint64_t connection = 0;
    Server* server = nullptr;
    std::optional<std::pair<std::string, std::shared_ptr<Servant>>> produced;
};

/// A referent.
class Servant {
  public:
    virtual ~Servant();
    /// Calls an exposed method; AttributeError (Python's text) for any
    /// other. (__repr__ and __str__ never come here: the server answers them.)
    virtual object call(std::string_view method, list& args, CallContext& cx) = 0;
    /// Python's repr of the referent.
    virtual std::string repr() = 0;
    /// Python's str of the referent.
    virtual std::string str() { return repr(); }
    /// A copy of the referent's value (_getvalue); TypeError if it has none.
    virtual object value();
    /// The names call() accepts, for the "not in exposed" error.
    virtual std::vector<std::string_view> exposed() const = 0;
    /// Python's type name of the referent ("dict").
    virtual std::string_view type_name() const = 0;

  protected:
    /// Python's error for a method not exposed.
    [[noreturn]] void not_exposed(std::string_view method) const;
};

/// A referent guarded by one mutex: repr and value are read under it (the
/// server answers __repr__ and __str__ from them, for every typeid).
class GuardedServant : public Servant {
  public:
    std::string repr() final {
        std::lock_guard g(mu_);
        return repr_locked();
    }
    object value() final {
        std::lock_guard g(mu_);
        return value_locked();
    }

  protected:
    /// Python's repr, with mu_ held.
    virtual std::string repr_locked() const = 0;
    /// A copy of the value, with mu_ held (TypeError by default: no value).
    virtual object value_locked() { return Servant::value(); }
    std::mutex mu_;
};

/// Makes a referent from the create() arguments.
using Factory = std::function<std::shared_ptr<Servant>(list& args, CallContext& cx)>;
/// What a registry holds for a typeid.
struct TypeSlot {
    TypeSlot() = default;
    template <class F>
    requires std::is_convertible_v<F, Factory> TypeSlot(F f)  // NOLINT: r["dict"] = lambda
        : factory(std::move(f)) {}
    /// Makes a referent from create() arguments (null: no create()).
    Factory factory;
    /// False: create() is refused (only a method makes it).
    bool create_method = true;
    /// Wraps an object a method made (registered C++ types only).
    std::function<std::shared_ptr<Servant>(std::shared_ptr<void>)> wrap;
    /// The C++ type wrap takes.
    const std::type_info* type = nullptr;
    std::shared_ptr<Servant> operator()(list& args, CallContext& cx) const {
        return factory(args, cx);
    }
};
/// typeid -> what makes its referents.
using Registry = std::map<std::string, TypeSlot, std::less<>>;

/// The types of a SyncManager.
const Registry& sync_registry();
/// Adds the sync primitives and Queue to r (sync_servants.cpp).
void add_sync_types(Registry& r);

// Argument helpers: Python's TypeError when missing or of the wrong type.
const object& arg(const list& args, std::size_t i, std::string_view method);
const object& arg_or(const list& args, std::size_t i, const object& def);
std::int64_t arg_int(const list& args, std::size_t i, std::string_view method);
/// A timeout: None -> nullopt, a number -> seconds (negative: ValueError as Python's).
std::optional<std::chrono::duration<double>> arg_timeout(const list& args, std::size_t i);
bool truthy(const object& o);

/// Python's repr of a value in a referent: a stored proxy shows as Python
/// shows it (<ListProxy object, typeid 'list' at 0x...>), not as its tuple.
std::string py_repr(const object& o);

/// Python's == (1 == 1.0 == True), for list search and dict keys.
bool py_eq(const object& a, const object& b);
/// Python's < for sort; TypeError between kinds Python does not order.
bool py_less(const object& a, const object& b);

}  // namespace mproc::managers::detail
