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
RemoteError::RemoteError(std::string type_name, std::string message, std::string worker)
    : ProcessError((message.empty() ? type_name : type_name + ": " + message) +
                   (worker.empty() ? "" : " (in " + worker + ")")),
      type_name_(std::move(type_name)),
      message_(std::move(message)),
      worker_(std::move(worker)) {}
RemoteError::~RemoteError() = default;
WorkerLostError::WorkerLostError(int pid, std::string worker, std::string how)
    : ProcessError("worker " + worker + " (pid " + std::to_string(pid) +
                   ") ended while running the task: " + how),
      pid_(pid),
      worker_(std::move(worker)),
      how_(std::move(how)) {}
WorkerLostError::~WorkerLostError() = default;
KeyboardInterrupt::~KeyboardInterrupt() = default;

}  // namespace mproc
