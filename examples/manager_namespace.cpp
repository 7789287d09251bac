// A manager's Namespace shared with a child process (Python:
// manager.Namespace(); attributes by name).
//
//   def worker(ns):
//       ns.y = ns.x * 2
//       ns.name = 'worker'
//   with Manager() as manager:
//       ns = manager.Namespace()
//       ns.x = 21
//       p = Process(target=worker, args=(ns,)); p.start(); p.join()
//       print(ns)          # Namespace(name='worker', x=21, y=42)
//       print(ns.y)        # 42
#include <fmt/core.h>

#include <mproc/managers.hpp>
#include <mproc/mproc.hpp>

namespace mp = mproc;

void worker(mp::NamespaceProxy ns) {
    ns["y"] = ns.get("x").as<std::int64_t>() * 2;
    ns["name"] = "worker";
}

int main(int argc, char** argv) {
    mp::freeze_support(argc, argv);
    auto manager = mp::Manager();
    auto ns = manager.Namespace();
    ns["x"] = 21;
    mp::Process p(worker, ns);
    p.start();
    p.join();
    fmt::print("{}\n", ns);
    fmt::print("{}\n", ns["y"]);
}
