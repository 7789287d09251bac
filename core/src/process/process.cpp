// Process: lifecycle, identity and the child bootstrap shared by all start
// methods. Functions a fork child runs are [[gnu::hot]], which keeps them
// together (see fork_guard_linux.cpp).
#include <mproc/process.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <typeinfo>

#include <fmt/format.h>
#include <boost/core/demangle.hpp>

#include <mproc/context.hpp>
#include <mproc/logging.hpp>
#include <mproc/util.hpp>

#include "base/fork_guard.hpp"
#include "base/logging_hooks.hpp"
#include "process/exec_child.hpp"
#include "process/exit_hooks.hpp"
#include "process/process_registry.hpp"
#include "process/process_state.hpp"

namespace mproc {

namespace detail {

ProcessState::~ProcessState() {
    close_handle(sentinel_fd);
}

Process* current = nullptr;
const plugin::ContextBackend* inherited_start_method = nullptr;

namespace {

Process* parent = nullptr;

void at_normal_exit() {
    if (current == nullptr) exit_function();
}

// "Worker" for mproc::Process-derived class ns::Worker<int>.
std::string class_name(const std::type_info& t) {
    if (t == typeid(Process)) return "Process";  // most processes: no demangling
    std::string full = boost::core::demangle(t.name());
    if (auto lt = full.find('<'); lt != std::string::npos) full.resize(lt);
    if (auto colon = full.rfind("::"); colon != std::string::npos) full.erase(0, colon + 2);
    return full;
}

std::string describe(const std::exception& e) {
    return fmt::format("{}: {}", class_name(typeid(e)), e.what());
}

}  // namespace

// The class name Python gives a process: a concrete context's class for a
// plain Process made by a context (ForkProcess, SpawnProcess,
// ForkServerProcess; another start method "name" gives NameProcess), else
// the C++ class name.
std::string process_class(const Process& p, const ProcessState& s) {
    if (!s.exec_class.empty()) return s.exec_class;
    if (typeid(p) != typeid(Process) || !s.concrete || s.backend == nullptr)
        return class_name(typeid(p));
    std::string_view method = s.backend->name();
    if (method == "forkserver") return "ForkServerProcess";
    std::string cls(method);
    if (!cls.empty() && cls[0] >= 'a' && cls[0] <= 'z') cls[0] = char(cls[0] - 'a' + 'A');
    return cls + "Process";
}

[[gnu::hot]] std::vector<void (*)()>& exit_hooks() {
    static auto* hooks = new std::vector<void (*)()>();
    return *hooks;
}

// Once per program: a function-local static rather than std::call_once, which
// writes thread-local variables (a page) on every call, that is every start().
void ensure_exit_handler() {
    static const bool registered = (std::atexit(at_normal_exit), true);
    (void)registered;
}

namespace {
// The logger (in the base layer) names records by the current process and
// asks for the exit messages when logging to stderr begins.
std::string logged_process_name() {
    return current_process().name();
}
[[maybe_unused]] const bool logging_hooks_set = [] {
    logging_hooks() = {&logged_process_name, &ensure_exit_handler};
    return true;
}();
}  // namespace

[[gnu::hot]] void exit_function() {
    auto& log = get_logger();
    log.info("process shutting down");
    log.debug("running all \"atexit\" finalizers with priority >= 0");
    util::run_finalizers(0);
    for (Process* p : active_children()) {
        if (p->daemon()) {
            log.info("calling terminate() for daemon {}", p->name());
            p->terminate();
        }
    }
    for (Process* p : active_children()) {
        log.info("calling join() for process {}", p->name());
        p->join();
    }
    log.debug("running the remaining \"atexit\" finalizers");
    util::run_finalizers();
    for (auto hook : exit_hooks()) hook();
}

std::shared_ptr<const std::vector<std::byte>> shared_authkey(std::vector<std::byte> key) {
    return std::allocate_shared<const std::vector<std::byte>>(
        RecordAllocator<const std::vector<std::byte>>(), std::move(key));
}

Process* ProcessAccess::make_parent(std::string name, int pid) {
    return new Process(Process::ParentTag{}, std::move(name), pid);
}

Process* ProcessAccess::make_with_state(std::shared_ptr<ProcessState> state) {
    return new Process(Process::DetachedTag{}, std::move(state));
}

const Identity& ProcessAccess::identity(const Process& p) {
    return p.state_->identity;
}

Process* make_exec_child(std::string name, std::vector<int> identity, bool daemon,
                         std::vector<std::byte> authkey, std::unique_ptr<Target> target) {
    // Made directly, not through Process(ProcessOptions), which would make
    // the main process's record (and its random authkey) only to copy it.
    auto state = std::allocate_shared<ProcessState>(RecordAllocator<ProcessState>());
    state->name = std::move(name);
    state->daemon = daemon;
    state->identity.assign(identity.begin(), identity.end());
    state->authkey = shared_authkey(std::move(authkey));
    state->parent_pid = current_pid();
    auto* p = ProcessAccess::make_with_state(std::move(state));
    if (target) ProcessAccess::set_target(*p, std::move(target));
    return p;
}

namespace {

// The parent's record is made on first use of parent_process(): a fork child
// that never asks writes (and so copies) fewer pages. Its name is viewed where
// the start method keeps it for the child's whole life (a fork child's copy
// of the parent's start() frame; exec_parent_name).
std::string_view parent_name;
std::string exec_parent_name;
int parent_pid_ = 0;
int parent_sentinel_ = -1;

[[gnu::hot]] void become(Process& self, std::string_view name, int pid, int sentinel) {
    ProcessRegistry::reset_in_child();
    parent = nullptr;  // a grandparent's record, if any, is leaked
    parent_name = name;
    parent_pid_ = pid;
    parent_sentinel_ = sentinel;
    current = &self;
}

}  // namespace

Process* parent_record() {
    if (parent == nullptr && current != nullptr) {
        parent = ProcessAccess::make_parent(std::string(parent_name), parent_pid_);
        ProcessAccess::state(*parent)->sentinel_fd = parent_sentinel_;
    }
    return parent;
}

[[gnu::hot]] void become_child(Process& self, std::string_view parent_name, int parent_pid) {
    become(self, parent_name, parent_pid, -1);
    // A concrete context's child reports and uses that context's method (a
    // plain Process's child keeps the parent's default, already in memory).
    if (auto* s = ProcessAccess::state(self); s->concrete) inherited_start_method = s->backend;
    redirect_stdin_to_devnull();
}

void become_exec_child(Process& self, std::string parent_name, int parent_pid,
                       int parent_sentinel) {
    exec_parent_name = std::move(parent_name);
    become(self, exec_parent_name, parent_pid, parent_sentinel);
}

[[noreturn, gnu::hot]] void bootstrap_run(Process& self) {
    auto& log = get_logger();
    int code = 0;
    mark_child_atexit();  // what run() registers with std::atexit runs at the end
    try {
        log.info("child process calling self.run()");
        self.run();
    } catch (const SystemExit& e) {
        code = e.code();
        if (e.message()) std::fprintf(stderr, "%s\n", e.message()->c_str());
    } catch (const std::exception& e) {
        code = 1;
        std::fprintf(stderr, "Process %s:\n%s\n", self.name().c_str(), describe(e).c_str());
    } catch (...) {
        code = 1;
        std::fprintf(stderr, "Process %s:\nunknown exception\n", self.name().c_str());
    }
    try {
        exit_function();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "Process %s: error at exit: %s\n", self.name().c_str(),
                     describe(e).c_str());
        if (code == 0) code = 1;
    }
    log.info("process exiting with exitcode {}", code);
    flush_std_streams();
    end_child(code);
}

}  // namespace detail

