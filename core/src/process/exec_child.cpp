// The bootstrap message of a child that starts as a new program, and the
// child's side: become the Process described, then run its target.
#include "process/exec_child.hpp"

#include <algorithm>
#include <cstdio>
#include <typeinfo>

#include <fmt/format.h>

#include <mproc/context.hpp>
#include <mproc/logging.hpp>

#include "base/environment.hpp"
#include "process/function_locator.hpp"
#include "process/process_state.hpp"
#include "serialization/exact_tuples.hpp"

namespace mproc::detail {

namespace {

constexpr const char* payload_magic = "mproc-exec-1";

struct TargetRef {
    enum Kind : int { none = 0, by_location = 1, by_name = 2 };
    int kind = none;
    std::string trampoline_build_id, function_build_id, module;
    std::uint64_t trampoline_offset = 0, function_offset = 0;
    std::string name;
    MPROC_FIELDS(kind, trampoline_build_id, trampoline_offset, function_build_id, function_offset,
                 module, name)
};

struct Payload {
    std::string magic;
    std::string name;
    std::vector<int> identity;
    bool daemon = false;
    bytes authkey;
    int parent_pid = 0;
    std::string parent_name;
    std::int64_t parent_sentinel_slot = -1;
    // The logger's level and handler, as Python's get_preparation_data.
    int log_level = 0;
    bool log_to_stderr = false;
    // The child's default start method: the concrete context's that made
    // it (Python's _force_start_method), else the parent's default.
    std::optional<std::string> start_method;
    std::string process_class;  // SpawnProcess... for the child's repr()
    TargetRef target;
    bytes args;
    MPROC_FIELDS(magic, name, identity, daemon, authkey, parent_pid, parent_name,
                 parent_sentinel_slot, log_level, log_to_stderr, start_method, process_class,
                 target, args)
};

class ParentHandles final : public HandleTable {
  public:
    explicit ParentHandles(std::vector<std::intptr_t>& out) : out_(out) {}
    std::uint32_t add(std::intptr_t h) override {
        auto it = std::find(out_.begin(), out_.end(), h);
        if (it != out_.end()) return std::uint32_t(it - out_.begin());
        out_.push_back(h);
        return std::uint32_t(out_.size() - 1);
    }
    std::intptr_t get(std::uint32_t) override {
        throw SerializationError("handles cannot be read while encoding");
    }
    std::intptr_t borrow(std::uint32_t) override {
        throw SerializationError("handles cannot be read while encoding");
    }

  private:
    std::vector<std::intptr_t>& out_;
};

class ChildHandles final : public HandleTable {
  public:
    explicit ChildHandles(std::vector<std::intptr_t> h) : handles_(std::move(h)) {}
    ~ChildHandles() override {
        for (auto h : handles_) close_handle(int(h));
    }
    std::uint32_t add(std::intptr_t) override {
        throw SerializationError("handles cannot be added while decoding");
    }
    std::intptr_t get(std::uint32_t slot) override {
        if (slot >= handles_.size() || handles_[slot] < 0)
            throw SerializationError(fmt::format("bad or reused handle slot {}", slot));
        return std::exchange(handles_[slot], -1);  // each handle is owned once
    }
    std::intptr_t borrow(std::uint32_t slot) override {
        if (slot >= handles_.size() || handles_[slot] < 0)
            throw SerializationError(fmt::format("bad or taken handle slot {}", slot));
        return handles_[slot];
    }

  private:
    std::vector<std::intptr_t> handles_;
};

// The target as received: resolved and decoded when the child runs it, so
// that any error is reported like an exception in the target.
class ReceivedTarget final : public Target {
  public:
    ReceivedTarget(TargetRef ref, bytes args, std::vector<std::intptr_t> handles)
        : ref_(std::move(ref)), args_(std::move(args)), handles_(std::move(handles)) {}

    void invoke() override {
        ExecTarget t;
        if (ref_.kind == TargetRef::by_name) {
            auto r = registered_function(ref_.name);
            if (!r)
                throw ProcessError(
                    fmt::format("no function is registered as '{}' in this program; add "
                                "MPROC_REGISTER_FUNCTION({}) to it",
                                ref_.name, ref_.name));
            t = *r;
        } else {
            t.trampoline = reinterpret_cast<ExecTrampoline>(
                resolve_code({ref_.trampoline_build_id, ref_.trampoline_offset, ref_.module}));
            t.function = resolve_code({ref_.function_build_id, ref_.function_offset, ref_.module});
        }
        auto decoder = default_serializer().make_decoder();
        decoder->reset(args_);
        decoder->handles = &handles_;
        t.trampoline(*decoder, t.function);
    }

