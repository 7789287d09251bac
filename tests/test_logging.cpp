// The logger: levels, the [LEVEL/ProcessName] format, lifecycle records.
#include <unistd.h>

#include "support.hpp"

namespace mp = mproc;
using Catch::Matchers::Contains;

namespace {

struct Record {
    int level;
    std::string process, msg;
};

// Captures records for the test's duration, then restores silence.
struct Capture {
    std::vector<Record> records;
    Capture() {
        mp::get_logger().set_handler([this](int l, std::string_view p, std::string_view m) {
            records.push_back({l, std::string(p), std::string(m)});
        });
    }
    ~Capture() {
        mp::get_logger().set_handler(nullptr);
        mp::get_logger().set_level(mp::logging::NOTSET);
    }
};

void do_nothing() {}

// In a child: log to stderr (redirected to w) at DEBUG and run a grandchild.
void log_a_grandchild(mp::Connection w) {
    ::dup2(static_cast<int>(w.fileno()), 2);
    w.close();
    mp::log_to_stderr(mp::logging::DEBUG);
    mp::get_logger().log(mp::SUBWARNING, "a subwarning");
    mp::Process g(do_nothing);
    g.start();
    g.join();
}

}  // namespace

TEST_CASE("level names include SUBDEBUG and SUBWARNING", "[logging]") {
    CHECK(mp::logging::level_name(mp::SUBDEBUG) == "SUBDEBUG");
    CHECK(mp::logging::level_name(mp::SUBWARNING) == "SUBWARNING");
    CHECK(mp::logging::level_name(mp::logging::INFO) == "INFO");
    CHECK(mp::logging::level_name(mp::logging::CRITICAL) == "CRITICAL");
    CHECK(mp::logging::level_name(33) == "Level 33");
    CHECK(mp::SUBDEBUG == 5);
    CHECK(mp::SUBWARNING == 25);
}

TEST_CASE("records below the level are dropped; NOTSET means WARNING", "[logging]") {
    Capture cap;
    auto& log = mp::get_logger();
    log.info("dropped");
    log.warning("kept {}", 1);
    log.set_level(mp::SUBDEBUG);
    log.subdebug("sub {}", "debug");
    log.set_level(mp::logging::ERROR);
    log.warning("dropped");
    log.critical("crit");
    REQUIRE(cap.records.size() == 3);
    CHECK(cap.records[0].msg == "kept 1");
    CHECK(cap.records[0].level == mp::logging::WARNING);
    CHECK(cap.records[0].process == "MainProcess");
    CHECK(cap.records[1].msg == "sub debug");
    CHECK(cap.records[2].level == mp::logging::CRITICAL);
    CHECK(log.is_enabled_for(mp::logging::ERROR));
    CHECK_FALSE(log.is_enabled_for(mp::logging::WARNING));
}

TEST_CASE("log_to_stderr prints [LEVEL/ProcessName] and the library logs lifecycles", "[logging]") {
    FOR_EACH_START_METHOD(ctx);
    auto [r, w] = ctx.Pipe(false);
    auto p = ctx.Process(log_a_grandchild, w);
    p.start();
    w.close();
    std::string err = mp::test::read_all(static_cast<int>(r.fileno()));
    p.join();
    CHECK(p.exitcode() == 0);
    auto child = p.name();
    // A context's process is ForkProcess-N (...); its plain mp::Process child
    // is Process-N:1, as in Python.
    auto grandchild = "Process-" + child.substr(child.find('-') + 1) + ":1";
    CHECK_THAT(err, Contains("[SUBWARNING/" + child + "] a subwarning\n"));
    CHECK_THAT(err, Contains("[INFO/" + grandchild + "] child process calling self.run()\n"));
    CHECK_THAT(err, Contains("[INFO/" + grandchild + "] process shutting down\n"));
    CHECK_THAT(err, Contains("[DEBUG/" + grandchild +
                             "] running all \"atexit\" finalizers with priority >= 0\n"));
    CHECK_THAT(err, Contains("[INFO/" + grandchild + "] process exiting with exitcode 0\n"));
    CHECK_THAT(err, Contains("[INFO/" + child + "] process exiting with exitcode 0\n"));
}
