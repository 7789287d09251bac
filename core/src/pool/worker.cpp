// A pool worker: runs its initializer, then chunks of tasks until told to
// stop, its task budget is spent, or its memory passed the limit.
#include "pool/worker.hpp"

#include <functional>
#include <vector>

#include <mproc/process.hpp>

#include "pool/platform.hpp"

namespace mproc::detail {

namespace {

using InitTrampoline = ExecTrampoline;

void run_initializer(const WorkerSetup& setup) {
    if (setup.local_initializer != 0) {
        (*reinterpret_cast<std::function<void()>*>(setup.local_initializer))();
        return;
    }
    if (setup.initializer.empty()) return;
    auto d = default_serializer().make_decoder();
    d->reset(setup.initializer);
    auto trampoline = mproc::decode<InitTrampoline>(*d);
    auto* fn = const_cast<void*>(decode_code_address(*d, nullptr));
    trampoline(*d, fn);
}

}  // namespace

void pool_worker_main(Connection tasks, Connection results, WorkerSetup setup) {
    ignore_sigint();
    auto enc = default_serializer().make_encoder();
    try {
        run_initializer(setup);
    } catch (const SystemExit&) {
        throw;
    } catch (...) {
        enc->clear();
        enc->write_int(from_worker_init_failed);
        write_task_error(*enc);
        results.send_bytes(enc->data());
        mproc::exit(1);
    }
    enc->clear();
    enc->write_int(from_worker_ready);
    results.send_bytes(enc->data());

    auto dec = default_serializer().make_decoder();
    auto sub = default_serializer().make_decoder();
    std::int64_t chunks_run = 0;
    // Runs one chunk message and sends its result; false: the worker retires.
    auto run_chunk = [&](Decoder& d) {
        if (d.read_int() != to_worker_chunk) throw SerializationError("bad chunk in a batch");
        const auto job = d.read_uint();
        const auto first = d.read_uint();
        const auto count = d.read_uint();
        enc->clear();
        enc->write_int(from_worker_result);
        enc->write_uint(job);
        enc->write_uint(first);
        try {
            enc->write_bool(true);
            auto trampoline = mproc::decode<PoolTrampoline>(d);
            trampoline(d, *enc, count);
        } catch (const SystemExit&) {
            throw;
        } catch (...) {
            // The function could not be found, an argument not decoded, or
            // a result not encoded: the whole chunk fails.
            enc->clear();
            enc->write_int(from_worker_result);
            enc->write_uint(job);
            enc->write_uint(first);
            enc->write_bool(false);
            write_task_error(*enc);
        }
        results.send_bytes(enc->data());
        ++chunks_run;
        if ((setup.maxtasks > 0 && chunks_run >= setup.maxtasks) ||
            (setup.max_memory > 0 && resident_memory() > setup.max_memory)) {
            enc->clear();
            enc->write_int(from_worker_retiring);
            results.send_bytes(enc->data());
            return false;
        }
        return true;
    };
    std::vector<std::byte> message;  // reused: no allocation per chunk
    for (;;) {
        try {
            tasks.recv_bytes(message);
        } catch (const EOFError&) {
            return;  // the pool is gone
        }
        dec->reset(message);
        const auto type = dec->peek() == ValueKind::integer ? dec->read_int() : -1;
        if (type == to_worker_chunk) {
            dec->reset(message);
            if (!run_chunk(*dec)) return;
        } else if (type == to_worker_batch) {
            // Several chunks in one message, each run and answered in turn
            // (so that a crash fails only the one running).
            const auto n = dec->read_uint();
            for (std::uint64_t k = 0; k < n; ++k) {
                sub->reset(dec->read_bin());
                if (!run_chunk(*sub)) return;
            }
        } else {
            return;
        }
    }
}

}  // namespace mproc::detail
