"""Reports the process the request ran in, for tests/process.rs.

/id: "UID GID GROUPS" of the worker. /env/NAME: os.environ[NAME].
/cenv/NAME: the C library's getenv(NAME). /argv: sys.argv, one per line.
/umask: the process umask, in octal. /pid: the worker's pid.
/print: writes a line to stdout and one to stderr.

At import it only uses modules the interpreter loaded at start-up: a
worker switched to another user may not be allowed to read the standard
library (it can live under /root).
"""

import os
import sys


def _cgetenv(name):
    import ctypes

    libc = ctypes.CDLL(None)
    libc.getenv.restype = ctypes.c_char_p
    value = libc.getenv(name.encode())
    return "<unset>" if value is None else value.decode()


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/id":
        groups = ",".join(str(g) for g in sorted(os.getgroups()))
        body = "%d %d %s" % (os.getuid(), os.getgid(), groups)
    elif path.startswith("/env/"):
        body = os.environ.get(path[len("/env/"):], "<unset>")
    elif path.startswith("/cenv/"):
        body = _cgetenv(path[len("/cenv/"):])
    elif path == "/argv":
        body = "\n".join(sys.argv)
    elif path == "/umask":
        mask = os.umask(0)
        os.umask(mask)
        body = "%o" % mask
    elif path == "/pid":
        body = str(os.getpid())
    elif path == "/print":
        print("whoami stdout", flush=True)
        print("whoami stderr", file=sys.stderr, flush=True)
        body = "printed"
    else:
        body = "?"
    data = body.encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))])
    return [data]
