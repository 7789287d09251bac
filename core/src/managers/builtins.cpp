// The data referents of a SyncManager: dict, list, Namespace, Value, Array.
#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "managers/protocol.hpp"
#include "managers/servant.hpp"

namespace mproc::managers::detail {

Servant::~Servant() = default;

object Servant::value() {
    throw PyError("TypeError", fmt::format("cannot copy a '{}' object", type_name()));
}

void Servant::not_exposed(std::string_view method) const {
    std::string names;
    for (auto n : exposed()) names += (names.empty() ? "" : ", ") + object(n).repr();
    throw PyError("AttributeError", fmt::format("method '{}' of <class '{}'> object is not in "
                                                "exposed=({})",
                                                method, type_name(), names));
}

const object& arg(const list& args, std::size_t i, std::string_view method) {
    if (i >= args.size())
        throw PyError("TypeError", fmt::format("{}() missing required argument {}", method, i + 1));
    return args[i];
}

const object& arg_or(const list& args, std::size_t i, const object& def) {
    return i < args.size() ? args[i] : def;
}

std::int64_t arg_int(const list& args, std::size_t i, std::string_view method) {
    const object& o = arg(args, i, method);
    if (auto* v = o.get_if<std::int64_t>()) return *v;
    if (auto* b = o.get_if<bool>()) return *b;
    throw PyError("TypeError",
                  fmt::format("'{}' object cannot be interpreted as an integer", o.type_name()));
}

std::optional<std::chrono::duration<double>> arg_timeout(const list& args, std::size_t i) {
    if (i >= args.size() || args[i].is_none()) return std::nullopt;
    double s = 0;
    if (auto* d = args[i].get_if<double>())
        s = *d;
    else if (auto* n = args[i].get_if<std::int64_t>())
        s = double(*n);
    else
        throw PyError("TypeError", "timeout must be a number or None");
    if (std::isnan(s)) throw PyError("ValueError", "timeout must not be NaN");
    return std::chrono::duration<double>(std::max(s, 0.0));
}

bool truthy(const object& o) {
    return std::visit(
        [](const auto& v) -> bool {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, none_t>)
                return false;
            else if constexpr (std::is_same_v<T, bool>)
                return v;
            else if constexpr (std::is_same_v<T, std::int64_t> || std::is_same_v<T, double>)
                return v != 0;
            else
                return !v.empty();
        },
        o.value());
}

