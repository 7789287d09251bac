// Managers, continued: start(initializer, initargs), registered types whose
// methods make new referents (method_to_typeid) or that have no creation
// method (create_method = false), custom proxy types, _exposed_, and
// proxies used by Pool tasks, under every start method.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include <mproc/managers.hpp>
#include <mproc/pool.hpp>

#include "support.hpp"

namespace mp = mproc;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;

namespace {

// Set in the server process by the initializer; read back through Probe.
std::string server_tag = "unset";

void set_tag(std::string tag, int n) {
    server_tag = tag + ":" + std::to_string(n);
}

void failing_initializer() {
    throw std::runtime_error("no database here");
}

struct Probe {
    std::string tag() const { return server_tag; }
};

// A generator stand-in: squares of 0..n-1, then StopIteration.
struct Squares {
    int i = 0, n = 0;
    std::int64_t next() {
        if (i >= n) throw mp::RemoteError("StopIteration", "");
        ++i;
        return std::int64_t(i - 1) * (i - 1);
    }
};

// A type whose methods make referents of other typeids.
struct Foo {
    int size = 3;
    Squares iter() const { return Squares{0, size}; }
    std::shared_ptr<Squares> squares(int n) { return std::make_shared<Squares>(Squares{0, n}); }
    Probe probe() { return {}; }  // registered with the wrong result typeid on purpose
    void resize(int n) { size = n; }
};

const bool custom_registered = [] {
    mp::BaseManager::register_<Probe>("Probe", {{"tag", &Probe::tag}});
    mp::BaseManager::register_<Squares>("Generator", {{"__next__", &Squares::next}},
                                        mp::managers::TypeOptions{.create_method = false});
    mp::BaseManager::register_<Foo>("Foo", {{"__iter__", &Foo::iter, "Generator"},
                                            {"squares", &Foo::squares, "Generator"},
                                            {"probe", &Foo::probe, "Generator"},
                                            {"resize", &Foo::resize}});
    return true;
}();

// A custom proxy type: iterates by calling __next__ until StopIteration.
class GeneratorProxy : public mp::BaseProxy {
  public:
    MPROC_PROXY_CONSTRUCTORS(GeneratorProxy, "Generator")
    std::optional<std::int64_t> next() const {
        try {
            return call<std::int64_t>("__next__");
        } catch (const mp::RemoteError& e) {
            if (e.type_name() == "StopIteration") return std::nullopt;
            throw;
        }
    }
    std::vector<std::int64_t> drain() const {
        std::vector<std::int64_t> v;
        while (auto x = next()) v.push_back(*x);
        return v;
    }
};

// Pool tasks using proxies.
int add_under_lock(mp::DictProxy d, mp::AcquirerProxy lock, int n) {
    for (int i = 0; i < n; ++i) {
        std::lock_guard g(lock);
        d["count"] = d["count"].get().as<std::int64_t>() + 1;
    }
    return n;
}

mp::ListProxy append_pid(mp::ListProxy l, int x) {
    l.append(x);
    return l;
}

std::int64_t sum_of(mp::ListProxy l) {
    std::int64_t s = 0;
    const auto items = l._getvalue();
    for (auto& x : items.as<mp::list>()) s += x.as<std::int64_t>();
    return s;
}

std::int64_t drain_in_task(GeneratorProxy g) {
    std::int64_t s = 0;
    while (auto x = g.next()) s += *x;
    return s;
}

}  // namespace

TEST_CASE("BaseManager start(initializer, initargs) runs in the server first", "[managers]") {
    REQUIRE(custom_registered);
    FOR_EACH_START_METHOD(ctx);
    {
        mp::BaseManager m(ctx);
        m.start(set_tag, std::string("ready"), 7);
        CHECK(m.create("Probe").call<std::string>("tag") == "ready:7");
        CHECK(server_tag == "unset");  // not in this process
    }
    {
        mp::BaseManager m(ctx);
        CHECK_THROWS_WITH(m.start(failing_initializer),
                          Contains("initializer failed") && Contains("no database here"));
        REQUIRE(m.pid());
        CHECK(mp::test::process_state(*m.pid()) == '?');  // ended and reaped
    }
    {
        mp::BaseManager m(ctx);
        std::string captured = "lambda";
        auto init = [captured] { server_tag = captured; };
        if (ctx.get_start_method() == "fork") {
            m.start(init);
            CHECK(m.create("Probe").call<std::string>("tag") == "lambda");
        } else {
            CHECK_THROWS_WITH(m.start(init), Contains("plain function"));
        }
    }
}

