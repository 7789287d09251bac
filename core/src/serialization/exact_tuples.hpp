// Tuples that stay tuples across exec (internal to core). msgpack has no
// tuple, so mproc::object writes a tuple as an array and reads it back as a
// list, which Python peers read too. Where only mproc reads (the bootstrap
// message of a spawn or forkserver child), a tuple is marked instead: its
// array starts with a handle slot no message uses, which Python peers never
// see and mproc reads back as a tuple.
#pragma once

#include <cstdint>

namespace mproc::detail {

/// The slot that marks an array as a tuple.
inline constexpr std::uint32_t tuple_mark_slot = 0xffffffffu;

/// While one lives, this thread's mproc::object tuples are written marked.
class ExactTuples {
  public:
    ExactTuples();
    ~ExactTuples();
    ExactTuples(const ExactTuples&) = delete;
    ExactTuples& operator=(const ExactTuples&) = delete;

  private:
    bool previous_;
};

}  // namespace mproc::detail