namespace {

// The proxy class Python's SyncManager makes for a typeid.
std::string proxy_class(const std::string& type_id) {
    static const std::map<std::string, std::string, std::less<>> names = {
        {"dict", "DictProxy"},
        {"list", "ListProxy"},
        {"Namespace", "NamespaceProxy"},
        {"Lock", "AcquirerProxy"},
        {"RLock", "AcquirerProxy"},
        {"Semaphore", "AcquirerProxy"},
        {"BoundedSemaphore", "AcquirerProxy"},
        {"Condition", "ConditionProxy"},
        {"Event", "EventProxy"},
        {"Barrier", "BarrierProxy"},
        {"Value", "ValueProxy"},
        {"Array", "ArrayProxy"}};
    auto it = names.find(type_id);
    return it != names.end() ? it->second : "AutoProxy[" + type_id + "]";
}

std::string join_repr(const std::vector<object>& v, const char* open, const char* close,
                      bool tuple) {
    std::string out = open;
    for (std::size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + py_repr(v[i]);
    if (tuple && v.size() == 1) out += ",";
    return out + close;
}

}  // namespace

std::string py_repr(const object& o) {
    if (auto ref = parse_ref(o))
        return fmt::format("<{} object, typeid {} at {:#x}>", proxy_class(ref->type_id),
                           object(ref->type_id).repr(), ref->id);
    if (auto* l = o.get_if<list>()) return join_repr(*l, "[", "]", false);
    if (auto* t = o.get_if<tuple>()) return join_repr(*t, "(", ")", true);
    if (auto* d = o.get_if<dict>()) {
        std::string out = "{";
        const char* sep = "";
        for (auto& [k, x] : *d) {
            out += sep + py_repr(k) + ": " + py_repr(x);
            sep = ", ";
        }
        return out + "}";
    }
    return o.repr();
}

namespace {

std::optional<double> number(const object& o) {
    if (auto* b = o.get_if<bool>()) return *b ? 1.0 : 0.0;
    if (auto* i = o.get_if<std::int64_t>()) return double(*i);
    if (auto* d = o.get_if<double>()) return *d;
    return std::nullopt;
}

const std::vector<object>* sequence(const object& o) {
    if (auto* l = o.get_if<list>()) return l;
    if (auto* t = o.get_if<tuple>()) return t;
    return nullptr;
}

}  // namespace

bool py_eq(const object& a, const object& b) {
    if (a.value().index() == b.value().index()) return a == b;
    auto x = number(a), y = number(b);
    if (x && y) {
        // Exact for integers beyond 2^53 too: compare as integers when both are.
        auto* i = a.get_if<std::int64_t>();
        auto* j = b.get_if<std::int64_t>();
        if (i && j) return *i == *j;
        return *x == *y;
    }
    return false;
}

bool py_less(const object& a, const object& b) {
    auto x = number(a), y = number(b);
    if (x && y) {
        auto* i = a.get_if<std::int64_t>();
        auto* j = b.get_if<std::int64_t>();
        if (i && j) return *i < *j;
        return *x < *y;
    }
    if (auto* s = a.get_if<std::string>())
        if (auto* t = b.get_if<std::string>()) return *s < *t;
    if (auto* s = a.get_if<bytes>())
        if (auto* t = b.get_if<bytes>()) return *s < *t;
    auto* u = sequence(a);
    auto* v = sequence(b);
    if (u && v && a.value().index() == b.value().index()) {
        for (std::size_t k = 0; k < u->size() && k < v->size(); ++k) {
            if (py_eq((*u)[k], (*v)[k])) continue;
            return py_less((*u)[k], (*v)[k]);
        }
        return u->size() < v->size();
    }
    throw PyError("TypeError", fmt::format("'<' not supported between instances of '{}' and '{}'",
                                           a.type_name(), b.type_name()));
}

namespace {

// Python's index rules: negative counts from the end.
std::size_t normalize(std::int64_t i, std::size_t n, const char* what) {
    if (i < 0) i += std::int64_t(n);
    if (i < 0 || std::size_t(i) >= n) throw PyError("IndexError", what);
    return std::size_t(i);
}

std::int64_t clamp_slice(const object& o, std::int64_t n, std::int64_t def) {
    if (o.is_none()) return def;
    std::int64_t i = o.as<std::int64_t>();
    if (i < 0) i = std::max<std::int64_t>(i + n, 0);
    return std::min(i, n);
}

class DictServant final : public GuardedServant {
  public:
    explicit DictServant(dict d) : d_(std::move(d)) {}

    object call(std::string_view m, list& a, CallContext&) override {
        std::lock_guard g(mu_);
        if (m == "__getitem__") {
            if (auto* v = find(arg(a, 0, m))) return *v;
            throw PyError("KeyError", a[0].repr());
        }
        if (m == "__setitem__") {
            set(arg(a, 0, m), arg(a, 1, m));
            return None;
        }
        if (m == "__delitem__") {
            if (!erase(arg(a, 0, m))) throw PyError("KeyError", a[0].repr());
            return None;
        }
        if (m == "__contains__") return find(arg(a, 0, m)) != nullptr;
        if (m == "__len__") return std::int64_t(d_.size());
        if (m == "get") {
            auto* v = find(arg(a, 0, m));
            return v ? *v : arg_or(a, 1, None);
        }
        if (m == "keys") {
            list l;
            for (auto& [k, v] : d_) l.push_back(k);
            return l;
        }
        if (m == "values") {
            list l;
            for (auto& [k, v] : d_) l.push_back(v);
            return l;
        }
        if (m == "items" || m == "copy") return d_;
        if (m == "clear") {
            d_.clear();
            return None;
        }
        if (m == "pop") {
            const object& k = arg(a, 0, m);
            for (auto it = d_.begin(); it != d_.end(); ++it)
                if (py_eq(it->first, k)) {
                    object v = std::move(it->second);
                    d_.erase(it);
                    return v;
                }
            if (a.size() > 1) return a[1];
            throw PyError("KeyError", k.repr());
        }
        if (m == "popitem") {
            if (d_.empty()) throw PyError("KeyError", "'popitem(): dictionary is empty'");
            auto kv = std::move(d_.back());
            d_.pop_back();
            return list{std::move(kv.first), std::move(kv.second)};
        }
        if (m == "setdefault") {
            if (auto* v = find(arg(a, 0, m))) return *v;
            set(a[0], arg_or(a, 1, None));
            return arg_or(a, 1, None);
        }
        if (m == "update") {
            const object& o = arg(a, 0, m);
            if (auto* other = o.get_if<dict>()) {
                for (auto& [k, v] : *other) set(k, v);
                return None;
            }
            throw PyError("TypeError", fmt::format("'{}' object is not a dict", o.type_name()));
        }
        not_exposed(m);
    }
    std::string repr_locked() const override { return py_repr(object(d_)); }
    object value_locked() override { return d_; }
    std::vector<std::string_view> exposed() const override {
        return {"__contains__", "__delitem__", "__getitem__", "__len__", "__setitem__",
                "clear",        "copy",        "get",         "items",   "keys",
                "pop",          "popitem",     "setdefault",  "update",  "values"};
    }
    std::string_view type_name() const override { return "dict"; }

