// The docs' "Using a remote manager" example, the three programs driven
// together: a queue server on a TCP port, a client that puts 'hello', and
// another that gets it. Each runs in a process started by spawn, so the
// three share nothing but the address and the key.
//
//   queue = queue.Queue()
//   class QueueManager(BaseManager): pass
//   QueueManager.register('get_queue', callable=lambda: queue)
//   m = QueueManager(address=('', 50000), authkey=b'abracadabra')
//   m.get_server().serve_forever()
//
//   QueueManager.register('get_queue')      # clients: no callable
//   m = QueueManager(address=('foo.bar.org', 50000), authkey=b'abracadabra')
//   m.connect()
//   queue = m.get_queue()
//   queue.put('hello')                      # one client
//   queue.get()                             # the other: 'hello'
#include <fmt/core.h>

#include <mproc/managers.hpp>
#include <mproc/mproc.hpp>

namespace mp = mproc;

// The server's get_queue: the same Queue for every caller. (A client needs
// no registration: create("get_queue") names the typeid.)
static const bool registered = mp::BaseManager::register_builtin("get_queue", "Queue", true);

void server(mp::Connection port_out) {
    mp::BaseManager m(mp::connection::Address("127.0.0.1", 0), "abracadabra");
    auto s = m.get_server();
    port_out.send(int(s.address().inet()->port));  // port 0: the system picked one
    s.serve_forever();
}

void putter(int port) {
    mp::BaseManager m(mp::connection::Address("127.0.0.1", port), "abracadabra");
    m.connect();
    auto queue = m.create<mp::QueueProxy>("get_queue");
    queue.put("hello");
}

void getter(int port) {
    mp::BaseManager m(mp::connection::Address("127.0.0.1", port), "abracadabra");
    m.connect();
    auto queue = m.create<mp::QueueProxy>("get_queue");
    fmt::print("{}\n", queue.get());  // the docs show the repr: 'hello'
}

int main(int argc, char** argv) {
    mp::freeze_support(argc, argv);
    auto ctx = mp::get_context("spawn");
    auto [a, b] = ctx.Pipe();
    auto s = ctx.Process(server, b);
    s.start();
    const int port = a.recv<int>();
    auto p = ctx.Process(putter, port);
    auto g = ctx.Process(getter, port);
    p.start();
    g.start();
    p.join();
    g.join();
    s.terminate();  // the docs' server runs forever
    s.join();
}
