// Small API warts found by trying mproc as a new user would (issue 12 item
// 6): arguments converted to the target's parameter types and refusals that
// name the argument, the exception hierarchy against Python's, try_get on
// queues, Value assignment, and Array elements outliving their array.
// Process tests run under each start method.
#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>

#include <mproc/authentication.hpp>

#include "support.hpp"

namespace mp = mproc;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using Clock = std::chrono::steady_clock;
using mproc::test::seconds_since;

namespace {

// Parameters that the arguments convert to: a C string to std::string and to
// std::string_view, an int to double.
void greet(mp::Connection c, std::string name, std::string_view title, const std::string& place,
           double x) {
    c.send(fmt::format("{} {} of {}: {}", title, name, place, x));
}

struct NoCodec {
    int n = 0;
};
void takes_no_codec(int, NoCodec) {}
void takes_c_string(const char*) {}

void put_later(mp::Queue<int> q, mp::Connection go, int v) {
    (void)go.recv<int>();
    q.put(v);
}

void set_to(mp::Value<int> v, int n) {
    v = n;
}

void add_to_element(mp::Array<int> a, int i, int d) {
    a[i] += d;
}

mp::Array<int>::Element element_of_a_gone_array(const mp::Context& ctx) {
    auto a = ctx.Array<int>(std::vector<int>{10, 20, 30});
    return a[1];
}

}  // namespace

TEST_CASE("arguments are stored as the target's parameter types, under every start method",
          "[process]") {
    FOR_EACH_START_METHOD(ctx);
    auto [r, w] = ctx.Pipe(false);
    char place[] = "Rome";
    // The Process owns its arguments from here on, as Python binds them when
    // the Process is made: changing the buffer later changes nothing.
    auto p = ctx.Process(greet, w, "bob", "Sir", place, 2);
    place[0] = 'X';
    p.start();
    w.close();
    CHECK(r.recv<std::string>() == "Sir bob of Rome: 2");
    p.join();
    CHECK(p.exitcode() == 0);

    // Lambdas without captures too; and plain mp::Process with a literal.
    auto [r2, w2] = ctx.Pipe(false);
    mp::Process q(
        +[](mp::Connection c, std::string s) { c.send(s + "!"); }, w2, "hello");
    q.set_context(ctx);
    q.start();
    w2.close();
    CHECK(r2.recv<std::string>() == "hello!");
    q.join();
    CHECK(q.exitcode() == 0);
}

TEST_CASE("an argument without a codec is refused naming its position and type", "[process]") {
    FOR_EACH_START_METHOD(ctx);
    auto p = ctx.Process(takes_no_codec, 1, NoCodec{});
    auto c = ctx.Process(takes_c_string, "text");
    if (ctx.get_start_method() == "fork") {
        // fork needs no codec: the child is a copy.
        p.start();
        c.start();
        p.join();
        c.join();
        CHECK(p.exitcode() == 0);
        CHECK(c.exitcode() == 0);
    } else {
        CHECK_THROWS_AS(p.start(), mp::ValueError);
        CHECK_THROWS_WITH(p.start(), Contains("argument 2 of 2") && Contains("NoCodec") &&
                                         Contains("no mproc::codec"));
        // A const char* parameter keeps a const char*, which only encodes.
        CHECK_THROWS_WITH(c.start(), Contains("argument 1 of 1") && Contains("char const*"));
        CHECK(mp::active_children().empty());
    }
}

