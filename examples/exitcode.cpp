// Port of the tutorial's "Process Exit Status" example
// (multiprocessing_exitcode.py):
//
//   def exit_error():   sys.exit(1)
//   def exit_ok():      return
//   def return_value(): return 1
//   def raises():       raise RuntimeError('There was an error!')
//   def terminated():   time.sleep(3)
//
//   for f in [exit_error, exit_ok, return_value, raises, terminated]:
//       print 'Starting process for', f.func_name
//       j = multiprocessing.Process(target=f, name=f.func_name)
//       jobs.append(j)
//       j.start()
//   jobs[-1].terminate()
//   for j in jobs:
//       j.join()
//       print '%s.exitcode = %s' % (j.name, j.exitcode)
//
// "Starting process for ..." goes to stderr here, so that stdout holds only
// the exit codes. terminated() blocks on a pipe instead of sleeping: it is
// certain to be still running when terminate() arrives.
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/core.h>

#include <mproc/mproc.hpp>

namespace mp = mproc;

void exit_error() {
    mp::exit(1);
}

void exit_ok() {}

int return_value() {
    return 1;
}  // the value is dropped, as in Python: exit code 0

void raises() {
    throw std::runtime_error("There was an error!");
}

void terminated() {
    auto [reader, writer] = mp::Pipe(false);
    reader.recv<int>();  // nobody ever sends: blocks until terminated
}

template <class F>
void start_job(std::vector<mp::Process>& jobs, const char* name, F f) {
    fmt::print(stderr, "Starting process for {}\n", name);
    jobs.emplace_back(mp::ProcessOptions{.name = name}, f);
    jobs.back().start();
}

int main(int argc, char** argv) {
    mp::freeze_support(argc, argv);
    std::vector<mp::Process> jobs;
    start_job(jobs, "exit_error", exit_error);
    start_job(jobs, "exit_ok", exit_ok);
    start_job(jobs, "return_value", return_value);
    start_job(jobs, "raises", raises);
    start_job(jobs, "terminated", terminated);

    jobs.back().terminate();

    for (auto& j : jobs) {
        j.join();
        fmt::print("{}.exitcode = {}\n", j.name(), *j.exitcode());
    }
}
