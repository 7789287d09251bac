#!/usr/bin/env python3
"""Runs the listener and client examples together (one test).

    listener_client.py LISTENER CLIENT

The listener gets an AF_UNIX path in a fresh temporary directory (no fixed
port to collide on); the client starts once the listener has said where it
listens. Prints the listener's output, then the client's; fails if either
fails or takes more than 30 seconds.
"""

import os
import subprocess
import sys
import tempfile


def main():
    listener_exe, client_exe = sys.argv[1:3]
    with tempfile.TemporaryDirectory(prefix="mproc-example-") as tmp:
        path = os.path.join(tmp, "listener.sock")
        listener = subprocess.Popen([listener_exe, path], stdout=subprocess.PIPE, text=True)
        try:
            first = listener.stdout.readline()
            client = subprocess.run([client_exe, path], stdout=subprocess.PIPE, text=True,
                                    timeout=30)
            rest, _ = listener.communicate(timeout=30)
        finally:
            if listener.poll() is None:
                listener.kill()
                listener.wait()
        sys.stdout.write(first.replace(tmp, "TMPDIR") + rest)
        sys.stdout.write(client.stdout)
        if os.path.exists(path):
            sys.stdout.write("the listener left its socket file behind\n")
            return 1
        return listener.returncode or client.returncode


if __name__ == "__main__":
    sys.exit(main())
