// Out-of-line destructors anchor each exception's type info in libmproc, so
// that plugins and programs throw and catch the very same types.
#include <mproc/errors.hpp>

#include <utility>

namespace mproc {

Error::~Error() = default;
ProcessError::~ProcessError() = default;
TimeoutError::~TimeoutError() = default;
AuthenticationError::~AuthenticationError() = default;
BufferTooShort::BufferTooShort(std::vector<std::byte> message)
    : ProcessError("buffer too short for a message of " + std::to_string(message.size()) +
                   " bytes"),
      message_(std::move(message)) {}
BufferTooShort::~BufferTooShort() = default;
EOFError::~EOFError() = default;
ValueError::~ValueError() = default;
ClosedError::~ClosedError() = default;
FileExistsError::~FileExistsError() = default;
FileNotFoundError::~FileNotFoundError() = default;
SerializationError::~SerializationError() = default;
PluginError::~PluginError() = default;
AbandonedLock::~AbandonedLock() = default;
BrokenBarrierError::~BrokenBarrierError() = default;
Empty::~Empty() = default;
Full::~Full() = default;
ShutDown::~ShutDown() = default;

}  // namespace mproc
