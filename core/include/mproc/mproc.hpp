// mproc: Python's multiprocessing for C++20. Include this one header.
//
//   #include <mproc/mproc.hpp>
//   namespace mp = mproc;
//
//   int main(int argc, char** argv) {
//       mp::freeze_support(argc, argv);
//       auto [a, b] = mp::Pipe();
//       mp::Process p([](mp::Connection c) { c.send(42); }, b);
//       p.start();
//       int v = a.recv<int>();
//       p.join();
//   }
#pragma once

#include <mproc/authentication.hpp>
#include <mproc/barrier.hpp>
#include <mproc/codec.hpp>
#include <mproc/condition.hpp>
#include <mproc/connection.hpp>
#include <mproc/context.hpp>
#include <mproc/errors.hpp>
#include <mproc/event.hpp>
#include <mproc/function.hpp>
#include <mproc/listener.hpp>
#include <mproc/lock.hpp>
#include <mproc/logging.hpp>
#include <mproc/managers.hpp>
#include <mproc/object.hpp>
#include <mproc/pool.hpp>
#include <mproc/process.hpp>
#include <mproc/queue.hpp>
#include <mproc/reduction.hpp>
#include <mproc/semaphore.hpp>
#include <mproc/serializer.hpp>
#include <mproc/shared_block.hpp>
#include <mproc/shared_memory.hpp>
#include <mproc/shared_memory_manager.hpp>
#include <mproc/sharedctypes.hpp>
#include <mproc/timeout.hpp>
#include <mproc/util.hpp>
#include <mproc/wait.hpp>
