"""For tests/slow_clients.rs: a large patterned response (from an iterator
or a file), and the digest of an upload."""

import hashlib
import os
import struct
import sys
import tempfile

CHUNK = 65536


def deleted_temp_files():
    """Open descriptors on nameless files in the temp dir: how a spooled body shows."""
    tmp = tempfile.gettempdir()
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink("/proc/self/fd/" + fd)
        except OSError:
            continue
        if target.startswith(tmp) and target.endswith("(deleted)"):
            n += 1
    return n


def patterned(chunks):
    """Chunk i is its index as 4 big-endian bytes, repeated: any byte lost,
    repeated or misplaced shows. Says on stderr how far it got."""
    for i in range(chunks):
        if i % 16 == 0:
            print("produced %d" % i, file=sys.stderr, flush=True)
        yield struct.pack(">I", i) * (CHUNK // 4)


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/big":
        size = int(environ["QUERY_STRING"] or "0")
        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(size))])
        return patterned(size // CHUNK)
    if path == "/file":
        name = environ["QUERY_STRING"]
        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(os.path.getsize(name)))])
        return environ["wsgi.file_wrapper"](open(name, "rb"), CHUNK)
    if path == "/digest":
        h, n, inp = hashlib.sha256(), 0, environ["wsgi.input"]
        spooled = deleted_temp_files()
        while True:
            block = inp.read(CHUNK)
            if not block:
                break
            h.update(block)
            n += len(block)
        body = ("%d %s %d" % (n, h.hexdigest(), spooled)).encode()
    else:
        body = b"ok"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
