// The environment on Linux (see environment.hpp).
#include <cstdlib>

#include "base/environment.hpp"

namespace mproc::env {

char path_list_separator() noexcept {
    return ':';
}

void unset(const char* name) {
    ::unsetenv(name);
}

std::string own_executable() {
    // The running image itself, even if its file was replaced or removed.
    return "/proc/self/exe";
}

}  // namespace mproc::env