    bool to_exec(Encoder&, ExecTarget&, std::string& why) const override {
        why = "a received target is not sent again";
        return false;
    }

  private:
    TargetRef ref_;
    bytes args_;
    ChildHandles handles_;
};

TargetRef describe_target(void* function, ExecTrampoline trampoline) {
    TargetRef ref;
    if (!get_executable().empty()) {
        auto name = registered_name(function);
        if (!name)
            throw ValueError(
                "the child runs another program (set_executable), so its target must be "
                "registered there and here with MPROC_REGISTER_FUNCTION");
        ref.kind = TargetRef::by_name;
        ref.name = *name;
        return ref;
    }
    auto fn = locate_code(function);
    auto tr = locate_code(reinterpret_cast<void*>(trampoline));
    ref.kind = TargetRef::by_location;
    ref.function_build_id = fn.build_id;
    ref.function_offset = fn.offset;
    ref.module = fn.module;
    ref.trampoline_build_id = tr.build_id;
    ref.trampoline_offset = tr.offset;
    return ref;
}

}  // namespace

ExecLaunch::~ExecLaunch() {
    close_handle(own_sentinel);
}

void build_exec_payload(Process& self, const Target* target, ExecLaunch& out) {
    auto& cur = current_process();
    Payload p;
    p.magic = payload_magic;
    p.name = self.name();
    const auto& identity = ProcessAccess::identity(self);
    p.identity.assign(identity.begin(), identity.end());
    p.daemon = self.daemon();
    p.authkey = self.authkey();
    p.parent_pid = current_pid();
    p.parent_name = cur.name();
    auto& log = get_logger();
    p.log_level = log.level();
    p.log_to_stderr = log.logs_to_stderr();
    auto* state = ProcessAccess::state(self);
    p.process_class = process_class(self, *state);
    if (state->concrete && state->backend != nullptr)
        p.start_method = std::string(state->backend->name());
    else
        p.start_method = get_start_method(true);

    ParentHandles table(out.handles);
    out.own_sentinel = open_own_sentinel();
    if (out.own_sentinel >= 0) p.parent_sentinel_slot = table.add(out.own_sentinel);
    if (target != nullptr) {
        auto args = default_serializer().make_encoder();
        args->handles = &table;
        ExecTarget t;
        std::string why;
        ExactTuples exact;  // an mproc::object tuple arrives as a tuple
        if (!target->to_exec(*args, t, why)) throw ValueError(why);
        p.target = describe_target(t.function, t.trampoline);
        auto data = args->data();
        p.args.assign(data.begin(), data.end());
    } else if (typeid(self) != typeid(Process)) {
        throw ValueError(fmt::format(
            "{} overrides run(), which cannot cross exec: under spawn and forkserver pass a "
            "plain function as the target instead (or use the fork start method)",
            self.name()));
    }
    auto enc = default_serializer().make_encoder();
    encode(*enc, p);
    auto data = enc->data();
    out.payload.assign(data.begin(), data.end());
}

int run_exec_child(std::span<const std::byte> payload, std::span<const std::intptr_t> handles) {
    Payload p;
    try {
        auto dec = default_serializer().make_decoder();
        dec->reset(payload);
        p = decode<Payload>(*dec);
        if (p.magic != payload_magic) throw SerializationError("not an mproc bootstrap message");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "mproc: bad bootstrap message from the parent: %s\n", e.what());
        return 1;
    }
    std::vector<std::intptr_t> owned(handles.begin(), handles.end());
    int parent_sentinel = -1;
    if (p.parent_sentinel_slot >= 0 && std::size_t(p.parent_sentinel_slot) < owned.size())
        parent_sentinel = int(std::exchange(owned[std::size_t(p.parent_sentinel_slot)], -1));

    if (p.log_level != logging::NOTSET) get_logger().set_level(p.log_level);
    if (p.log_to_stderr) log_to_stderr();
    if (p.start_method) set_default_start_method(*p.start_method);  // loaded when used
    Process* self = make_exec_child(
        p.name, p.identity, p.daemon, p.authkey,
        p.target.kind == TargetRef::none
            ? nullptr
            : std::make_unique<ReceivedTarget>(p.target, std::move(p.args), std::move(owned)));
    ProcessAccess::state(*self)->exec_class = std::move(p.process_class);
    become_exec_child(*self, p.parent_name, p.parent_pid, parent_sentinel);
    bootstrap_run(*self);
}

}  // namespace mproc::detail
