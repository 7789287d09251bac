// Interoperability with CPython's multiprocessing.connection (run by the
// machine's python3): authentication both ways, bytes both ways, wrong keys,
// and msgpack data read by Python's msgpack package.
