// The platform half of SharedMemory: named segments (shm_open on Linux) and
// the tracker that removes tracked ones once their last user is gone
// (docs/shared_memory.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace mproc::shared_memory::detail {

/// A mapped segment.
struct Segment {
    std::byte* addr = nullptr;
    std::size_t size = 0;
    int fd = -1;
    std::uint64_t ino = 0;
    bool tracked = false;     ///< this process holds a user lock on it
    int opener = 0;           ///< fork_generation() of the process that opened fd
    unsigned long forks = 0;  ///< forks_made() when it opened it
};

/// fork() calls made by this process so far (a pthread_atfork count): while
/// it is unchanged, no other process shares our open files of segments.
unsigned long forks_made() noexcept;

/// A random name "mproc_" + 16 hex digits.
std::string generated_name();

/// Creates segment `name` of size bytes (FileExistsError if it exists;
/// with an empty name, generates names until one is free and stores it).
Segment create_segment(std::string& name, std::size_t size, bool track);

/// Maps the existing segment `name` (FileNotFoundError if there is none).
Segment attach_segment(const std::string& name, bool track);

/// Unmaps it; if tracked and nobody else uses it, removes its name.
/// Returns true if this call removed the name.
bool close_segment(Segment& s, const std::string& name) noexcept;

/// Removes the name (FileNotFoundError if absent).
void unlink_segment(const std::string& name);

/// Where watch_segment put a segment's record in the watcher's ring (epoch
/// 0: not in a ring), so that removing the segment can cancel a record the
/// watcher has not read yet.
struct WatchTicket {
    unsigned long epoch = 0;
    std::uint64_t seq = 0;
};

/// A segment as this process has it mapped: one per block and process,
/// shared by every SharedMemory handle of the block in the process (an
/// attach by a name the process has open already, and copies, reuse it).
struct Mapping {
    Segment seg;
    std::string name;
    bool track = false;  ///< what the opener asked for (the key, with the name)
    std::size_t refs = 1;
    WatchTicket ticket;
};

/// A new segment (see create_segment), in the process's table.
Mapping* create_mapping(std::string& name, std::size_t size, bool track);

/// The mapping of segment `name`: the process's own one if it has the block
/// open (same name, same track, and the name still names that block: one
/// stat), else a new one (attach_segment). fresh: whether it is new.
Mapping* attach_mapping(const std::string& name, bool track, bool& fresh);

/// One more handle on m.
void retain_mapping(Mapping* m) noexcept;

/// One handle less; the last one closes the segment (close_segment, and
/// unwatch_segment if that removed the name). Returns true if it did.
bool release_mapping(Mapping* m) noexcept;

/// Asks this process's watcher (started on first use) to remove m's
/// segment once no process uses it, even if all were killed; sets m.ticket.
void watch_segment(Mapping& m);

/// The segment of the ticket was removed by this process: cancels its
/// record if the watcher has not read it yet (saves the watcher an open).
void unwatch_segment(const WatchTicket& ticket) noexcept;

}  // namespace mproc::shared_memory::detail
