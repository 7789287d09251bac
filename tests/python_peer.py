#!/usr/bin/env python3
"""A CPython multiprocessing.connection peer for mproc's interop tests.

    python_peer.py listen  FAMILY KEY    # prints the address, accepts one client
    python_peer.py connect ADDRESS KEY   # ADDRESS: inet:HOST:PORT or unix:PATH

KEY '-' means no authentication. The peer then echoes every message back
with send_bytes, except that after the message b'msgpack' it reads one
message as msgpack, prints its repr and sends it back re-packed. It prints
'AuthenticationError: ...' and exits 3 when authentication fails, and gives
up after 30 seconds whatever happens.
"""

import signal
import sys
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Listener


def parse(text):
    kind, _, rest = text.partition(":")
    if kind == "inet":
        host, _, port = rest.rpartition(":")
        return (host, int(port))
    return rest


def show(address):
    if isinstance(address, tuple):
        return "inet:%s:%d" % address
    return "unix:" + address


def echo(conn):
    while True:
        try:
            data = conn.recv_bytes()
        except EOFError:
            return
        if data == b"msgpack":
            import msgpack
            # mproc::dict keys may be ints: msgpack 1.0 refuses them unless told.
            obj = msgpack.unpackb(conn.recv_bytes(), strict_map_key=False)
            print(repr(obj), flush=True)
            conn.send_bytes(msgpack.packb(obj))
        else:
            conn.send_bytes(data)


def main():
    signal.alarm(30)
    mode, where, key = sys.argv[1:4]
    authkey = None if key == "-" else key.encode()
    try:
        if mode == "listen":
            address = ("127.0.0.1", 0) if where == "AF_INET" else None
            with Listener(address, family=where, authkey=authkey) as listener:
                print(show(listener.address), flush=True)
                with listener.accept() as conn:
                    echo(conn)
        else:
            with Client(parse(where), authkey=authkey) as conn:
                echo(conn)
    except AuthenticationError as e:
        print("AuthenticationError:", e, flush=True)
        sys.exit(3)


if __name__ == "__main__":
    main()
