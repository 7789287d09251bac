// Where ProcessHandles are allocated: inside the process record when
// Process::start asks for it (HandleSpaceHint), else on the heap. A header
// before each handle says which.
#include <cstdint>
#include <new>

#include <mproc/plugin/backend.hpp>

#include "process_state.hpp"

namespace mproc {

namespace {

struct alignas(std::max_align_t) Header {
    bool in_place;
};

thread_local detail::HandleSpace* hint = nullptr;

}  // namespace

namespace detail {

HandleSpaceHint::HandleSpaceHint(HandleSpace& space) {
    hint = &space;
}

HandleSpaceHint::~HandleSpaceHint() {
    hint = nullptr;
}

}  // namespace detail

namespace plugin {

void* ProcessHandle::operator new(std::size_t size) {
    detail::HandleSpace* space = hint;
    hint = nullptr;  // one handle per space
    bool in_place = space != nullptr && sizeof(Header) + size <= detail::HandleSpace::size;
    void* block = in_place ? space->bytes : ::operator new(sizeof(Header) + size);
    new (block) Header{in_place};
    return static_cast<std::byte*>(block) + sizeof(Header);
}

void ProcessHandle::operator delete(void* p) {
    if (p == nullptr) return;
    auto* header = reinterpret_cast<Header*>(static_cast<std::byte*>(p) - sizeof(Header));
    if (!header->in_place) ::operator delete(header);
}

}  // namespace plugin
}  // namespace mproc
