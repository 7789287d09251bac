// The docs' "Customized managers" example: MathsClass registered with a
// BaseManager, its methods named once.
//
//   class MathsClass:
//       def add(self, x, y): return x + y
//       def mul(self, x, y): return x * y
//   class MyManager(BaseManager): pass
//   MyManager.register('Maths', MathsClass)
//   with MyManager() as manager:
//       maths = manager.Maths()
//       print(maths.add(4, 3))         # prints 7
//       print(maths.mul(7, 8))         # prints 56
#include <fmt/core.h>

#include <mproc/managers.hpp>
#include <mproc/mproc.hpp>

namespace mp = mproc;

struct MathsClass {
    int add(int x, int y) const { return x + y; }
    int mul(int x, int y) const { return x * y; }
};

// At namespace scope, so that a spawned server registers it too.
static const bool registered = mp::BaseManager::register_<MathsClass>(
    "Maths", {{"add", &MathsClass::add}, {"mul", &MathsClass::mul}});

int main(int argc, char** argv) {
    mp::freeze_support(argc, argv);
    mp::BaseManager manager;
    manager.start();  // scope exit shuts it down, as Python's with block
    auto maths = manager.create("Maths");
    fmt::print("{}\n", maths.call<int>("add", 4, 3));  // prints 7
    fmt::print("{}\n", maths.call<int>("mul", 7, 8));  // prints 56
}