  private:
    object* find(const object& k) {
        for (auto& [key, v] : d_)
            if (py_eq(key, k)) return &v;
        return nullptr;
    }
    void set(const object& k, const object& v) {
        if (k.is<list>() || k.is<dict>())
            throw PyError("TypeError", fmt::format("unhashable type: '{}'", k.type_name()));
        if (auto* p = find(k))
            *p = v;
        else
            d_.emplace_back(k, v);
    }
    bool erase(const object& k) {
        for (auto it = d_.begin(); it != d_.end(); ++it)
            if (py_eq(it->first, k)) {
                d_.erase(it);
                return true;
            }
        return false;
    }
    dict d_;
};

class ListServant final : public GuardedServant {
  public:
    explicit ListServant(list l) : l_(std::move(l)) {}

    object call(std::string_view m, list& a, CallContext&) override {
        std::lock_guard g(mu_);
        if (m == "__getitem__")
            return l_[normalize(arg_int(a, 0, m), l_.size(), "list index out of range")];
        if (m == "__getslice__") {
            const auto n = std::int64_t(l_.size());
            auto b = clamp_slice(arg_or(a, 0, None), n, 0),
                 e = clamp_slice(arg_or(a, 1, None), n, n);
            return b < e ? list(l_.begin() + b, l_.begin() + e) : list{};
        }
        if (m == "__setitem__") {
            l_[normalize(arg_int(a, 0, m), l_.size(), "list assignment index out of range")] =
                arg(a, 1, m);
            return None;
        }
        if (m == "__delitem__") {
            l_.erase(l_.begin() +
                     normalize(arg_int(a, 0, m), l_.size(), "list assignment index out of range"));
            return None;
        }
        if (m == "__len__") return std::int64_t(l_.size());
        if (m == "__contains__") return position(arg(a, 0, m)).has_value();
        if (m == "append") {
            l_.push_back(arg(a, 0, m));
            return None;
        }
        if (m == "extend" || m == "__iadd__") {
            auto* items = sequence(arg(a, 0, m));
            if (!items)
                throw PyError("TypeError",
                              fmt::format("'{}' object is not iterable", a[0].type_name()));
            auto copy = *items;  // l.extend(l) reads a copy, as Python
            l_.insert(l_.end(), copy.begin(), copy.end());
            return None;
        }
        if (m == "insert") {
            const auto n = std::int64_t(l_.size());
            auto i = arg_int(a, 0, m);
            if (i < 0) i = std::max<std::int64_t>(i + n, 0);
            l_.insert(l_.begin() + std::min(i, n), arg(a, 1, m));
            return None;
        }
        if (m == "pop") {
            if (l_.empty()) throw PyError("IndexError", "pop from empty list");
            auto i =
                normalize(a.empty() ? -1 : arg_int(a, 0, m), l_.size(), "pop index out of range");
            object v = std::move(l_[i]);
            l_.erase(l_.begin() + i);
            return v;
        }
        if (m == "remove") {
            auto i = position(arg(a, 0, m));
            if (!i) throw PyError("ValueError", "list.remove(x): x not in list");
            l_.erase(l_.begin() + *i);
            return None;
        }
        if (m == "index") {
            auto i = position(arg(a, 0, m));
            if (!i) throw PyError("ValueError", a[0].repr() + " is not in list");
            return std::int64_t(*i);
        }
        if (m == "count")
            return std::int64_t(std::count_if(l_.begin(), l_.end(),
                                              [&](const object& x) { return py_eq(x, a[0]); }));
        if (m == "reverse") {
            std::reverse(l_.begin(), l_.end());
            return None;
        }
        if (m == "sort") {
            const bool rev = truthy(arg_or(a, 0, false));
            std::stable_sort(l_.begin(), l_.end(), [&](const object& x, const object& y) {
                return rev ? py_less(y, x) : py_less(x, y);
            });
            return None;
        }
        if (m == "__add__") {
            auto* items = sequence(arg(a, 0, m));
            if (!items) throw PyError("TypeError", "can only concatenate list to list");
            list r = l_;
            r.insert(r.end(), items->begin(), items->end());
            return r;
        }
        if (m == "__mul__" || m == "__imul__") {
            list r;
            for (std::int64_t k = 0, n = arg_int(a, 0, m); k < n; ++k)
                r.insert(r.end(), l_.begin(), l_.end());
            if (m == "__mul__") return r;
            l_ = std::move(r);
            return None;
        }
        not_exposed(m);
    }
    std::string repr_locked() const override { return py_repr(object(l_)); }
    object value_locked() override { return l_; }
    std::vector<std::string_view> exposed() const override {
        return {"__add__", "__contains__", "__delitem__", "__getitem__", "__len__",
                "__mul__", "__setitem__",  "append",      "count",       "extend",
                "index",   "insert",       "pop",         "remove",      "reverse",
                "sort",    "__imul__",     "__iadd__",    "__getslice__"};
    }
    std::string_view type_name() const override { return "list"; }

