// Port of the tutorial's "Subclassing Process" example
// (multiprocessing_subclass.py):
//
//   class Worker(multiprocessing.Process):
//       def run(self):
//           print 'In %s' % self.name
//           return
//
//   if __name__ == '__main__':
//       jobs = []
//       for i in range(5):
//           p = Worker()
//           jobs.append(p)
//           p.start()
//       for j in jobs:
//           j.join()
//
// Default names come from the class name, as in Python: Worker-1 .. Worker-5.
#include <array>

#include <fmt/core.h>

#include <mproc/mproc.hpp>

namespace mp = mproc;

struct Worker : mp::Process {
    void run() override { fmt::print("In {}\n", name()); }
};

int main(int argc, char** argv) {
    mp::freeze_support(argc, argv);
    std::array<Worker, 5> jobs;
    for (auto& p : jobs) p.start();
    for (auto& j : jobs) j.join();
}