TEST_CASE("Registered methods that make referents (method_to_typeid), create_method=false",
          "[managers]") {
    FOR_EACH_START_METHOD(ctx);
    mp::BaseManager m(ctx);
    m.start();
    auto foo = m.create("Foo");
    {
        auto it = foo.call<GeneratorProxy>("__iter__");
        CHECK(it.repr().starts_with("<GeneratorProxy object, typeid 'Generator' at 0x"));
        CHECK(it.drain() == std::vector<std::int64_t>{0, 1, 4});
        CHECK_FALSE(it.next());
        auto big = foo.call<GeneratorProxy>("squares", 5);
        CHECK(big.drain() == std::vector<std::int64_t>{0, 1, 4, 9, 16});
        foo.call("resize", 1);
        CHECK(foo.call<mp::AutoProxy>("__iter__").call<std::int64_t>("__next__") == 0);
        CHECK(m._number_of_objects() == 3);  // foo and the two kept generators
        CHECK(it._exposed_() == std::vector<std::string>{"__next__"});
    }
    CHECK(m._number_of_objects() == 1);  // the generators were freed with their proxies
    CHECK(foo._exposed_() == std::vector<std::string>{"__iter__", "squares", "probe", "resize"});
    // No creation method for Generator; a value method is no proxy; a result
    // of another C++ type than the typeid's is refused.
    CHECK_THROWS_WITH(m.create("Generator"), Contains("no creation method"));
    CHECK_THROWS_AS(foo.call<GeneratorProxy>("resize", 2), mp::TypeError);
    CHECK_THROWS_WITH(foo.call<GeneratorProxy>("probe"), Contains("registered for another"));
    CHECK_THROWS_AS(mp::ListProxy(foo.call<GeneratorProxy>("__iter__").ref()), mp::ValueError);
    CHECK(m._number_of_objects() == 1);
    // A made referent crosses into a child like any proxy.
    auto g = foo.call<GeneratorProxy>("squares", 4);
    auto [a, b] = ctx.Pipe();
    auto p = ctx.Process(
        +[](GeneratorProxy g, mp::Connection c) { c.send(std::int64_t(g.drain().size())); }, g, b);
    p.start();
    REQUIRE(a.poll(60s));
    CHECK(a.recv<std::int64_t>() == 4);
    p.join(60s);
    CHECK(p.exitcode() == 0);
}

TEST_CASE("Manager proxies in Pool tasks: 4 tasks count under a managed Lock", "[managers]") {
    FOR_EACH_START_METHOD(ctx);
    auto m = ctx.Manager();
    auto d = m.dict();
    auto lock = m.Lock();
    d["count"] = 0;
    {
        mp::Pool pool(ctx, mp::PoolOptions{.processes = 2});
        std::vector<mp::AsyncResult<int>> rs;
        for (int i = 0; i < 4; ++i) rs.push_back(pool.apply_async(add_under_lock, d, lock, 50));
        for (auto& r : rs) CHECK(r.get(60s) == 50);
        CHECK(d["count"].get() == mp::object(200));  // no lost update

        // Through map/starmap too, and a proxy as a task's result.
        auto l = m.list();
        std::vector<std::tuple<mp::ListProxy, int>> jobs;
        for (int i = 1; i <= 6; ++i) jobs.emplace_back(l, i);
        auto back = pool.starmap(append_pid, jobs);
        REQUIRE(back.size() == 6);
        CHECK(back[0] == l);
        CHECK(back[5].len() == 6);
        CHECK(pool.map(sum_of, std::vector<mp::ListProxy>{l, l}) ==
              std::vector<std::int64_t>{21, 21});
        pool.close();
        pool.join();
    }
    CHECK(m._number_of_objects() == 2);  // d and lock: l and the workers' references are gone
}

TEST_CASE("Made referents and custom proxies in Pool tasks", "[managers]") {
    FOR_EACH_START_METHOD(ctx);
    mp::BaseManager m(ctx);
    m.start();
    auto foo = m.create("Foo");
    mp::Pool pool(ctx, mp::PoolOptions{.processes = 2});
    // The proxies stay alive here until the tasks are done: a referent is
    // freed when its last proxy goes, also while a copy is on its way (as
    // in Python).
    auto g1 = foo.call<GeneratorProxy>("squares", 4);
    auto g2 = foo.call<GeneratorProxy>("__iter__");
    auto r1 = pool.apply_async(drain_in_task, g1);
    auto r2 = pool.apply_async(drain_in_task, g2);
    CHECK(r1.get(60s) == 0 + 1 + 4 + 9);
    CHECK(r2.get(60s) == 0 + 1 + 4);
    pool.close();
    pool.join();
    CHECK(m._number_of_objects() == 3);
}
