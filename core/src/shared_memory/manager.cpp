// SharedMemoryManager: the server side is one registered type,
// "SharedMemoryServer" (every create() gives the same object), that makes
// blocks and keeps them open until the server stops; then an exit hook of
// the manager's server unlinks them all.
#include <mutex>

#include <mproc/shared_memory_manager.hpp>

#include "managers/server.hpp"

namespace mproc {

namespace {

namespace smem = shared_memory;

// Lives in the server process only (made by the first create()).
class BlockServer {
  public:
    std::string create(std::int64_t size) { return keep(smem::SharedMemory::create(size)); }
    std::string create_list(list items) {
        smem::ShareableList l(items);
        return keep(l.shm());
    }
    std::vector<std::string> list_segments() {
        std::lock_guard g(mu_);
        std::vector<std::string> names;
        for (auto& b : blocks_) names.push_back(b.name());
        return names;
    }
    // At the server's end: unlink them all, used or not (as Python's).
    void unlink_all() {
        std::lock_guard g(mu_);
        for (auto& b : blocks_) {
            try {
                b.unlink();
            } catch (const std::exception&) {  // unlinked by someone else already
            }
        }
        blocks_.clear();
    }

  private:
    std::string keep(const smem::SharedMemory& b) {
        std::lock_guard g(mu_);
        blocks_.push_back(b);
        return b.name();
    }

    std::mutex mu_;
    std::vector<smem::SharedMemory> blocks_;
};

std::shared_ptr<BlockServer> block_server() {
    static std::once_flag once;
    static std::shared_ptr<BlockServer> server;
    std::call_once(once, [] {
        server = std::make_shared<BlockServer>();
        managers::detail::at_server_exit([s = server] { s->unlink_all(); });
    });
    return server;
}

constexpr const char* server_type = "SharedMemoryServer";

// At namespace scope, so that a spawned server process registers it too.
const bool registered =
    BaseManager::register_<BlockServer>(server_type,
                                        {{"create", &BlockServer::create},
                                         {"create_list", &BlockServer::create_list},
                                         {"list_segments", &BlockServer::list_segments}},
                                        &block_server, "SharedMemoryManager");

}  // namespace

smem::SharedMemory SharedMemoryManager::SharedMemory(std::int64_t size) {
    if (size <= 0)
        throw ValueError("SharedMemoryManager.SharedMemory: 'size' must be a positive number");
    auto name = create(server_type).call<std::string>("create", size);
    return smem::SharedMemory(name);
}

smem::ShareableList SharedMemoryManager::ShareableList(const list& sequence) {
    auto name = create(server_type).call<std::string>("create_list", sequence);
    return smem::ShareableList(name);
}

std::vector<std::string> SharedMemoryManager::list_segments() {
    return create(server_type).call<std::vector<std::string>>("list_segments");
}

}  // namespace mproc