using detail::ProcessState;

namespace {

// Everything a fork child needs, on the parent's stack during start().
struct ForkLaunch {
    Process* self;
    std::string parent_name;
    int parent_pid;
};

[[gnu::hot]] int fork_child_main(void* arg) {
    auto* l = static_cast<ForkLaunch*>(arg);
    detail::become_child(*l->self, l->parent_name, l->parent_pid);
    detail::bootstrap_run(*l->self);
}

// "1:2:3", built without fmt: start() names the process with it, and fmt's
// buffer would reach a stack page that nothing else there touches.
std::string identity_text(const detail::Identity& id) {
    std::string out;
    for (std::size_t i = 0; i < id.size(); ++i) {
        if (i) out += ':';
        out += std::to_string(id[i]);
    }
    return out;
}

}  // namespace

Process::Process() : Process(ProcessOptions{}) {}

namespace {

std::shared_ptr<ProcessState> new_record() {
    return std::allocate_shared<ProcessState>(detail::RecordAllocator<ProcessState>());
}

}  // namespace

Process::Process(ProcessOptions options) : state_(new_record()) {
    Process& cur = current_process();
    state_->identity = cur.state_->identity;
    state_->identity.push_back(ProcessRegistry::next_number());
    state_->name = std::move(options.name);
    state_->daemon = options.daemon.value_or(cur.daemon());
    state_->authkey = cur.state_->authkey;
    state_->parent_pid = detail::current_pid();
}

Process::Process(MainTag) : state_(new_record()) {
    state_->kind = ProcessState::Kind::main;
    state_->name = "MainProcess";
    state_->authkey = detail::shared_authkey(detail::random_authkey());
    state_->parent_pid = 0;
}

