// Standard error on Linux (see stderr.hpp).
#include <unistd.h>

#include <cerrno>

#include "base/stderr.hpp"

namespace mproc::detail {

void write_to_stderr(std::string_view msg) {
    std::size_t done = 0;
    while (done < msg.size()) {
        ssize_t n = ::write(2, msg.data() + done, msg.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        done += std::size_t(n);
    }
}

}  // namespace mproc::detail
