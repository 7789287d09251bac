// Value, Array, RawValue, RawArray, synchronized, copy: shared memory that
// children see under every start method.
#include <numeric>
#include <ranges>
#include <thread>

#include "support.hpp"

namespace mp = mproc;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;

namespace {

struct Point {
    double x, y;
    bool operator==(const Point&) const = default;
};

void modify(mp::Value<int> n, mp::Value<double> x, mp::Array<char> s, mp::Array<Point> a,
            mp::RawArray<int> raw) {
    n = n.value() * n.value();
    x = x.value() * x.value();
    auto upper = s.value();
    for (auto& c : upper) c = char(std::toupper(static_cast<unsigned char>(c)));
    s.set_value(upper);
    for (std::size_t i = 0; i < a.size(); ++i) {
        Point p = a[i];
        a[i] = Point{p.x * p.x, p.y * p.y};
    }
    for (auto& v : raw) v = -v;
}

void add_many(mp::Array<long> a, int n) {
    for (int i = 0; i < n; ++i) a[0] += 1;  // one hold of the RLock per +=
}

}  // namespace

TEST_CASE("Value and Array are shared with children", "[sharedctypes]") {
    FOR_EACH_START_METHOD(ctx);
    auto n = ctx.Value<int>(7);
    auto x = ctx.Value<double>(1.0 / 3);
    auto s = ctx.Array<char>(std::string_view("hello world"));
    auto lock = ctx.Lock();
    auto a = ctx.Array<Point>(std::vector<Point>{{1.875, -6.25}, {-5.75, 2.0}, {2.375, 9.5}}, lock);
    auto raw = ctx.RawArray<int>(std::views::iota(0, 10));
    auto p = ctx.Process(modify, n, x, s, a, raw);
    p.start();
    p.join(30s);
    REQUIRE(p.exitcode() == 0);
    CHECK(n.value() == 49);
    CHECK(x.value() == 0.1111111111111111);
    CHECK(s.value() == "HELLO WORLD");
    CHECK(a.to_vector() ==
          std::vector<Point>{{3.515625, 39.0625}, {33.0625, 4.0}, {5.640625, 90.25}});
    CHECK(a.get_lock() == lock);
    std::vector<int> neg(10);
    std::iota(neg.begin(), neg.end(), 0);
    for (auto& v : neg) v = -v;
    CHECK(std::vector<int>(raw.begin(), raw.end()) == neg);
}

TEST_CASE("Array element updates are atomic under its lock across processes", "[sharedctypes]") {
    FOR_EACH_START_METHOD(ctx);
    auto a = ctx.Array<long>(std::size_t(1));
    auto p = ctx.Process(add_many, a, 20000);
    p.start();
    add_many(a, 20000);
    p.join(60s);
    CHECK(p.exitcode() == 0);
    CHECK(a[0] == 40000);
}

TEST_CASE("Value: get_lock, get_obj, lock = false, a given lock", "[sharedctypes]") {
    mp::Value<double> v(2.5);
    CHECK(v.value() == 2.5);
    v = 3.1415927;
    CHECK(v.value() == 3.1415927);
    CHECK(v.get_lock().kind() == mp::plugin::SemaphoreKind::recursive_mutex);
    {
        std::lock_guard g(v.get_lock());
        v.get_obj() += 1;
        CHECK(v.value() == 3.1415927 + 1);  // an RLock: re-entrant
    }
    mp::Value<int> unlocked(1, false);
    CHECK_THROWS_WITH(unlocked.get_lock(), Contains("lock = false"));
    unlocked = 5;
    CHECK(unlocked.value() == 5);
    mp::RLock r;
    mp::Value<int> given(0, r);
    CHECK(given.get_lock() == r);
}

