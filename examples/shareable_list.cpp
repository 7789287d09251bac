// Port of the Python docs' ShareableList examples:
//
//   a = shared_memory.ShareableList(['howdy', b'HoWdY', -273.154, 100, None, True, 42])
//   [type(entry) for entry in a]
//   a[2]                     # -273.154
//   a[2] = -78.5
//   a[2]                     # -78.5
//   a[2] = 'dry ice'         # Changing data types is supported as well
//   a[2]                     # 'dry ice'
//   a[2] = 'larger than previously allocated storage space'   # ValueError
//   a[2]                     # 'dry ice'
//   len(a)                   # 7
//   a.index(42)              # 6
//   a.count(b'howdy')        # 0
//   a.count(b'HoWdY')        # 1
//   a.shm.close()
//   a.shm.unlink()
//
//   b = shared_memory.ShareableList(range(5))         # in a first process
//   c = shared_memory.ShareableList(name=b.shm.name)  # in a second process
//   c                        # ShareableList([0, 1, 2, 3, 4], name='...')
//   c[-1] = -999
//   b[-1]                    # -999
//   b.shm.close()
//   c.shm.close()
//   c.shm.unlink()
#include <fmt/format.h>

#include <mproc/mproc.hpp>

namespace mp = mproc;
namespace smem = mproc::shared_memory;

mp::bytes to_bytes(std::string_view s) {
    mp::bytes out;
    for (char ch : s) out.push_back(std::byte(ch));
    return out;
}

void second(std::string name, mp::Connection done) {
    smem::ShareableList c{std::string_view(name)};
    fmt::print("{}\n", c.repr());
    c.set(-1, -999);
    c.shm().close();
    done.send(true);
}

int main(int argc, char** argv) {
    mp::freeze_support(argc, argv);
    smem::ShareableList a(mp::list{"howdy", to_bytes("HoWdY"), -273.154, 100, mp::None, true, 42});
    std::string types = "[";
    for (std::size_t i = 0; i < a.size(); ++i)
        types += fmt::format("{}<class '{}'>", i ? ", " : "", a[std::int64_t(i)].type_name());
    fmt::print("{}]\n", types);
    fmt::print("{}\n", a[2]);
    a.set(2, -78.5);
    fmt::print("{}\n", a[2]);
    a.set(2, "dry ice");  // changing data types is supported as well
    fmt::print("{}\n", a[2]);
    try {
        a.set(2, "larger than previously allocated storage space");
    } catch (const mp::ValueError& e) {
        fmt::print("ValueError: {}\n", e.what());
    }
    fmt::print("{}\n", a[2]);
    fmt::print("{}\n", a.size());
    fmt::print("{}\n", a.index(42));
    fmt::print("{}\n", a.count(to_bytes("howdy")));
    fmt::print("{}\n", a.count(to_bytes("HoWdY")));
    a.shm().close();
    a.shm().unlink();

    smem::ShareableList b(mp::list{0, 1, 2, 3, 4});
    auto [r, w] = mp::Pipe(false);
    mp::Process p(second, b.shm().name(), w);
    p.start();
    w.close();
    (void)r.recv<bool>();
    p.join();
    fmt::print("{}\n", b[-1]);
    b.shm().close();
    b.shm().unlink();
}
