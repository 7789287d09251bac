// Python's repr of the values the examples print: 42, 'hello', None, and a
// tuple printed as Python prints the list it stands for: [42, None, 'hello'].
#pragma once

#include <optional>
#include <string>
#include <tuple>

#include <fmt/core.h>

inline std::string repr(int v) {
    return fmt::format("{}", v);
}
inline std::string repr(const std::string& s) {
    return fmt::format("'{}'", s);
}
inline std::string repr(const std::optional<int>& v) {
    return v ? repr(*v) : "None";
}
template <class... T>
std::string repr(const std::tuple<T...>& t) {
    return std::apply(
        [](const auto&... items) {
            std::string out = "[";
            const char* sep = "";
            ((out += sep + repr(items), sep = ", "), ...);
            return out + "]";
        },
        t);
}
