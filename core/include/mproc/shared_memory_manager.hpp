// SharedMemoryManager: a manager whose server process creates shared memory
// blocks and unlinks every block it made when it stops (Python:
// multiprocessing.managers.SharedMemoryManager).
//
//   namespace mp = mproc;
//   {
//       mp::SharedMemoryManager smm;
//       smm.start();                                 // the server process
//       auto sl = smm.ShareableList(mp::list{0, 1, 2, 3});
//       auto raw = smm.SharedMemory(128);            // a shared_memory::SharedMemory
//       mp::Process p(worker, sl);                   // crosses by name
//       ...
//   }  // shutdown(): the server unlinks sl's and raw's blocks
//
// The server holds each block it made open (as a tracked user) until it
// stops: shutdown(), the end of the scope, or the end of the process that
// started it (even by SIGKILL: the server sees it and stops). It then
// unlinks every block it made, used or not (as Python's does); processes
// that still have one mapped keep their memory. If the server itself is
// killed, its blocks follow the tracker's rule (docs/shared_memory.md): gone
// once their last user is.
#pragma once

#include <mproc/export.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include <mproc/managers.hpp>
#include <mproc/object.hpp>
#include <mproc/shared_memory.hpp>

namespace mproc {

/// A manager of shared memory blocks (Python:
/// multiprocessing.managers.SharedMemoryManager); start() it, or use the
/// constructors of BaseManager (context, address, authkey).
class MPROC_API SharedMemoryManager : public BaseManager {
  public:
    using BaseManager::BaseManager;

    /// A new block of size bytes, made by the server and unlinked when it
    /// stops; returned attached by name.
    shared_memory::SharedMemory SharedMemory(std::int64_t size);
    /// A new ShareableList of sequence's items, made by the server and
    /// unlinked when it stops; returned attached by name.
    shared_memory::ShareableList ShareableList(const list& sequence);
    /// The names of the blocks the server made and still has.
    std::vector<std::string> list_segments();

  protected:
    std::string_view class_name() const override { return "SharedMemoryManager"; }
};

}  // namespace mproc
