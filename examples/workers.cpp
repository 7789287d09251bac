// Port of the Python docs' example "how to use queues to feed tasks to a
// collection of worker processes and collect the results":
//
//   import time
//   import random
//
//   from multiprocessing import Process, Queue, current_process, freeze_support
//
//   def worker(input, output):
//       for func, args in iter(input.get, 'STOP'):
//           result = calculate(func, args)
//           output.put(result)
//
//   def calculate(func, args):
//       result = func(*args)
//       return '%s says that %s%s = %s' % (
//           current_process().name, func.__name__, args, result)
//
//   def mul(a, b):
//       time.sleep(0.5*random.random())
//       return a * b
//
//   def plus(a, b):
//       time.sleep(0.5*random.random())
//       return a + b
//
//   def test():
//       NUMBER_OF_PROCESSES = 4
//       TASKS1 = [(mul, (i, 7)) for i in range(20)]
//       TASKS2 = [(plus, (i, 8)) for i in range(10)]
//
//       # Create queues
//       task_queue = Queue()
//       done_queue = Queue()
//
//       # Submit tasks
//       for task in TASKS1:
//           task_queue.put(task)
//
//       # Start worker processes
//       for i in range(NUMBER_OF_PROCESSES):
//           Process(target=worker, args=(task_queue, done_queue)).start()
//
//       # Get and print results
//       print('Unordered results:')
//       for i in range(len(TASKS1)):
//           print('\t', done_queue.get())
//
//       # Add more tasks using `put()`
//       for task in TASKS2:
//           task_queue.put(task)
//
//       # Get and print some more results
//       for i in range(len(TASKS2)):
//           print('\t', done_queue.get())
//
//       # Tell child processes to stop
//       for i in range(NUMBER_OF_PROCESSES):
//           task_queue.put('STOP')
//
//   if __name__ == '__main__':
//       freeze_support()
//       test()
//
// A C++ function cannot travel in a message, so a task names its function
// and the worker looks the name up ("functions referenced by tasks"). What
// Python's task queue holds, a (func, args) tuple or the string 'STOP',
// becomes a variant of the two. The results come in any order, from any
// worker, as in Python; the workers are not joined by hand: mproc joins them
// at exit, once each has got its 'STOP'.
#include <map>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <variant>
#include <vector>

#include <fmt/core.h>

#include <mproc/mproc.hpp>

namespace mp = mproc;

using Args = std::tuple<int, int>;
using Call = std::tuple<std::string, Args>;    // (func, args)
using Task = std::variant<Call, std::string>;  // a call, or 'STOP'

//
// Functions referenced by tasks
//

double random01() {
    thread_local std::mt19937 gen{std::random_device{}()};
    return std::uniform_real_distribution<double>(0.0, 1.0)(gen);
}

void sleep_seconds(double s) {
    std::this_thread::sleep_for(std::chrono::duration<double>(s));
}

int mul(int a, int b) {
    sleep_seconds(0.5 * random01());
    return a * b;
}

int plus(int a, int b) {
    sleep_seconds(0.5 * random01());
    return a + b;
}

const std::map<std::string, int (*)(int, int)> functions{{"mul", mul}, {"plus", plus}};

//
// Function used to calculate result
//

std::string calculate(const std::string& func, const Args& args) {
    int result = std::apply(functions.at(func), args);
    return fmt::format("{} says that {}({}, {}) = {}", mp::current_process().name(), func,
                       std::get<0>(args), std::get<1>(args), result);
}

//
// Function run by worker processes
//

void worker(mp::Queue<Task> input, mp::Queue<std::string> output) {
    // for func, args in iter(input.get, 'STOP'):
    for (Task task = input.get(); task != Task(std::string("STOP")); task = input.get()) {
        const auto& [func, args] = std::get<Call>(task);
        output.put(calculate(func, args));
    }
}

//
//
//

void test() {
    constexpr int NUMBER_OF_PROCESSES = 4;
    std::vector<Call> TASKS1, TASKS2;
    for (int i = 0; i < 20; ++i) TASKS1.push_back({"mul", {i, 7}});
    for (int i = 0; i < 10; ++i) TASKS2.push_back({"plus", {i, 8}});

    // Create queues
    mp::Queue<Task> task_queue;
    mp::Queue<std::string> done_queue;

    // Submit tasks
    for (const auto& task : TASKS1) task_queue.put(task);

    // Start worker processes
    for (int i = 0; i < NUMBER_OF_PROCESSES; ++i)
        mp::Process(worker, task_queue, done_queue).start();

    // Get and print results
    fmt::print("Unordered results:\n");
    for (std::size_t i = 0; i < TASKS1.size(); ++i) fmt::print("\t {}\n", done_queue.get());

    // Add more tasks using `put()`
    for (const auto& task : TASKS2) task_queue.put(task);

    // Get and print some more results
    for (std::size_t i = 0; i < TASKS2.size(); ++i) fmt::print("\t {}\n", done_queue.get());

    // Tell child processes to stop
    for (int i = 0; i < NUMBER_OF_PROCESSES; ++i) task_queue.put(std::string("STOP"));
}

int main(int argc, char** argv) {
    mp::freeze_support(argc, argv);
    test();
}