  private:
    std::optional<std::size_t> position(const object& x) const {
        for (std::size_t i = 0; i < l_.size(); ++i)
            if (py_eq(l_[i], x)) return i;
        return std::nullopt;
    }
    list l_;
};

class NamespaceServant final : public GuardedServant {
  public:
    explicit NamespaceServant(dict attrs) : d_(std::move(attrs)) {}

    object call(std::string_view m, list& a, CallContext&) override {
        std::lock_guard g(mu_);
        if (m == "__getattribute__") {
            const auto& name = name_arg(a, m);
            if (auto* v = d_.find(name)) return *v;
            throw PyError("AttributeError",
                          fmt::format("'Namespace' object has no attribute '{}'", name));
        }
        if (m == "__setattr__") {
            d_[name_arg(a, m)] = arg(a, 1, m);
            return None;
        }
        if (m == "__delattr__") {
            const auto& name = name_arg(a, m);
            for (auto it = d_.begin(); it != d_.end(); ++it)
                if (it->first == object(name)) {
                    d_.erase(it);
                    return None;
                }
            throw PyError("AttributeError", name);
        }
        not_exposed(m);
    }
    object value_locked() override { return d_; }
    std::vector<std::string_view> exposed() const override {
        return {"__getattribute__", "__setattr__", "__delattr__"};
    }
    std::string_view type_name() const override { return "Namespace"; }

  private:
    static const std::string& name_arg(const list& a, std::string_view m) {
        auto* s = arg(a, 0, m).get_if<std::string>();
        if (!s) throw PyError("TypeError", "attribute name must be string");
        return *s;
    }
    // Python's Namespace repr: public attributes, sorted, as name=repr.
    std::string repr_locked() const override {
        std::vector<std::string> items;
        for (auto& [k, v] : d_)
            if (auto* s = k.get_if<std::string>(); s && !s->starts_with('_'))
                items.push_back(*s + "=" + py_repr(v));
        std::sort(items.begin(), items.end());
        return fmt::format("Namespace({})", fmt::join(items, ", "));
    }
    dict d_;
};

class ValueServant final : public GuardedServant {
  public:
    ValueServant(std::string typecode, object v)
        : typecode_(std::move(typecode)), v_(std::move(v)) {}
    object call(std::string_view m, list& a, CallContext&) override {
        std::lock_guard g(mu_);
        if (m == "get") return v_;
        if (m == "set") {
            v_ = arg(a, 0, m);
            return None;
        }
        not_exposed(m);
    }
    object value_locked() override { return v_; }
    std::vector<std::string_view> exposed() const override { return {"get", "set"}; }
    std::string_view type_name() const override { return "Value"; }

