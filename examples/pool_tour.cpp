// Port of the Python docs' Pool tour (map, imap_unordered, apply_async,
// TimeoutError):
//
//   from multiprocessing import Pool, TimeoutError
//   import time
//   import os
//
//   def f(x):
//       return x*x
//
//   if __name__ == '__main__':
//       # start 4 worker processes
//       with Pool(processes=4) as pool:
//           # print "[0, 1, 4,..., 81]"
//           print(pool.map(f, range(10)))
//           # print same numbers in arbitrary order
//           for i in pool.imap_unordered(f, range(10)):
//               print(i)
//           # evaluate "f(20)" asynchronously
//           res = pool.apply_async(f, (20,))      # runs in *only* one process
//           print(res.get(timeout=1))             # prints "400"
//           # evaluate "os.getpid()" asynchronously
//           res = pool.apply_async(os.getpid, ()) # runs in *only* one process
//           print(res.get(timeout=1))             # prints the PID of that process
//           # launching multiple evaluations asynchronously *may* use more processes
//           multiple_results = [pool.apply_async(os.getpid, ()) for i in range(4)]
//           print([res.get(timeout=1) for res in multiple_results])
//           # make a single worker sleep for 10 secs
//           res = pool.apply_async(time.sleep, (10,))
//           try:
//               print(res.get(timeout=1))
//           except TimeoutError:
//               print("We lacked patience and got a multiprocessing.TimeoutError")
//           print("For the moment, the pool remains available for more work")
//       # exiting the 'with'-block has stopped the pool
//       print("Now the pool is closed and no longer available")
//
// os.getpid is libc's getpid, a plain function like any other: it crosses
// into the workers by its library's build-id and offset.
#include <unistd.h>

#include <chrono>
#include <ranges>
#include <thread>
#include <vector>

#include <fmt/core.h>
#include <fmt/ranges.h>

#include <mproc/mproc.hpp>

namespace mp = mproc;
using namespace std::chrono_literals;

int f(int x) {
    return x * x;
}

void sleep_seconds(int s) {
    std::this_thread::sleep_for(std::chrono::seconds(s));
}

int main(int argc, char** argv) {
    mp::freeze_support(argc, argv);
    {
        // start 4 worker processes
        mp::Pool pool(4);
        // print "[0, 1, 4,..., 81]"
        fmt::print("{}\n", pool.map(f, std::views::iota(0, 10)));
        // print same numbers in arbitrary order
        for (int i : pool.imap_unordered(f, std::views::iota(0, 10))) fmt::print("{}\n", i);
        // evaluate "f(20)" asynchronously
        auto res = pool.apply_async(f, 20);  // runs in *only* one process
        fmt::print("{}\n", res.get(1s));     // prints "400"
        // evaluate "os.getpid()" asynchronously
        auto pid = pool.apply_async(::getpid);  // runs in *only* one process
        fmt::print("{}\n", pid.get(1s));        // prints the PID of that process
        // launching multiple evaluations asynchronously *may* use more processes
        std::vector<mp::AsyncResult<pid_t>> multiple_results;
        for (int i = 0; i < 4; ++i) multiple_results.push_back(pool.apply_async(::getpid));
        std::vector<pid_t> pids;
        for (auto& r : multiple_results) pids.push_back(r.get(1s));
        fmt::print("{}\n", pids);
        // make a single worker sleep for 10 secs
        auto sleeping = pool.apply_async(sleep_seconds, 10);
        try {
            sleeping.get(1s);
            fmt::print("None\n");
        } catch (const mp::TimeoutError&) {
            fmt::print("We lacked patience and got a multiprocessing.TimeoutError\n");
        }
        fmt::print("For the moment, the pool remains available for more work\n");
    }
    // exiting the block has stopped the pool
    fmt::print("Now the pool is closed and no longer available\n");
}
