// mproc::wait over connections and process sentinels.
#include "support.hpp"

namespace mp = mproc;
using namespace std::chrono_literals;

namespace {

void send_ten(mp::Connection w, int base) {
    for (int i = 0; i < 10; ++i) w.send(base + i);
    w.close();
}

void wait_then_exit(mp::Connection r) {
    (void)r.recv<int>();
}

}  // namespace

TEST_CASE("wait over several readers collects every message", "[wait]") {
    FOR_EACH_START_METHOD(ctx);
    std::vector<mp::Connection> readers;
    std::vector<mp::Process> procs;
    for (int i = 0; i < 4; ++i) {
        auto [r, w] = ctx.Pipe(false);
        readers.push_back(r);
        procs.push_back(ctx.Process(send_ten, w, i * 100));
        procs.back().start();
        w.close();
    }
    std::vector<int> got;
    while (!readers.empty()) {
        for (auto& r : mp::wait(readers, 30s)) {
            try {
                got.push_back(r.recv<int>());
            } catch (const mp::EOFError&) {
                std::erase(readers, r);
            }
        }
    }
    for (auto& p : procs) p.join();
    std::sort(got.begin(), got.end());
    std::vector<int> want;
    for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 10; ++j) want.push_back(i * 100 + j);
    CHECK(got == want);
}

TEST_CASE("wait mixes connections and sentinels and honours timeouts", "[wait]") {
    FOR_EACH_START_METHOD(ctx);
    auto [a, b] = ctx.Pipe();
    auto [r, w] = ctx.Pipe();
    auto p = ctx.Process(wait_then_exit, r);
    p.start();
    CHECK(mp::wait({a, p.sentinel()}, 0s).empty());
    CHECK(mp::wait({a, p.sentinel()}, -5s).empty());
    auto t0 = std::chrono::steady_clock::now();
    CHECK(mp::wait({a}, 30ms).empty());
    CHECK(std::chrono::steady_clock::now() - t0 >= 25ms);  // loose bound
    b.send(1);
    auto ready = mp::wait({p.sentinel(), a}, 30s);
    REQUIRE(ready.size() == 1);
    CHECK(ready[0] == a);
    CHECK(ready[0].connection() != nullptr);
    w.send(1);  // lets the child end
    ready = mp::wait({p.sentinel()}, 30s);
    REQUIRE(ready.size() == 1);
    CHECK(ready[0] == p.sentinel());
    p.join();
    auto raw = mp::Waitable::from_handle(a.fileno());
    CHECK(mp::wait({raw}, 0s).size() == 1);
}
