// Port of the Python docs' big Pool example ("Using Pool"): apply_async,
// imap, imap_unordered and map over (function, args) tasks, error handling,
// and timeouts. The Python original:
//
//   def calculate(func, args):
//       result = func(*args)
//       return '%s says that %s%s = %s' % (
//           multiprocessing.current_process().name, func.__name__, args, result)
//   def calculatestar(args):
//       return calculate(*args)
//   def mul(a, b):
//       time.sleep(0.5 * random.random())
//       return a * b
//   def plus(a, b):
//       time.sleep(0.5 * random.random())
//       return a + b
//   def f(x):
//       return 1.0 / (x - 5.0)
//   def pow3(x):
//       return x ** 3
//   def noop(x):
//       pass
//
//   def test():
//       PROCESSES = 4
//       print('Creating pool with %d processes\n' % PROCESSES)
//       with multiprocessing.Pool(PROCESSES) as pool:
//           TASKS = [(mul, (i, 7)) for i in range(10)] +
//                   [(plus, (i, 8)) for i in range(10)]
//           results = [pool.apply_async(calculate, t) for t in TASKS]
//           imap_it = pool.imap(calculatestar, TASKS)
//           imap_unordered_it = pool.imap_unordered(calculatestar, TASKS)
//           print('Ordered results using pool.apply_async():')
//           for r in results:
//               print('\t', r.get())
//           ... (imap, imap_unordered, map the same way)
//           print('Testing error handling:')
//           ... (apply, map, list(imap), and IMapIterator.next() of f over
//                range(10) raise ZeroDivisionError at x == 5)
//           print('Testing ApplyResult.get() with timeout:', end=' ')
//           ... (res.get(0.02) until it succeeds, printing '.' per timeout)
//           print('Testing IMapIterator.next() with timeout:', end=' ')
//           ... (it.next(0.02) until StopIteration, '.' per timeout)
//
// A task is a (function pointer, args) tuple, as in Python: function pointers
// cross into the workers as values (<mproc/function.hpp>). C++ has no
// ZeroDivisionError; f throws one of its own, which arrives as an
// mp::RemoteError carrying its type name.
#include <chrono>
#include <cstdio>
#include <random>
#include <ranges>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <fmt/core.h>

#include <mproc/mproc.hpp>

namespace mp = mproc;
using namespace std::chrono_literals;

using Args = std::tuple<int, int>;
using Func = int (*)(int, int);
using Task = std::tuple<Func, Args>;

//
// Functions used by test code
//

double random01() {
    thread_local std::mt19937 gen{std::random_device{}()};
    return std::uniform_real_distribution<double>(0.0, 1.0)(gen);
}

int mul(int a, int b) {
    std::this_thread::sleep_for(std::chrono::duration<double>(0.5 * random01()));
    return a * b;
}

int plus(int a, int b) {
    std::this_thread::sleep_for(std::chrono::duration<double>(0.5 * random01()));
    return a + b;
}

std::string name_of(Func func) {
    return func == &mul ? "mul" : func == &plus ? "plus" : "?";
}

std::string calculate(Func func, Args args) {
    int result = std::apply(func, args);
    return fmt::format("{} says that {}({}, {}) = {}", mp::current_process().name(), name_of(func),
                       std::get<0>(args), std::get<1>(args), result);
}

std::string calculatestar(Task t) {
    return std::apply(calculate, t);
}

struct ZeroDivisionError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

double f(int x) {
    if (x == 5) throw ZeroDivisionError("float division by zero");
    return 1.0 / (x - 5.0);
}

bool is_zero_division(const mp::RemoteError& e) {
    return e.type_name() == "ZeroDivisionError";
}

//
// Test code
//

