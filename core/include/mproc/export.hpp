// What libmproc exports (reproc's export.hpp): the public API carries
// MPROC_API; everything else in the library is hidden, so that programs and
// plugins can only reach what the headers promise.
#pragma once

#if defined(MPROC_STATIC)
// Built into a program or a static library: nothing to export or import.
#define MPROC_API
#elif defined(_WIN32) || defined(__CYGWIN__)
#if defined(MPROC_BUILDING)
#define MPROC_API __declspec(dllexport)
#else
#define MPROC_API __declspec(dllimport)
#endif
#else
#define MPROC_API __attribute__((visibility("default")))
#endif
