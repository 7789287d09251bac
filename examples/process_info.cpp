// Port of the Python docs' info()/f example ("The Process class"), which
// shows the ids of the processes involved:
//
//   def info(title):
//       print(title)
//       print('module name:', __name__)
//       print('parent process:', os.getppid())
//       print('process id:', os.getpid())
//
//   def f(name):
//       info('function f')
//       print('hello', name)
//
//   if __name__ == '__main__':
//       info('main line')
//       p = Process(target=f, args=('bob',))
//       p.start()
//       p.join()
//
// C++ has no module names at run time; the nearest thing is the translation
// unit, so "module name" prints the source file's stem.
#include <unistd.h>

#include <string>
#include <string_view>

#include <fmt/core.h>

#include <mproc/mproc.hpp>

namespace mp = mproc;

constexpr std::string_view module_name() {
    std::string_view file = __FILE__;
    file.remove_prefix(file.find_last_of('/') + 1);  // npos + 1 == 0: no slash
    return file.substr(0, file.rfind('.'));
}

void info(std::string_view title) {
    fmt::print("{}\n", title);
    fmt::print("module name: {}\n", module_name());
    fmt::print("parent process: {}\n", ::getppid());
    fmt::print("process id: {}\n", ::getpid());
}

void f(std::string name) {
    info("function f");
    fmt::print("hello {}\n", name);
}

int main(int argc, char** argv) {
    mp::freeze_support(argc, argv);
    info("main line");
    mp::Process p(f, "bob");
    p.start();
    p.join();
}
