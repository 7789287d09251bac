// Another program for set_executable tests: it registers `greet` under the
// same name as the test program does, with a body that says who it is.
#include <mproc/mproc.hpp>

namespace mp = mproc;

void greet(mp::Connection c, std::string who) {
    c.send("exec_helper greets " + who);
}
MPROC_REGISTER_FUNCTION(greet);

int main(int argc, char** argv) {
    mp::freeze_support(argc, argv);
    return 0;
}
