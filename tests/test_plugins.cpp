// The plugin registry: refusals name the file and the reason; a third-party
// backend built outside backends/ is found through MPROC_PLUGIN_PATH.
#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include <fmt/format.h>

#include <mproc/plugin/abi.hpp>
#include <mproc/plugins.hpp>

#include "support.hpp"

namespace mp = mproc;
using Catch::Matchers::Contains;

namespace {

std::string refusal(const char* name) {
    try {
        mp::get_context(name);
    } catch (const mp::PluginError& e) {
        return e.what();
    }
    return "loaded";
}

void report_marker() {
    mp::exit(std::getenv("MPROC_TEST_THIRD_PARTY_CHILD") ? 7 : 0);
}

}  // namespace

TEST_CASE("a plugin with another ABI version is refused", "[plugins]") {
    auto msg = refusal("wrongabi");
    CHECK_THAT(msg, Contains("mproc-backend-wrongabi.so"));
    CHECK_THAT(msg,
               Contains(fmt::format("has plugin ABI version {}, this libmproc expects {}",
                                    mproc::plugin::abi_version + 1, mproc::plugin::abi_version)));
}

TEST_CASE("a library without the entry symbol is refused", "[plugins]") {
    auto msg = refusal("noentry");
    CHECK_THAT(msg, Contains("mproc-backend-noentry.so"));
    CHECK_THAT(msg, Contains("has no mproc_plugin_entry symbol"));
}

TEST_CASE("a plugin whose name differs from its file is refused", "[plugins]") {
    auto msg = refusal("misnamed");
    CHECK_THAT(msg, Contains("mproc-backend-misnamed.so"));
    CHECK_THAT(msg, Contains("declares the name 'fork' but its file name says 'misnamed'"));
}

TEST_CASE("a third-party backend is found on MPROC_PLUGIN_PATH and used", "[plugins]") {
    const char* path = std::getenv("MPROC_PLUGIN_PATH");
    REQUIRE(path != nullptr);
    CHECK_THAT(std::string(path), Contains(MPROC_TEST_PLUGIN_DIR));
    auto ctx = mp::get_context("thirdparty");
    CHECK(ctx.get_start_method() == "thirdparty");
    auto p = ctx.Process(report_marker);
    p.start();
    p.join();
    CHECK(p.exitcode() == 7);  // the child was started by the third-party backend
}

TEST_CASE("directories added in code come first", "[plugins]") {
    auto dir = std::filesystem::temp_directory_path() / "mproc-test-plugin-dir";
    mp::add_plugin_directory(dir);
    auto dirs = mp::plugin_directories();
    REQUIRE_FALSE(dirs.empty());
    CHECK(dirs.front() == dir);
    // The system path is blanked for tests: only user and MPROC_PLUGIN_PATH dirs.
    for (const auto& d : dirs) CHECK_THAT(d.string(), !Contains("/usr/"));
}

namespace {

void answer(mp::Connection c) {
    c.send(std::string("found"));
}

// In a fork child whose plugins are found only through directories added
// in code: spawn and forkserver children must find them too.
void spawn_with_added_dirs_only(mp::Connection out) {
    ::unsetenv("MPROC_PLUGIN_PATH");
    std::string dirs = MPROC_TEST_BUILD_PLUGIN_PATH;
    for (std::size_t at = 0, next; at <= dirs.size(); at = next + 1) {
        next = dirs.find(':', at);
        if (next == std::string::npos) next = dirs.size();
        mp::add_plugin_directory(dirs.substr(at, next - at));
    }
    std::string got;
    for (const char* method : {"spawn", "forkserver"}) {
        auto ctx = mp::get_context(method);
        auto [r, w] = ctx.Pipe(false);
        auto p = ctx.Process(answer, w);
        p.start();
        w.close();
        got += r.recv<std::string>() + " ";
        p.join();
    }
    out.send(got);
}

}  // namespace

TEST_CASE("directories added in code reach exec children", "[plugins]") {
    auto fork = mp::get_context("fork");
    auto [r, w] = fork.Pipe(false);
    auto p = fork.Process(spawn_with_added_dirs_only, w);
    p.start();
    w.close();
    CHECK(r.recv<std::string>() == "found found ");
    p.join();
    CHECK(p.exitcode() == 0);
}

// Issue 17: plugins linked into the program. mproc_tests links the
// third-party backend under the name "linkedin" (tests/plugins/meson.build);
// a file mproc-backend-linkedin.so is on the plugin path too.
MPROC_LINK_PLUGIN(start_method, "linkedin")

TEST_CASE("a plugin linked into the program is used before any file", "[plugins]") {
    auto all = mp::get_all_start_methods();
    CHECK(std::find(all.begin(), all.end(), "linkedin") != all.end());
    auto ctx = mp::get_context("linkedin");
    CHECK(ctx.get_start_method() == "linkedin");
    auto p = ctx.Process(report_marker);
    p.start();
    p.join();
    CHECK(p.exitcode() == 7);  // the linked-in backend marked its child
}

TEST_CASE("list_plugins shows linked-in plugins and refuses a file of the same name", "[plugins]") {
    bool linked = false, file_refused = false, fork_file = false;
    for (const auto& p : mp::list_plugins()) {
        INFO(p.kind << " " << p.name << " " << p.origin << " " << p.file << " " << p.refused);
        if (p.name == "linkedin" && p.builtin()) {
            CHECK(p.origin == "linked in");
            CHECK(p.refused.empty());
            linked = true;
        }
        if (p.name == "linkedin" && !p.builtin()) {
            CHECK(p.file.filename() == "mproc-backend-linkedin.so");
            CHECK_THAT(p.refused, Contains("a linked-in start method named 'linkedin' exists"));
            file_refused = true;
        }
        if (p.name == "fork" && !p.builtin() && p.refused.empty()) fork_file = true;
        if (p.name == "wrongabi") CHECK_THAT(p.refused, Contains("has plugin ABI version"));
    }
    CHECK(linked);
    CHECK(file_refused);
    CHECK(fork_file);  // this build's fork is a file
}

TEST_CASE("a start method that is not built says so", "[plugins]") {
    auto msg = refusal("nosuchmethod");
    CHECK_THAT(msg, Contains("'nosuchmethod' is not built into this program (this mproc was "
                             "built with start methods: "));
}
