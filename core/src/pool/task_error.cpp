// A task's exception crossing from a worker to the parent: the standard and
// mproc exception types cross as themselves, the others as RemoteError.
#include <cstdlib>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <typeinfo>

#include <boost/core/demangle.hpp>

#include <mproc/detail/pool_core.hpp>
#include <mproc/errors.hpp>
#include <mproc/process.hpp>

#include "pool/platform.hpp"

namespace mproc::detail {

namespace {

// Kinds on the wire (frozen numbers).
enum Kind : int {
    remote = 0,
    runtime_error,
    logic_error,
    invalid_argument,
    domain_error,
    length_error,
    out_of_range,
    range_error,
    overflow_error,
    underflow_error,
    bad_alloc,
    process_error,
    timeout_error,
    authentication_error,
    eof_error,
    value_error,
    closed_error,
    serialization_error,
    plugin_error,
    broken_barrier_error,
    empty,
    full,
    remote_error,  // a RemoteError thrown again (nested pools): keeps its fields
    worker_lost,   // the same for WorkerLostError
};

template <class T>
bool is(const std::type_info& t) {
    return t == typeid(T);
}

Kind kind_of(const std::type_info& t) {
    // Exact types only: a subclass of std::runtime_error is not one.
    if (is<std::runtime_error>(t)) return runtime_error;
    if (is<std::logic_error>(t)) return logic_error;
    if (is<std::invalid_argument>(t)) return invalid_argument;
    if (is<std::domain_error>(t)) return domain_error;
    if (is<std::length_error>(t)) return length_error;
    if (is<std::out_of_range>(t)) return out_of_range;
    if (is<std::range_error>(t)) return range_error;
    if (is<std::overflow_error>(t)) return overflow_error;
    if (is<std::underflow_error>(t)) return underflow_error;
    if (is<std::bad_alloc>(t)) return bad_alloc;
    if (is<ProcessError>(t)) return process_error;
    if (is<TimeoutError>(t)) return timeout_error;
    if (is<AuthenticationError>(t)) return authentication_error;
    if (is<EOFError>(t)) return eof_error;
    if (is<ValueError>(t)) return value_error;
    if (is<ClosedError>(t)) return closed_error;
    if (is<SerializationError>(t)) return serialization_error;
    if (is<PluginError>(t)) return plugin_error;
    if (is<BrokenBarrierError>(t)) return broken_barrier_error;
    if (is<Empty>(t)) return empty;
    if (is<Full>(t)) return full;
    if (is<RemoteError>(t)) return remote_error;
    if (is<WorkerLostError>(t)) return worker_lost;
    return remote;
}

}  // namespace

void write_task_error(Encoder& out) {
    const std::type_info* t = current_exception_type();
    std::string type = t ? boost::core::demangle(t->name()) : "unknown exception";
    std::string message = "(not a std::exception)";
    std::string worker = current_process().name();
    Kind kind = t ? kind_of(*t) : remote;
    std::string extra1, extra2;
    try {
        throw;
    } catch (const RemoteError& e) {
        type = e.type_name();
        message = e.message();
        extra1 = e.worker();
    } catch (const WorkerLostError& e) {
        message = e.what();
    } catch (const std::exception& e) {
        message = e.what();
    } catch (...) {
    }
    out.begin_array(5);
    out.write_int(kind);
    out.write_str(type);
    out.write_str(message);
    out.write_str(worker);
    out.write_str(extra1);
}

std::exception_ptr read_task_error(Decoder& in) {
    expect_array(in, 5, "task error");
    const auto kind = in.read_int();
    std::string type(in.read_str());
    std::string message(in.read_str());
    std::string worker(in.read_str());
    std::string extra1(in.read_str());
    switch (kind) {
        case runtime_error:
            return std::make_exception_ptr(std::runtime_error(message));
        case logic_error:
            return std::make_exception_ptr(std::logic_error(message));
        case invalid_argument:
            return std::make_exception_ptr(std::invalid_argument(message));
        case domain_error:
            return std::make_exception_ptr(std::domain_error(message));
        case length_error:
            return std::make_exception_ptr(std::length_error(message));
        case out_of_range:
            return std::make_exception_ptr(std::out_of_range(message));
        case range_error:
            return std::make_exception_ptr(std::range_error(message));
        case overflow_error:
            return std::make_exception_ptr(std::overflow_error(message));
        case underflow_error:
            return std::make_exception_ptr(std::underflow_error(message));
        case bad_alloc:
            return std::make_exception_ptr(std::bad_alloc());
        case process_error:
            return std::make_exception_ptr(ProcessError(message));
        case timeout_error:
            return std::make_exception_ptr(TimeoutError(message));
        case authentication_error:
            return std::make_exception_ptr(AuthenticationError(message));
        case eof_error:
            return std::make_exception_ptr(EOFError(message));
        case value_error:
            return std::make_exception_ptr(ValueError(message));
        case closed_error:
            return std::make_exception_ptr(ClosedError(message));
        case serialization_error:
            return std::make_exception_ptr(SerializationError(message));
        case plugin_error:
            return std::make_exception_ptr(PluginError(message));
        case broken_barrier_error:
            return std::make_exception_ptr(BrokenBarrierError(message));
        case empty:
            return std::make_exception_ptr(Empty(message));
        case full:
            return std::make_exception_ptr(Full(message));
        case remote_error:
            return std::make_exception_ptr(RemoteError(type, message, extra1));
        case worker_lost:
        default:
            return std::make_exception_ptr(RemoteError(type, message, worker));
    }
}

}  // namespace mproc::detail