// The hierarchy, as Python's (see errors.hpp).
static_assert(std::is_base_of_v<std::runtime_error, mp::Error>);
static_assert(std::is_base_of_v<mp::Error, mp::ProcessError>);
static_assert(std::is_base_of_v<mp::ProcessError, mp::TimeoutError>);
static_assert(std::is_base_of_v<mp::ProcessError, mp::AuthenticationError>);
static_assert(std::is_base_of_v<mp::ProcessError, mp::BufferTooShort>);
static_assert(std::is_base_of_v<mp::ProcessError, mp::AbandonedLock>);
static_assert(std::is_base_of_v<mp::Error, mp::EOFError>);
static_assert(!std::is_base_of_v<mp::ProcessError, mp::EOFError>);
static_assert(std::is_base_of_v<mp::Error, mp::ValueError>);
static_assert(!std::is_base_of_v<mp::ProcessError, mp::ValueError>);
static_assert(std::is_base_of_v<mp::ValueError, mp::ClosedError>);
static_assert(std::is_base_of_v<mp::ValueError, mp::PluginError>);
static_assert(std::is_base_of_v<mp::Error, mp::SerializationError>);
static_assert(!std::is_base_of_v<mp::ProcessError, mp::SerializationError>);
static_assert(std::is_base_of_v<mp::Error, mp::BrokenBarrierError>);
static_assert(!std::is_base_of_v<mp::ProcessError, mp::BrokenBarrierError>);
static_assert(std::is_base_of_v<mp::Error, mp::Empty>);
static_assert(!std::is_base_of_v<mp::ProcessError, mp::Empty>);
static_assert(std::is_base_of_v<mp::Error, mp::Full>);
static_assert(!std::is_base_of_v<mp::ProcessError, mp::Full>);
static_assert(!std::is_base_of_v<std::exception, mp::SystemExit>);

namespace {
// What a catch of ProcessError, of Error, and of the type itself see.
template <class E, class F>
void check_caught(F&& throwing, bool is_process_error) {
    bool as_process_error = false, as_error = false;
    try {
        throwing();
    } catch (const mp::ProcessError&) {
        as_process_error = true;
    } catch (const mp::Error&) {
        as_error = true;
    }
    CHECK(as_process_error == is_process_error);
    CHECK(as_error == !is_process_error);
    CHECK_THROWS_AS(throwing(), E);
}
}  // namespace

TEST_CASE("each throw site family throws the type Python's would, under mproc::Error", "[errors]") {
    SECTION("EOFError beside ProcessError") {
        auto [a, b] = mp::Pipe();
        b.close();
        check_caught<mp::EOFError>([&] { (void)a.recv<int>(); }, false);
    }
    SECTION("BufferTooShort is a ProcessError") {
        auto [a, b] = mp::Pipe();
        std::array<std::byte, 2> small{};
        auto once = [&] {
            b.send_bytes(mp::test::as_bytes("too long"));
            (void)a.recv_bytes_into(small);
        };
        check_caught<mp::BufferTooShort>(once, true);
    }
    SECTION("AuthenticationError is a ProcessError") {
        auto [a, b] = mp::Pipe();
        std::string k1 = "one key", k2 = "another";
        std::thread t([&] {
            try {
                mp::connection::answer_challenge(b, std::as_bytes(std::span(k2)));
            } catch (const mp::AuthenticationError&) {
            }
        });
        check_caught<mp::AuthenticationError>(
            [&, once = true]() mutable {
                if (!once) throw mp::AuthenticationError("again");
                once = false;
                mp::connection::deliver_challenge(a, std::as_bytes(std::span(k1)));
            },
            true);
        t.join();
    }
    SECTION("ValueError and ClosedError are not ProcessErrors") {
        mp::Process p([] {});
        check_caught<mp::ValueError>([&] { p.join(); }, false);
        auto [a, b] = mp::Pipe();
        a.close();
        check_caught<mp::ClosedError>([&] { a.send(1); }, false);
    }
    SECTION("an unknown start method is a ValueError (PluginError)") {
        check_caught<mp::ValueError>([] { (void)mp::get_context("bogus"); }, false);
        CHECK_THROWS_AS(mp::get_context("bogus"), mp::PluginError);
    }
    SECTION("SerializationError is not a ProcessError") {
        auto [a, b] = mp::Pipe();
        auto once = [&] {
            b.send(42);
            (void)a.recv<std::string>();
        };
        check_caught<mp::SerializationError>(once, false);
    }
    SECTION("Empty and Full are not ProcessErrors") {
        mp::Queue<int> q(1);
        check_caught<mp::Empty>([&] { (void)q.get_nowait(); }, false);
        q.put(1);
        check_caught<mp::Full>([&] { q.put_nowait(2); }, false);
        CHECK(q.get(30s) == 1);
    }
    SECTION("BrokenBarrierError is not a ProcessError") {
        mp::Barrier b(2);
        b.abort();
        check_caught<mp::BrokenBarrierError>([&] { (void)b.wait(); }, false);
    }
}

