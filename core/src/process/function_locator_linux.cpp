// Finds modules by address or build-id with dl_iterate_phdr, reading the
// GNU build-id note of each.
#include <link.h>

#include <cstring>
#include <optional>

#include <fmt/format.h>

#include <mproc/errors.hpp>

#include "process/function_locator.hpp"

namespace mproc::detail {

namespace {

struct Module {
    const dl_phdr_info* info;
    std::string build_id;
};

std::string read_build_id(const dl_phdr_info* info) {
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const auto& ph = info->dlpi_phdr[i];
        if (ph.p_type != PT_NOTE) continue;
        auto* p = reinterpret_cast<const unsigned char*>(info->dlpi_addr + ph.p_vaddr);
        auto* end = p + ph.p_memsz;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
            auto* n = reinterpret_cast<const ElfW(Nhdr)*>(p);
            auto* name = p + sizeof(ElfW(Nhdr));
            auto* desc = name + ((n->n_namesz + 3) & ~3u);
            auto* next = desc + ((n->n_descsz + 3) & ~3u);
            if (next > end) break;
            if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 &&
                std::memcmp(name, "GNU", 4) == 0) {
                std::string hex;
                for (unsigned k = 0; k < n->n_descsz; ++k) hex += fmt::format("{:02x}", desc[k]);
                return hex;
            }
            p = next;
        }
    }
    return {};
}

bool in_code(const dl_phdr_info* info, std::uint64_t offset) {
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const auto& ph = info->dlpi_phdr[i];
        if (ph.p_type == PT_LOAD && (ph.p_flags & PF_X) && offset >= ph.p_vaddr &&
            offset < ph.p_vaddr + ph.p_memsz)
            return true;
    }
    return false;
}

std::string module_name(const dl_phdr_info* info) {
    return info->dlpi_name && *info->dlpi_name ? info->dlpi_name : "the main program";
}

template <class F>
void for_each_module(F f) {
    dl_iterate_phdr([](dl_phdr_info* info, size_t,
                       void* data) -> int { return (*static_cast<F*>(data))(info) ? 1 : 0; },
                    &f);
}

}  // namespace

CodeLocation locate_code(const void* address) {
    auto addr = reinterpret_cast<std::uintptr_t>(address);
    std::optional<CodeLocation> found;
    for_each_module([&](const dl_phdr_info* info) {
        std::uint64_t offset = addr - info->dlpi_addr;
        if (!in_code(info, offset)) return false;
        found = CodeLocation{read_build_id(info), offset, module_name(info)};
        return true;
    });
    if (!found) throw ProcessError("the target function is not in the code of any loaded module");
    if (found->build_id.empty())
        throw ProcessError(
            fmt::format("{} has no GNU build-id, so its functions cannot cross exec; link it with "
                        "-Wl,--build-id",
                        found->module));
    return *found;
}

void* resolve_code(const CodeLocation& where) {
    void* result = nullptr;
    bool module_found = false;
    for_each_module([&](const dl_phdr_info* info) {
        if (read_build_id(info) != where.build_id) return false;
        module_found = true;
        if (in_code(info, where.offset))
            result = reinterpret_cast<void*>(info->dlpi_addr + where.offset);
        return true;
    });
    if (!module_found)
        throw ProcessError(fmt::format(
            "no loaded module has build-id {} (the function came from {}): the child runs a "
            "different build of the program than its parent",
            where.build_id, where.module));
    if (result == nullptr)
        throw ProcessError(fmt::format("offset {:#x} is outside the code of {} (build-id {})",
                                       where.offset, where.module, where.build_id));
    return result;
}

}  // namespace mproc::detail