Process::Process(ParentTag, std::string name, int pid) : state_(new_record()) {
    state_->kind = ProcessState::Kind::parent;
    state_->name = std::move(name);
    state_->parent_pid = pid;  // for a parent record: the parent's own pid
}

Process::Process(DetachedTag, std::shared_ptr<ProcessState> state) : state_(std::move(state)) {}

Process::Process(Process&& other) noexcept
    : target_(std::move(other.target_)), state_(std::move(other.state_)) {
    if (state_ && state_->handle) ProcessRegistry::moved(other, *this);
}

Process& Process::operator=(Process&& other) noexcept {
    if (this != &other) {
        if (state_ && state_->handle) ProcessRegistry::destroying(*this);
        target_ = std::move(other.target_);
        state_ = std::move(other.state_);
        if (state_ && state_->handle) ProcessRegistry::moved(other, *this);
    }
    return *this;
}

Process::~Process() {
    if (state_ && state_->handle && detail::current != this) ProcessRegistry::destroying(*this);
}

void Process::set_target(std::unique_ptr<detail::Target> target) {
    target_ = std::move(target);
}

[[gnu::hot]] void Process::run() {
    if (target_) target_->invoke();
}

namespace {

// The parent record's sentinel: passed by an exec parent, else opened on
// first use (-1 when the parent is gone).
int parent_sentinel(ProcessState& s) {
    if (s.sentinel_fd < 0) s.sentinel_fd = detail::open_parent_sentinel(s.parent_pid);
    return s.sentinel_fd;
}

ProcessState& checked(const std::shared_ptr<ProcessState>& s) {
    if (!s) throw ValueError("process object was moved from");
    if (s->closed) throw ClosedError("process object is closed");
    return *s;
}

}  // namespace

void Process::start() {
    detail::check_bootstrapped();
    auto& s = checked(state_);
    if (s.kind != ProcessState::Kind::child || detail::current == this)
        throw ValueError("cannot start the current or parent process");
    if (s.handle) throw ValueError("cannot start a process twice");
    if (s.parent_pid != detail::current_pid())
        throw ValueError("can only start a process object created by current process");
    if (current_process().daemon())
        throw ValueError("daemonic processes are not allowed to have children");
    ProcessRegistry::active();  // reaps finished children, as Python's _cleanup
    if (s.backend == nullptr) s.backend = &get_context().backend();
    s.name = name();  // fixes the default name (the class name is known now)
    detail::ensure_exit_handler();
    // Statics a child would otherwise initialise (and so copy pages for) anew
    // in every child: initialised here once.
    get_logger();
    detail::exit_hooks();

    ForkLaunch launch{this, current_process().name(), detail::current_pid()};
    plugin::LaunchRequest req;
    req.child_main = &fork_child_main;
    req.child_arg = &launch;
    detail::ExecLaunch exec;
    if (!s.backend->capabilities().has(plugin::Capability::runs_closures)) {
        detail::build_exec_payload(*this, target_.get(), exec);
        req.payload = exec.payload;
        req.handles = exec.handles;
    }
    detail::flush_std_streams();  // else buffered output would be written twice
    // Registered before the start: a fork child then writes (and so copies)
    // no page for it, and the parent writes fewer after the fork.
    ProcessRegistry::add(*this);
    try {
        s.handle = s.backend->start(req);
    } catch (...) {
        ProcessRegistry::discard(s);
        throw;
    }
}

void Process::join(Timeout timeout) {
    auto& s = checked(state_);
    if (detail::current == this || s.kind == ProcessState::Kind::main)
        throw ValueError("cannot join the current process");
    if (s.kind == ProcessState::Kind::parent) {
        if (int fd = parent_sentinel(s); fd >= 0) detail::sentinel_ready(fd, timeout);
        return;
    }
    if (s.parent_pid != detail::current_pid()) throw ValueError("can only join a child process");
    if (!s.handle) throw ValueError("can only join a started process");
    if (s.handle->wait(timeout)) ProcessRegistry::discard(s);
}

bool Process::is_alive() {
    auto& s = checked(state_);
    if (detail::current == this || s.kind == ProcessState::Kind::main) return true;
    if (s.kind == ProcessState::Kind::parent) {
        int fd = parent_sentinel(s);
        return fd >= 0 && !detail::sentinel_ready(fd, std::chrono::seconds(0));
    }
    if (s.parent_pid != detail::current_pid()) throw ValueError("can only test a child process");
    if (!s.handle) return false;
    if (s.handle->poll()) {
        ProcessRegistry::discard(s);
        return false;
    }
    return true;
}

