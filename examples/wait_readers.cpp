// Port of the Python docs' multiprocessing.connection.wait() example:
//
//   def foo(w):
//       for i in range(10):
//           w.send((i, current_process().name))
//       w.close()
//
//   if __name__ == '__main__':
//       readers = []
//       for i in range(4):
//           r, w = Pipe(duplex=False)
//           readers.append(r)
//           p = Process(target=foo, args=(w,))
//           p.start()
//           # We close the writable end of the pipe now to be sure that
//           # p is the only process which owns a handle for it.  This
//           # ensures that when p closes its handle for the writable end,
//           # wait() will promptly report the readable end as being ready.
//           w.close()
//
//       while readers:
//           for r in wait(readers):
//               try:
//                   msg = r.recv()
//               except EOFError:
//                   readers.remove(r)
//               else:
//                   print(msg)
//
// As in Python, each Process object goes out of scope while its child runs;
// mproc keeps track of the child and joins it at exit.
#include <algorithm>
#include <string>
#include <tuple>
#include <vector>

#include <fmt/core.h>

#include <mproc/mproc.hpp>

namespace mp = mproc;

using Message = std::tuple<int, std::string>;

void foo(mp::Connection w) {
    for (int i = 0; i < 10; ++i) w.send(Message{i, mp::current_process().name()});
    w.close();
}

int main(int argc, char** argv) {
    mp::freeze_support(argc, argv);
    std::vector<mp::Connection> readers;

    for (int i = 0; i < 4; ++i) {
        auto [r, w] = mp::Pipe(false);
        readers.push_back(r);
        mp::Process p(foo, w);
        p.start();
        // We close the writable end of the pipe now to be sure that p is the
        // only process which owns a handle for it. This ensures that when p
        // closes its handle for the writable end, wait() will promptly report
        // the readable end as being ready.
        w.close();
    }

    while (!readers.empty()) {
        for (auto& r : mp::wait(readers)) {
            try {
                auto [i, name] = r.recv<Message>();
                fmt::print("({}, '{}')\n", i, name);  // Python's repr of the tuple
            } catch (const mp::EOFError&) {
                std::erase(readers, r);
            }
        }
    }
}
