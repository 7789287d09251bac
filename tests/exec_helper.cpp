// Another program for set_executable tests: it registers `greet` under the
// same name as the test program does, with a body that says who it is.
// With --finalizers, a main program whose util::Finalize hooks run at exit.
#include <cstdio>
#include <cstring>

#include <mproc/mproc.hpp>

namespace mp = mproc;

void greet(mp::Connection c, std::string who) {
    c.send("exec_helper greets " + who);
}
MPROC_REGISTER_FUNCTION(greet);

int main(int argc, char** argv) {
    mp::freeze_support(argc, argv);
    if (argc > 1 && std::strcmp(argv[1], "--finalizers") == 0) {
        auto say = [](const char* s) {
            return [s] {
                std::printf("%s\n", s);
                std::fflush(stdout);
            };
        };
        mp::util::Finalize low(say("low"), -3);
        mp::util::Finalize high(say("high"), 2);
        mp::util::Finalize never(say("never"));
        mp::util::Finalize high_later(say("high, registered later"), 2);
        std::printf("main returns\n");
    }
    return 0;
}