namespace {

plugin::ProcessHandle& started(ProcessState& s) {
    if (!s.handle) throw ValueError("process has not been started");
    return *s.handle;
}

}  // namespace

void Process::terminate() {
    started(checked(state_)).terminate();
}

void Process::kill() {
    started(checked(state_)).kill();
}

void Process::interrupt() {
    auto& h = started(checked(state_));
    if (!h.poll()) h.interrupt();  // Python: only while returncode is None
}

void Process::close() {
    if (!state_) throw ValueError("process object was moved from");
    auto& s = *state_;
    if (s.closed) return;
    if (s.handle) {
        if (!s.handle->poll())
            throw ValueError(
                "Cannot close a process while it is still running. You should first call join() "
                "or terminate().");
        ProcessRegistry::discard(s);
        s.handle->close();
    }
    s.closed = true;
}

std::string Process::name() const {
    if (!state_) throw ValueError("process object was moved from");
    if (!state_->name.empty()) return state_->name;
    return detail::process_class(*this, *state_) + "-" + identity_text(state_->identity);
}

void Process::set_name(std::string name) {
    if (!state_) throw ValueError("process object was moved from");
    state_->name = std::move(name);
}

bool Process::daemon() const {
    return state_ && state_->daemon;
}

void Process::set_daemon(bool daemon) {
    auto& s = checked(state_);
    if (s.handle) throw ValueError("process has already started");
    s.daemon = daemon;
}

std::optional<int> Process::pid() const {
    if (!state_) return std::nullopt;
    if (state_->closed) throw ClosedError("process object is closed");
    if (detail::current == this || state_->kind == ProcessState::Kind::main)
        return detail::current_pid();
    if (state_->kind == ProcessState::Kind::parent) return state_->parent_pid;
    if (!state_->handle) return std::nullopt;
    return state_->handle->pid();
}

std::optional<int> Process::exitcode() {
    auto& s = checked(state_);
    if (!s.handle) return std::nullopt;
    return s.handle->poll();
}

const std::vector<std::byte>& Process::authkey() const {
    if (!state_) throw ValueError("process object was moved from");
    static const std::vector<std::byte> none;
    return state_->authkey ? *state_->authkey : none;
}

void Process::set_authkey(std::vector<std::byte> key) {
    if (!state_) throw ValueError("process object was moved from");
    state_->authkey = detail::shared_authkey(std::move(key));
}

Sentinel Process::sentinel() const {
    auto& s = checked(state_);
    if (s.kind == ProcessState::Kind::parent) {
        return Sentinel{parent_sentinel(s)};
    }
    if (!s.handle) throw ValueError("process not started");
    return Sentinel{s.handle->sentinel()};
}

void Process::set_context(const Context& ctx) {
    auto& s = checked(state_);
    if (s.handle) throw ValueError("process has already started");
    s.backend = &ctx.backend();
    s.concrete = true;
}

std::string Process::repr() const {
    if (!state_) return "<Process moved-from>";
    auto& s = *state_;
    std::optional<int> code;
    std::string status;
    if (detail::current == this || s.kind == ProcessState::Kind::main)
        status = "started";
    else if (s.closed)
        status = "closed";
    else if (s.kind == ProcessState::Kind::parent || s.parent_pid != detail::current_pid())
        status = "unknown";
    else if (!s.handle)
        status = "initial";
    else {
        code = s.handle->poll();
        status = code ? "stopped" : "started";
    }
    std::string out = fmt::format("<{} name='{}'", detail::process_class(*this, s), name());
    if (auto p = s.closed ? std::nullopt : pid(); p && s.kind == ProcessState::Kind::child)
        out += fmt::format(" pid={}", *p);
    if (s.kind == ProcessState::Kind::child) out += fmt::format(" parent={}", s.parent_pid);
    out += " " + status;
    if (code) {
        out += " exitcode=";
        out += *code < 0 ? "-" + detail::signal_name(-*code) : std::to_string(*code);
    }
    if (s.daemon) out += " daemon";
    return out + ">";
}

Process& current_process() {
    if (detail::current) return *detail::current;
    static Process* main = new Process(Process::MainTag{});
    return *main;
}

Process* parent_process() {
    return detail::parent_record();
}

void exit(ExitStatus status) {
    if (detail::current) {
        if (status.message) throw SystemExit(std::move(*status.message));
        throw SystemExit(status.code);
    }
    if (status.message) std::fprintf(stderr, "%s\n", status.message->c_str());
    std::exit(status.code);
}

void detail::at_process_exit(void (*hook)()) {
    static auto* m = new detail::ForkGuardedMutex();
    std::lock_guard lock(*m);
    detail::exit_hooks().push_back(hook);
    detail::ensure_exit_handler();
}
}  // namespace mproc
