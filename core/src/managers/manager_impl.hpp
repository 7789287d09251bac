// What a BaseManager holds (internal).
#pragma once

#include <memory>
#include <optional>

#include <mproc/context.hpp>
#include <mproc/managers.hpp>
#include <mproc/process.hpp>

#include "managers/client.hpp"
#include "managers/server.hpp"

namespace mproc {

namespace managers::detail {

struct ManagerImpl {
    std::optional<Context> ctx;
    connection::Address address;
    bytes authkey;
    std::optional<Process> process;
    Connection control;  // written to (or closed) to stop a server we started
    std::shared_ptr<Session> session;
    bool shut_down = false;

    Session& session_now() {
        if (!session || session->pid() != os::current_pid()) {
            if (address.empty())
                throw ValueError("mproc: the manager is neither started nor connected");
            session = Session::get(address, authkey);
        }
        return *session;
    }
};

}  // namespace managers::detail

}  // namespace mproc