TEST_CASE("Queue::try_get: an optional instead of Empty, on every queue kind", "[queue]") {
    FOR_EACH_START_METHOD(ctx);
    auto q = ctx.Queue<int>();
    CHECK(q.try_get() == std::nullopt);  // no wait by default
    auto t0 = Clock::now();
    CHECK(q.try_get(100ms) == std::nullopt);
    CHECK(seconds_since(t0) >= 0.05);
    CHECK(seconds_since(t0) < 20);
    q.put(7);
    CHECK(q.try_get(30s) == 7);

    // An item put later by a child, waited for without a timeout.
    auto [go_r, go_w] = ctx.Pipe(false);
    auto p = ctx.Process(put_later, q, go_r, 8);
    p.start();
    go_w.send(1);
    CHECK(q.try_get(std::nullopt) == 8);
    p.join();
    CHECK(p.exitcode() == 0);

    auto jq = ctx.JoinableQueue<std::string>();
    CHECK(jq.try_get() == std::nullopt);
    jq.put("x");
    CHECK(jq.try_get(30s) == "x");
    jq.task_done();
    jq.join();

    auto sq = ctx.SimpleQueue<std::string>();
    CHECK(sq.try_get() == std::nullopt);
    sq.put("y");
    CHECK(sq.try_get(30s) == "y");

    q.close();
    CHECK_THROWS_AS(q.try_get(), mp::ValueError);
}

static_assert(!std::is_copy_assignable_v<mp::Value<int>>,
              "a = b between Values would rebind or copy: it must not compile");
static_assert(!std::is_copy_assignable_v<mp::RawValue<int>>);
static_assert(std::is_copy_constructible_v<mp::Value<int>>);
static_assert(std::is_move_assignable_v<mp::Value<int>>);
static_assert(std::is_assignable_v<mp::Value<int>&, int>);

TEST_CASE("Value: a = b.value() copies the value; a copy shares it with children",
          "[sharedctypes]") {
    FOR_EACH_START_METHOD(ctx);
    auto a = ctx.Value<int>(1);
    auto b = ctx.Value<int>(2);
    a = b.value();
    CHECK(a.value() == 2);
    b = 3;
    CHECK(a.value() == 2);  // a still has its own memory

    auto shared = a;  // the same shared value
    auto p = ctx.Process(set_to, shared, 5);
    p.start();
    p.join();
    CHECK(p.exitcode() == 0);
    CHECK(a.value() == 5);

    // Moving a new Value in replaces the object; copies keep the old memory.
    a = ctx.Value<int>(9);
    CHECK(a.value() == 9);
    CHECK(shared.value() == 5);

    auto r = ctx.RawValue<int>(4);
    auto s = ctx.RawValue<int>(6);
    r = s.value();
    s = 0;
    CHECK(r.value() == 6);
}

TEST_CASE("an Array element outlives its Array object", "[sharedctypes]") {
    FOR_EACH_START_METHOD(ctx);
    auto e = element_of_a_gone_array(ctx);
    CHECK(int(e) == 20);
    e = 21;
    e += 1;
    CHECK(e.update([](int x) { return x * 2; }) == 44);
    CHECK(int(e) == 44);

    std::optional<mp::Array<int>> a(ctx.Array<int>(3));
    auto first = (*a)[0];
    auto copy = *a;
    a.reset();
    first = 5;  // the memory and the lock live on
    auto p = ctx.Process(add_to_element, copy, 0, 2);
    p.start();
    p.join();
    CHECK(p.exitcode() == 0);
    CHECK(int(first) == 7);
    CHECK(copy[0] == 7);
    first = copy[0] + 1;  // Element = T, from another element's value
    CHECK(copy.to_vector() == std::vector<int>{8, 0, 0});
}
