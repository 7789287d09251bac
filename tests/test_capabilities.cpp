// Capabilities: a start method declares what its processes can share, and
// the core refuses, naming the method, an object that needs what it lacks
// (tests/plugins/no_shared_memory.cpp: processes that share no memory and no
// semaphores). Connections a backend carries its own way cross through its
// attach_connection.
#include <unistd.h>

#include <map>

#include <mproc/plugin/backend.hpp>

#include "support.hpp"

namespace mp = mproc;
using Catch::Matchers::Contains;
using mp::plugin::Capability;

namespace {

template <class F>
std::string refusal(F make) {
    try {
        make();
    } catch (const mp::ValueError& e) {
        return e.what();
    }
    return "made";
}

// Handles kept in a table of our own, duplicated on the way in (as an exec
// child would receive its own copies).
class DupTable final : public mp::HandleTable {
  public:
    ~DupTable() override {
        for (auto& [slot, fd] : fds_) ::close(int(fd));
    }
    std::uint32_t add(std::intptr_t handle) override {
        fds_[next_] = ::dup(int(handle));
        return next_++;
    }
    std::intptr_t get(std::uint32_t slot) override {
        auto fd = fds_.at(slot);
        fds_.erase(slot);
        return fd;
    }
    std::intptr_t borrow(std::uint32_t slot) override { return fds_.at(slot); }

  private:
    std::map<std::uint32_t, std::intptr_t> fds_;
    std::uint32_t next_ = 0;
};

void echo_doubled(mp::Connection c) {
    c.send(c.recv<int>() * 2);
}

}  // namespace

TEST_CASE("the POSIX start methods declare what their processes share", "[capabilities]") {
    FOR_EACH_START_METHOD(ctx);
    auto caps = ctx.backend().capabilities();
    CHECK(caps.has(Capability::shared_memory));
    CHECK(caps.has(Capability::shared_semaphores));
    CHECK(caps.has(Capability::fd_handles));
    CHECK(caps.has(Capability::pollable_sentinels));
    CHECK(caps.has(Capability::handle_passing));
    CHECK(caps.has(Capability::runs_closures) == (ctx.get_start_method() == "fork"));
}

TEST_CASE("objects that need shared memory are refused by a method that has none",
          "[capabilities]") {
    auto ctx = mp::get_context("noshare");
    CHECK_FALSE(ctx.backend().capabilities().has(Capability::shared_memory));
    CHECK_THAT(refusal([&] { ctx.Lock(); }),
               Contains("'noshare' start method has no semaphores shared between its processes") &&
                   Contains("which a Lock needs"));
    CHECK_THAT(refusal([&] { ctx.RLock(); }), Contains("an RLock"));
    CHECK_THAT(refusal([&] { ctx.Semaphore(2); }), Contains("a Semaphore"));
    CHECK_THAT(refusal([&] { ctx.RawValue<int>(1); }),
               Contains("'noshare' start method has no memory shared between its processes"));
    CHECK_THAT(refusal([&] { ctx.Queue<int>(); }), Contains("'noshare' start method"));
    CHECK_THAT(refusal([&] { ctx.Event(); }), Contains("'noshare' start method"));
}

TEST_CASE("a method without shared memory still runs processes and pipes", "[capabilities]") {
    auto ctx = mp::get_context("noshare");
    auto [a, b] = ctx.Pipe();
    int captured = 21;
    auto p = ctx.Process([&captured](mp::Connection c) { c.send(c.recv<int>() + captured); }, b);
    p.start();
    a.send(21);
    CHECK(a.recv<int>() == 42);
    p.join();
    CHECK(p.exitcode() == 0);
}

TEST_CASE("a connection its start method carries crosses through attach_connection",
          "[capabilities]") {
    auto ctx = mp::get_context("noshare");
    auto [a, b] = ctx.Pipe();
    CHECK(b.impl()->carrier() == "noshare");
    a.send(7);  // read ahead by b before it crosses: the bytes travel with it
    auto enc = mp::default_serializer().make_encoder();
    DupTable table;
    enc->handles = &table;
    mp::encode(*enc, b);
    auto dec = mp::default_serializer().make_decoder();
    dec->reset(enc->data());
    dec->handles = &table;
    auto copy = mp::decode<mp::Connection>(*dec);
    b.close();
    CHECK(copy.impl()->carrier() == "noshare");
    CHECK(copy.recv<int>() == 7);
    auto p = ctx.Process(echo_doubled, copy);
    p.start();
    a.send(5);
    CHECK(a.recv<int>() == 10);
    p.join();
}

TEST_CASE("a carried connection refuses to travel where its carrier cannot take it",
          "[capabilities]") {
    auto ctx = mp::get_context("noshare");
    auto [a, b] = ctx.Pipe();
    auto [c, d] = mp::Pipe();
    CHECK_THROWS_WITH(c.send(b), Contains("noshare connections cross only as Process arguments"));
}