TEST_CASE("Array: indexing, iteration, slices, char arrays", "[sharedctypes]") {
    mp::Array<int> a(std::views::iota(0, 10));
    CHECK(a.size() == 10);
    a[3] = 42;
    CHECK(a[3] == 42);
    CHECK(a.at(9) == 9);
    CHECK_THROWS_AS(a.at(10), std::out_of_range);
    int sum = 0;
    for (int x : a) sum += x;
    CHECK(sum == 45 - 3 + 42);
    CHECK(a.slice(2, 5) == std::vector<int>{2, 42, 4});
    CHECK(a.slice(-2, 100) == std::vector<int>{8, 9});
    CHECK(a.slice(5, 2).empty());
    std::vector<int> vals{7, 7};
    a.assign(8, vals);
    CHECK(a.slice(7, 10) == std::vector<int>{7, 7, 7});
    CHECK_THROWS_AS(a.assign(9, vals), mp::ValueError);
    for (auto& x : a.get_obj()) x = -x;
    CHECK(a[1] == -1);

    mp::Array<char> s(std::size_t(8));
    s.set_value("abc");
    CHECK(s.value() == "abc");
    CHECK(s.raw() == std::string("abc\0\0\0\0\0", 8));
    CHECK_THROWS_AS(s.set_value("123456789"), mp::ValueError);
    mp::Array<int> empty(std::size_t(0));
    CHECK(empty.size() == 0);
    CHECK(empty.to_vector().empty());
}

TEST_CASE("typecodes, RawValue, RawArray, synchronized and copy", "[sharedctypes]") {
    mp::Value d(mp::typecode<'d'>, 1.5);
    static_assert(std::is_same_v<decltype(d), mp::Value<double>>);
    mp::Array i(mp::typecode<'i'>, {1, 2, 3});
    static_assert(std::is_same_v<decltype(i), mp::Array<int>>);
    mp::Array c(mp::c_char, 4);
    static_assert(std::is_same_v<decltype(c), mp::Array<char>>);
    mp::RawValue q(mp::c_longlong, 5);
    static_assert(std::is_same_v<decltype(q), mp::RawValue<long long>>);
    CHECK(d.value() == 1.5);
    CHECK(i.to_vector() == std::vector<int>{1, 2, 3});

    mp::RawValue<int> rv(3);
    rv.value() += 1;
    CHECK(rv.value() == 4);
    auto sv = mp::synchronized(rv);
    sv = 10;
    CHECK(rv.value() == 10);  // the same memory
    auto cv = mp::copy(rv);
    cv.value() = 11;
    CHECK(rv.value() == 10);

    mp::RawArray<int> ra{1, 2, 3};
    mp::Lock l;
    auto sa = mp::synchronized(ra, l);
    sa[0] = 9;
    CHECK(ra[0] == 9);
    CHECK(sa.get_lock() == l);
    auto ca = mp::copy(ra);
    ca[0] = 0;
    CHECK(ra[0] == 9);
    CHECK(std::vector<int>(ca.begin(), ca.end()) == std::vector<int>{0, 2, 3});
}

TEST_CASE("a large Array gets memory of its own and frees it", "[sharedctypes]") {
    int before = mp::test::open_fd_count();
    {
        mp::RawArray<double> big(std::size_t(1) << 20);  // 8 MiB
        CHECK(big.size() == std::size_t(1) << 20);
        big[big.size() - 1] = 1.0;
        CHECK(big[big.size() - 1] == 1.0);
        CHECK(mp::test::open_fd_count() == before + 1);
    }
    CHECK(mp::test::open_fd_count() == before);
}

TEST_CASE("shared values cannot be sent over a Connection", "[sharedctypes]") {
    auto [a, b] = mp::Pipe();
    mp::Value<int> v(1);
    CHECK_THROWS_WITH(a.send(v), Contains("through inheritance"));
}

TEST_CASE("Value read-modify-write, typecodes with ranges and string literals", "[sharedctypes]") {
    mp::Value<int> n(7);
    n += 3;
    CHECK(n.value() == 10);
    CHECK(n.update([](int x) { return x * x; }) == 100);
    mp::Array a(mp::typecode<'i'>, std::views::iota(0, 4));
    static_assert(std::is_same_v<decltype(a), mp::Array<int>>);
    CHECK(a.to_vector() == std::vector<int>{0, 1, 2, 3});
    mp::Array s(mp::c_char, "hello world");
    static_assert(std::is_same_v<decltype(s), mp::Array<char>>);
    CHECK(s.size() == 11);
    CHECK(s.raw() == "hello world");
    mp::Array<char> t("abc");
    CHECK(t.size() == 3);
}
