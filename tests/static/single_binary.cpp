// The single-binary check (issue 17): a program linked with a static
// libmproc whose plugins are all built in. Run with nothing on the plugin
// path (MPROC_PLUGIN_PATH and MPROC_PLUGIN_SYSTEM_PATH empty) and nothing
// installed; tests/static/check.sh runs it in the ways below.
//
//   single_binary all fork,spawn,forkserver   every listed start method
//       is built in and runs a child (spawn and forkserver children are
//       this same program, which must find them without a file);
//   single_binary shadow DIR                  DIR holds a file named like
//       the built-in fork: it is listed as refused, and fork still works;
//   single_binary only fork                   only fork is built: asking
//       for spawn fails saying that it is not built.
//
// Prints one line per check; exit status 0 when all passed.
#include <cstdlib>
#include <string>
#include <vector>

#include <fmt/core.h>

#include <mproc/mproc.hpp>
#include <mproc/plugins.hpp>

namespace mp = mproc;

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
    fmt::print("{}: {}\n", ok ? "ok" : "FAIL", what);
    if (!ok) ++failures;
}

std::vector<std::string> split(const std::string& list) {
    std::vector<std::string> out;
    std::string item;
    for (char c : list + ",") {
        if (c == ',') {
            if (!item.empty()) out.push_back(item);
            item.clear();
        } else {
            item += c;
        }
    }
    return out;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
    for (const auto& x : v)
        if (x == s) return true;
    return false;
}

}  // namespace

// The child's whole work: answer under the lock (a semaphore of the start
// method) with its start method's name.
void child(mp::Connection c, mp::Lock lock, std::string method) {
    std::lock_guard g(lock);
    c.send("child under " + method);
}

namespace {

void run_one(const std::string& method) {
    auto ctx = mp::get_context(method);
    auto [r, w] = ctx.Pipe(false);
    auto p = ctx.Process(child, w, ctx.Lock(), method);
    p.start();
    w.close();
    auto got = r.recv<std::string>();
    p.join();
    check(got == "child under " + method && p.exitcode() == 0,
          fmt::format("{} child ran ({}, exit code {})", method, got, p.exitcode().value_or(-1)));
}

bool listed_builtin(const std::string& kind, const std::string& name) {
    for (const auto& p : mp::list_plugins())
        if (p.kind == kind && p.name == name && p.builtin() && p.refused.empty()) return true;
    return false;
}

}  // namespace

int main(int argc, char** argv) {
    mp::freeze_support(argc, argv);
    std::string mode = argc > 1 ? argv[1] : "";
    std::string arg = argc > 2 ? argv[2] : "";
    if (mode == "all") {
        auto all = mp::get_all_start_methods();
        for (const auto& m : split(arg)) {
            check(contains(all, m), m + " is in get_all_start_methods()");
            check(listed_builtin("start method", m), m + " is listed as built in");
            run_one(m);
        }
        check(listed_builtin("serializer", "msgpack"), "msgpack is listed as built in");
    } else if (mode == "shadow") {
        mp::add_plugin_directory(arg);
        bool refused = false;
        for (const auto& p : mp::list_plugins()) {
            if (!p.builtin() && p.name == "fork") {
                fmt::print("listed: {} refused: {}\n", p.file.filename().string(), p.refused);
                refused = p.refused.find("a built-in start method named 'fork' exists") !=
                          std::string::npos;
            }
        }
        check(refused, "a fork plugin file is refused since fork is built in");
        run_one("fork");
    } else if (mode == "only") {
        auto want = split(arg);
        check(mp::get_all_start_methods() == want,
              fmt::format("get_all_start_methods() is only {}", arg));
        try {
            mp::get_context("spawn");
            check(false, "spawn is refused");
        } catch (const mp::PluginError& e) {
            std::string msg = e.what();
            fmt::print("spawn: {}\n", msg);
            check(msg.find("'spawn' is not built into this program") != std::string::npos,
                  "the error says spawn is not built");
        }
        for (const auto& m : want) run_one(m);
    } else {
        fmt::print(stderr, "usage: {} all METHODS | shadow DIR | only METHODS\n", argv[0]);
        return 2;
    }
    return failures == 0 ? 0 : 1;
}
