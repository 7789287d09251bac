// Port of the tutorial's "Determining the Current Process" example
// (multiprocessing_names.py):
//
//   def worker():
//       name = multiprocessing.current_process().name
//       print name, 'Starting'
//       time.sleep(2)
//       print name, 'Exiting'
//
//   def my_service():
//       name = multiprocessing.current_process().name
//       print name, 'Starting'
//       time.sleep(3)
//       print name, 'Exiting'
//
//   if __name__ == '__main__':
//       service = multiprocessing.Process(name='my_service', target=my_service)
//       worker_1 = multiprocessing.Process(name='worker 1', target=worker)
//       worker_2 = multiprocessing.Process(target=worker) # use default name
//       worker_1.start()
//       worker_2.start()
//       service.start()
//
// The unnamed worker is "Process-3": it was the third Process created. The
// three run concurrently (the sleeps only stretched the tutorial's run), so
// their lines may interleave. The main process does not join: at exit mproc
// joins the non-daemonic children, as Python does.
#include <cstdio>

#include <fmt/core.h>

#include <mproc/mproc.hpp>

namespace mp = mproc;

void worker() {
    auto name = mp::current_process().name();
    fmt::print("{} Starting\n", name);
    std::fflush(stdout);
    fmt::print("{} Exiting\n", name);
}

void my_service() {
    auto name = mp::current_process().name();
    fmt::print("{} Starting\n", name);
    std::fflush(stdout);
    fmt::print("{} Exiting\n", name);
}

int main(int argc, char** argv) {
    mp::freeze_support(argc, argv);
    mp::Process service({.name = "my_service"}, my_service);
    mp::Process worker_1({.name = "worker 1"}, worker);
    mp::Process worker_2(worker);  // use default name

    worker_1.start();
    worker_2.start();
    service.start();
}
