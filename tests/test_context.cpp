// Contexts: the start methods, the default one, several contexts at once.
#include "support.hpp"

namespace mp = mproc;
using Catch::Matchers::Contains;

namespace {
void do_nothing() {}
}  // namespace

TEST_CASE("get_all_start_methods lists what loads, the default first", "[context]") {
    auto all = mp::get_all_start_methods();
    REQUIRE_FALSE(all.empty());
    CHECK(all.front() == *mp::get_start_method());
    CHECK(std::find(all.begin(), all.end(), "fork") != all.end());
    // Refused plugins on the path (tests/plugins) are not listed.
    CHECK(std::find(all.begin(), all.end(), "wrongabi") == all.end());
    CHECK(std::find(all.begin(), all.end(), "misnamed") == all.end());
}

TEST_CASE("a context exposes the API and names its method", "[context]") {
    FOR_EACH_START_METHOD(ctx);
    CHECK(ctx.get_start_method() == mproc_method_);
    CHECK(mp::get_context(mproc_method_) == ctx);
    auto [a, b] = ctx.Pipe();
    a.send(3);
    CHECK(b.recv<int>() == 3);
    auto p = ctx.Process(do_nothing);
    p.start();
    p.join();
    CHECK(p.exitcode() == 0);
}

TEST_CASE("the default context follows set_start_method", "[context]") {
    auto def = mp::get_context();
    CHECK(def.get_start_method() == *mp::get_start_method());
    CHECK_THROWS_WITH(mp::set_start_method("fork"), Contains("context has already been set"));
    mp::set_start_method("thirdparty", true);
    CHECK(mp::get_start_method() == "thirdparty");
    CHECK(mp::get_all_start_methods().front() == "thirdparty");
    CHECK(mp::get_context().get_start_method() == "thirdparty");
    mp::set_start_method("fork", true);
    CHECK(mp::get_context().get_start_method() == "fork");
    CHECK_THROWS_AS(mp::set_start_method("no-such-method", true), mp::PluginError);
    CHECK(mp::get_start_method() == "fork");
}

TEST_CASE("an unknown start method names what is available", "[context]") {
    try {
        mp::get_context("no-such-method");
        FAIL("no error");
    } catch (const mp::PluginError& e) {
        std::string msg = e.what();
        CHECK_THAT(msg, Contains("no start method named 'no-such-method'"));
        CHECK_THAT(msg, Contains("available: "));
        CHECK_THAT(msg, Contains("fork"));
        CHECK_THAT(msg, Contains("no file mproc-backend-no-such-method.so"));
    }
    CHECK_THROWS_AS(mp::get_context("../etc"), mp::PluginError);
    CHECK_THROWS_AS(mp::get_context(""), mp::PluginError);
}