void test() {
    constexpr int PROCESSES = 4;
    fmt::print("Creating pool with {} processes\n\n", PROCESSES);
    mp::Pool pool(PROCESSES);

    //
    // Tests
    //

    std::vector<Task> TASKS;
    for (int i = 0; i < 10; ++i) TASKS.push_back({&mul, {i, 7}});
    for (int i = 0; i < 10; ++i) TASKS.push_back({&plus, {i, 8}});

    std::vector<mp::AsyncResult<std::string>> results;
    for (auto& [func, args] : TASKS) results.push_back(pool.apply_async(calculate, func, args));
    auto imap_it = pool.imap(calculatestar, TASKS);
    auto imap_unordered_it = pool.imap_unordered(calculatestar, TASKS);

    fmt::print("Ordered results using pool.apply_async():\n");
    for (auto& r : results) fmt::print("\t {}\n", r.get());
    fmt::print("\n");

    fmt::print("Ordered results using pool.imap():\n");
    for (auto& x : imap_it) fmt::print("\t {}\n", x);
    fmt::print("\n");

    fmt::print("Unordered results using pool.imap_unordered():\n");
    for (auto& x : imap_unordered_it) fmt::print("\t {}\n", x);
    fmt::print("\n");

    fmt::print("Ordered results using pool.map() --- will block till complete:\n");
    for (auto& x : pool.map(calculatestar, TASKS)) fmt::print("\t {}\n", x);
    fmt::print("\n");

    //
    // Test error handling
    //

    fmt::print("Testing error handling:\n");
    try {
        fmt::print("{}\n", pool.apply(f, 5));
        throw std::logic_error("expected ZeroDivisionError");
    } catch (const mp::RemoteError& e) {
        if (!is_zero_division(e)) throw;
        fmt::print("\tGot ZeroDivisionError as expected from pool.apply()\n");
    }
    try {
        pool.map(f, std::views::iota(0, 10));
        throw std::logic_error("expected ZeroDivisionError");
    } catch (const mp::RemoteError& e) {
        if (!is_zero_division(e)) throw;
        fmt::print("\tGot ZeroDivisionError as expected from pool.map()\n");
    }
    try {
        std::vector<double> all;
        for (double x : pool.imap(f, std::views::iota(0, 10))) all.push_back(x);
        throw std::logic_error("expected ZeroDivisionError");
    } catch (const mp::RemoteError& e) {
        if (!is_zero_division(e)) throw;
        fmt::print("\tGot ZeroDivisionError as expected from list(pool.imap())\n");
    }
    auto it = pool.imap(f, std::views::iota(0, 10));
    int i = 0;
    for (; i < 10; ++i) {
        try {
            if (!it.next()) break;
            if (i == 5) throw std::logic_error("expected ZeroDivisionError");
        } catch (const mp::RemoteError& e) {
            if (!is_zero_division(e) || i != 5) throw;
        }
    }
    if (i != 10) throw std::logic_error("IMapIterator ended early");
    fmt::print("\tGot ZeroDivisionError as expected from IMapIterator.next()\n");
    fmt::print("\n");

    //
    // Testing timeouts
    //

    fmt::print("Testing ApplyResult.get() with timeout: ");
    auto res = pool.apply_async(calculate, std::get<0>(TASKS[0]), std::get<1>(TASKS[0]));
    for (;;) {
        std::fflush(stdout);
        try {
            fmt::print("\n\t{}", res.get(20ms));
            break;
        } catch (const mp::TimeoutError&) {
            fmt::print(".");
        }
    }
    fmt::print("\n\n");

    fmt::print("Testing IMapIterator.next() with timeout: ");
    auto it2 = pool.imap(calculatestar, TASKS);
    for (;;) {
        std::fflush(stdout);
        try {
            auto x = it2.next(20ms);
            if (!x) break;
            fmt::print("\n\t{}", *x);
        } catch (const mp::TimeoutError&) {
            fmt::print(".");
        }
    }
    fmt::print("\n\n");
}

int main(int argc, char** argv) {
    mp::freeze_support(argc, argv);
    test();
}
