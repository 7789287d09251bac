// The docs' example of customized managers and proxies: Foo registered
// twice with different exposed methods, a generator behind a custom proxy
// type, and the operator module's functions.
//
//   class Foo:
//       def f(self): print('you called Foo.f()')
//       def g(self): print('you called Foo.g()')
//       def _h(self): print('you called Foo._h()')
//   def baz():
//       for i in range(10): yield i*i
//   class GeneratorProxy(BaseProxy):
//       _exposed_ = ['__next__']
//       def __iter__(self): return self
//       def __next__(self): return self._callmethod('__next__')
//   MyManager.register('Foo1', Foo)
//   MyManager.register('Foo2', Foo, exposed=('g', '_h'))
//   MyManager.register('baz', baz, proxytype=GeneratorProxy)
//   MyManager.register('operator', get_operator_module)
//
// C++ stand-ins, where Python has values C++ has not:
// - the generator function baz is an object with __next__ (Squares) that
//   throws StopIteration at its end; GeneratorProxy is a C++ range over it;
// - the operator module is an Operator type exposing add, mul, pow and sub
//   (so op._exposed_ lists those four), and pow takes doubles: Python's
//   op.pow(2, 94) gives the exact 19807040628566084398385987584, which no
//   C++ integer holds, so this prints op.pow(2.0, 94) as Python does.
// The server's prints come from the server process (as in Python), flushed
// at once so that they appear in order.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/core.h>

#include <mproc/managers.hpp>
#include <mproc/mproc.hpp>

namespace mp = mproc;

struct Foo {
    void f() { say("you called Foo.f()"); }
    void g() { say("you called Foo.g()"); }
    void _h() { say("you called Foo._h()"); }
    static void say(const char* s) {
        fmt::print("{}\n", s);
        std::fflush(stdout);
    }
};

// A simple generator: i*i for i in range(10), then StopIteration.
struct Squares {
    int i = 0;
    std::int64_t next() {
        if (i >= 10) throw mp::RemoteError("StopIteration", "");
        ++i;
        return std::int64_t(i - 1) * (i - 1);
    }
};
std::shared_ptr<Squares> baz() {
    return std::make_shared<Squares>();
}

// Proxy type for generator objects: a range of what __next__ gives.
class GeneratorProxy : public mp::BaseProxy {
  public:
    MPROC_PROXY_CONSTRUCTORS(GeneratorProxy, "baz")

    std::optional<std::int64_t> next() const {
        try {
            return call<std::int64_t>("__next__");
        } catch (const mp::RemoteError& e) {
            if (e.type_name() == "StopIteration") return std::nullopt;
            throw;
        }
    }
    struct iterator {
        using value_type = std::int64_t;
        using difference_type = std::ptrdiff_t;
        const GeneratorProxy* g = nullptr;
        std::optional<std::int64_t> current;
        std::int64_t operator*() const { return *current; }
        iterator& operator++() {
            current = g->next();
            return *this;
        }
        void operator++(int) { ++*this; }
        bool operator==(std::default_sentinel_t) const { return !current; }
    };
    iterator begin() const { return iterator{this, next()}; }
    std::default_sentinel_t end() const { return {}; }
};

// The operator module's functions.
struct Operator {
    std::int64_t add(std::int64_t a, std::int64_t b) const { return a + b; }
    std::int64_t sub(std::int64_t a, std::int64_t b) const { return a - b; }
    std::int64_t mul(std::int64_t a, std::int64_t b) const { return a * b; }
    double pow(double a, double b) const { return std::pow(a, b); }
};

class MyManager : public mp::BaseManager {
  public:
    using BaseManager::BaseManager;

  protected:
    std::string_view class_name() const override { return "MyManager"; }
};

// Registered at namespace scope, so that a spawned server registers them too.
constexpr mp::managers::TypeOptions my{.registry = "MyManager"};
// register the Foo class; make `f()` and `g()` accessible via proxy
static const bool foo1 = MyManager::register_<Foo>("Foo1", {{"f", &Foo::f}, {"g", &Foo::g}}, my);
// register the Foo class; make `g()` and `_h()` accessible via proxy
static const bool foo2 = MyManager::register_<Foo>("Foo2", {{"g", &Foo::g}, {"_h", &Foo::_h}}, my);
// register the generator function baz; use GeneratorProxy (create<GeneratorProxy>) for it
static const bool gen =
    MyManager::register_<Squares>("baz", {{"__next__", &Squares::next}}, my, baz);
// register the operator functions; make them accessible via proxy
static const bool op = MyManager::register_<Operator>("operator",
                                                      {{"add", &Operator::add},
                                                       {"mul", &Operator::mul},
                                                       {"pow", &Operator::pow},
                                                       {"sub", &Operator::sub}},
                                                      my);

// Python's assert.
void check(bool ok) {
    if (!ok) throw std::logic_error("assertion failed");
}

bool has(const mp::BaseProxy& p, const char* method) {
    try {
        p._callmethod(method);
        return true;
    } catch (const mp::AttributeError&) {
        return false;
    }
}

std::vector<std::string> sorted(std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
}

void test() {
    MyManager manager;
    manager.start();

    fmt::print("{}\n", std::string(20, '-'));
    std::fflush(stdout);
    auto f1 = manager.create("Foo1");
    f1.call("f");
    f1.call("g");
    check(!has(f1, "_h"));
    check(sorted(f1._exposed_()) == sorted({"f", "g"}));

    fmt::print("{}\n", std::string(20, '-'));
    std::fflush(stdout);
    auto f2 = manager.create("Foo2");
    f2.call("g");
    f2.call("_h");
    check(!has(f2, "f"));
    check(sorted(f2._exposed_()) == sorted({"g", "_h"}));

    fmt::print("{}\n", std::string(20, '-'));
    auto it = manager.create<GeneratorProxy>("baz");
    for (auto i : it) fmt::print("<{}> ", i);
    fmt::print("\n");

    fmt::print("{}\n", std::string(20, '-'));
    auto op = manager.create("operator");
    fmt::print("op.add(23, 45) = {}\n", op.call<std::int64_t>("add", 23, 45));
    fmt::print("op.pow(2.0, 94) = {}\n", mp::object(op.call<double>("pow", 2.0, 94.0)));
    mp::tuple names;
    for (auto& n : op._exposed_()) names.emplace_back(n);
    fmt::print("op._exposed_ = {}\n", mp::object(names));
}

int main(int argc, char** argv) {
    mp::freeze_support(argc, argv);
    test();
}