  private:
    std::string repr_locked() const override {
        return fmt::format("Value({}, {})", object(typecode_).repr(), py_repr(v_));
    }
    std::string typecode_;
    object v_;
};

// array.array: typecodes b B h H i I l L q Q (int), f d (float), u (one character).
class ArrayServant final : public GuardedServant {
  public:
    ArrayServant(std::string typecode, const object& items) : typecode_(std::move(typecode)) {
        static constexpr std::string_view codes = "bBhHiIlLqQfdu";
        if (typecode_.size() != 1 || codes.find(typecode_[0]) == std::string_view::npos)
            throw PyError("ValueError",
                          "bad typecode (must be b, B, u, h, H, i, I, l, L, q, Q, f or d)");
        auto* seq = sequence(items);
        if (!seq && !items.is_none()) throw PyError("TypeError", "Array items must be a list");
        if (seq)
            for (auto& x : *seq) l_.push_back(coerce(x));
    }
    object call(std::string_view m, list& a, CallContext&) override {
        std::lock_guard g(mu_);
        if (m == "__len__") return std::int64_t(l_.size());
        if (m == "__getitem__")
            return l_[normalize(arg_int(a, 0, m), l_.size(), "array index out of range")];
        if (m == "__setitem__") {
            auto i = normalize(arg_int(a, 0, m), l_.size(), "array assignment index out of range");
            l_[i] = coerce(arg(a, 1, m));
            return None;
        }
        if (m == "tolist") return l_;
        not_exposed(m);
    }
    object value_locked() override { return l_; }
    std::vector<std::string_view> exposed() const override {
        return {"__len__", "__getitem__", "__setitem__", "tolist"};
    }
    std::string_view type_name() const override { return "array.array"; }

  private:
    object coerce(const object& x) const {
        const char c = typecode_[0];
        if (c == 'f' || c == 'd') {
            if (auto n = number(x); n && !x.is<bool>()) return *n;
            throw PyError("TypeError", fmt::format("must be real number, not {}", x.type_name()));
        }
        if (c == 'u') {
            if (auto* s = x.get_if<std::string>(); s && s->size() >= 1) return *s;
            throw PyError("TypeError", "array item must be a unicode character");
        }
        if (auto* i = x.get_if<std::int64_t>()) return *i;
        throw PyError("TypeError", fmt::format("'{}' object cannot be interpreted as an integer",
                                               x.type_name()));
    }
    std::string repr_locked() const override {
        if (l_.empty()) return fmt::format("array('{}')", typecode_);
        return fmt::format("array('{}', {})", typecode_, object(l_).repr());
    }
    std::string typecode_;
    list l_;
};

template <class T>
const T& typed_arg(const list& a, std::size_t i, const T& def, const char* what) {
    if (i >= a.size() || a[i].is_none()) return def;
    if (auto* v = a[i].get_if<T>()) return *v;
    throw PyError("TypeError", fmt::format("{} expects a {}, not {}", what, object(T{}).type_name(),
                                           a[i].type_name()));
}

}  // namespace

const Registry& sync_registry() {
    static const Registry r = [] {
        Registry r;
        r["dict"] = [](list& a, CallContext&) -> std::shared_ptr<Servant> {
            static const dict empty;
            return std::make_shared<DictServant>(typed_arg(a, 0, empty, "dict()"));
        };
        r["list"] = [](list& a, CallContext&) -> std::shared_ptr<Servant> {
            static const list empty;
            if (!a.empty())
                if (auto* t = a[0].get_if<tuple>())
                    return std::make_shared<ListServant>(list(t->begin(), t->end()));
            return std::make_shared<ListServant>(typed_arg(a, 0, empty, "list()"));
        };
        r["Namespace"] = [](list& a, CallContext&) -> std::shared_ptr<Servant> {
            static const dict empty;
            return std::make_shared<NamespaceServant>(typed_arg(a, 0, empty, "Namespace()"));
        };
        r["Value"] = [](list& a, CallContext&) -> std::shared_ptr<Servant> {
            static const std::string none;
            return std::make_shared<ValueServant>(typed_arg(a, 0, none, "Value()"),
                                                  arg_or(a, 1, None));
        };
        r["Array"] = [](list& a, CallContext&) -> std::shared_ptr<Servant> {
            static const std::string none;
            return std::make_shared<ArrayServant>(typed_arg(a, 0, none, "Array()"),
                                                  arg_or(a, 1, None));
        };
        add_sync_types(r);
        return r;
    }();
    return r;
}

}  // namespace mproc::managers::detail
