// Fork safety: a fork child finds the library's locks free and its state
// whole even when other threads of the parent held them at the fork.
#include <atomic>
#include <thread>

#include "support.hpp"

namespace mp = mproc;
using namespace std::chrono_literals;

namespace {

void use_the_library() {
    // Each of these takes a library lock another thread of the parent may
    // have held when it forked.
    mp::Lock lock;
    std::lock_guard g(lock);
    mp::Value<int> v(1);
    (void)mp::get_all_start_methods();
    (void)mp::get_context("fork");
    mp::set_forkserver_preload({});
    mp::log_to_stderr(mp::logging::WARNING);
}

}  // namespace

TEST_CASE("a fork while other threads hold library locks leaves them usable in the child",
          "[forksafety]") {
    std::atomic<bool> stop{false};
    auto busy = [&] {
        while (!stop.load()) {
            mp::Lock lock;  // the shared-memory heap's lock
            mp::Value<double> v(0.0);
            (void)mp::get_all_start_methods();  // the plugin registry's lock
            mp::set_forkserver_preload({});     // the context defaults' lock
        }
    };
    std::thread t1(busy), t2(busy);
    auto ctx = mp::get_context("fork");
    for (int i = 0; i < 40; ++i) {
        auto p = ctx.Process(use_the_library);
        p.start();
        p.join(30s);
        REQUIRE(p.exitcode() == 0);
    }
    stop = true;
    t1.join();
    t2.join();
}
