"""One app, many behaviours, chosen by path: what the WSGI tests exercise."""

import atexit
import os
import sys
import time
from urllib.parse import parse_qs

MARKER = os.environ.get("GRS_TEST_MARKER")
if MARKER:
    # Proves the worker exits like Python: atexit handlers run.
    atexit.register(lambda: open(MARKER, "a").write("atexit %d\n" % os.getpid()))

CLOSED = []
FILE_READS = []
# start_response and write() of an earlier request, kept by /keep-callables.
KEPT = {}


class CountingFile(__import__("io").FileIO):
    """A real file that records read() calls: none when sent with sendfile."""

    def read(self, size=-1):
        FILE_READS.append(size)
        return super().read(size)


def text(start_response, body, status="200 OK", headers=()):
    body = body.encode() if isinstance(body, str) else body
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))] + list(headers))
    return [body]


class Closing:
    """An iterable whose close() is recorded, to prove it is always called."""

    def __init__(self, chunks, fail_after=None):
        self.chunks = chunks
        self.fail_after = fail_after

    def __iter__(self):
        for i, chunk in enumerate(self.chunks):
            if self.fail_after is not None and i == self.fail_after:
                raise RuntimeError("failed mid-body")
            yield chunk

    def close(self):
        CLOSED.append(1)
        print("iterable closed", file=sys.stderr, flush=True)


def app(environ, start_response):
    path = environ["PATH_INFO"]
    qs = parse_qs(environ["QUERY_STRING"])
    arg = lambda name, default: qs.get(name, [default])[0]

    if path == "/":
        return text(start_response, "root")
    if path == "/pid":
        return text(start_response, str(os.getpid()))
    if path == "/sleep":
        time.sleep(float(arg("s", "1")))
        return text(start_response, "slept")
    if path == "/stream":
        n = int(arg("n", "3"))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return (("chunk%d\n" % i).encode() for i in range(n))
    if path == "/big":
        size = int(arg("size", str(1 << 20)))
        block = b"x" * 65536
        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(size))])
        return (block[: min(65536, size - off)] for off in range(0, size, 65536))
    if path == "/closing":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Closing([b"a", b"b", b"c"])
    if path == "/closed-count":
        return text(start_response, str(len(CLOSED)))
    if path == "/error":
        raise RuntimeError("boom from the app")
    if path == "/error-size":
        raise RuntimeError("e" * int(arg("size", "1000")))
    if path == "/error-mid-body":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Closing([b"first", b"second"], fail_after=1)
    if path == "/bad-status":
        start_response("2000 OK", [])
        return [b"never"]
    if path == "/bad-header-value":
        start_response("200 OK", [("X-Evil", "a\r\nInjected: yes")])
        return [b"never"]
    if path == "/bad-header-name":
        start_response("200 OK", [("X Bad", "v")])
        return [b"never"]
    if path == "/not-bytes":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return ["a str, not bytes"]
    if path == "/no-start-response":
        return [b"forgot"]
    if path == "/write":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written-")
        return [b"returned"]
    if path == "/keep-callables":
        KEPT["start_response"] = start_response
        KEPT["write"] = start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"kept"]
    if path == "/use-kept-write":
        # A late write() of an earlier request must not reach this one.
        start_response("200 OK", [("Content-Type", "text/plain")])
        KEPT["write"](b"stale-")
        return [b"fresh"]
    if path == "/use-kept-start-response":
        # An earlier request's start_response was called: it refuses.
        try:
            KEPT["start_response"]("200 OK", [])
        except AssertionError as e:
            return text(start_response, "refused: %s" % e)
        return text(start_response, "accepted")
    if path == "/exc-info":
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise ValueError("replace the response")
        except ValueError:
            start_response("500 Oops", [("Content-Type", "text/plain")], sys.exc_info())
        return [b"replaced"]
    if path == "/twice":
        start_response("200 OK", [])
        start_response("200 OK", [])
        return [b"never"]
    if path == "/status":
        code = arg("code", "204")
        start_response("%s Custom" % code, [("Content-Length", "4")] if code == "304" else [])
        return [b"body"]
    if path == "/hop-by-hop":
        start_response("200 OK", [
            ("Content-Length", "2"), ("Connection", "close"), ("Keep-Alive", "timeout=5"),
            ("Transfer-Encoding", "chunked"), ("Server", "app"), ("Date", "yesterday"), ("X-Kept", "yes"),
        ])
        return [b"ok"]
    if path == "/too-long":
        start_response("200 OK", [("Content-Length", "3")])
        return [b"abcdef"]
    if path == "/too-short":
        start_response("200 OK", [("Content-Length", "10")])
        return [b"abc"]
    if path == "/latin1-header":
        start_response("200 OK", [("X-Name", "caf\u00e9"), ("Content-Length", "0")])
        return []
    if path == "/file":
        f = open(os.path.join(os.path.dirname(__file__), "data.bin"), "rb")
        f.seek(int(arg("seek", "0")))
        headers = [("Content-Type", "application/octet-stream")]
        if "len" in qs:
            headers.append(("Content-Length", arg("len", "0")))
        start_response("200 OK", headers)
        return environ["wsgi.file_wrapper"](f, 4096)
    if path == "/file-counted":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        f = CountingFile(os.path.join(os.path.dirname(__file__), "data.bin"))
        return environ["wsgi.file_wrapper"](f, 4096)
    if path == "/file-reads":
        return text(start_response, str(len(FILE_READS)))
    if path == "/filelike":
        import io
        start_response("200 OK", [("Content-Type", "text/plain")])
        return environ["wsgi.file_wrapper"](io.BytesIO(b"from a BytesIO"), 5)
    if path == "/input":
        inp = environ["wsgi.input"]
        first = inp.readline()
        two = inp.read(2)
        rest = inp.readlines()
        after = inp.read()
        body = repr((first, two, rest, after)).encode()
        return text(start_response, body)
    if path == "/digest":
        import hashlib
        body = environ["wsgi.input"].read()
        return text(start_response, "%d %s" % (len(body), hashlib.sha256(body).hexdigest()))
    if path == "/digest-stream":
        import hashlib
        h, n, inp = hashlib.sha256(), 0, environ["wsgi.input"]
        while True:
            block = inp.read(65536)
            if not block:
                break
            h.update(block)
            n += len(block)
        return text(start_response, "%d %s" % (n, h.hexdigest()))
    if path == "/list-headers":
        start_response("200 OK", [["Content-Type", "text/plain"], ("Content-Length", "2")])
        return [b"ok"]
    if path == "/second-call-invalid":
        start_response("200 OK", [("Content-Length", "4")])
        try:
            raise ValueError("late")
        except ValueError:
            try:
                start_response("bad status", [], sys.exc_info())
            except ValueError:
                pass
        return [b"kept"]
    if path == "/errors":
        environ["wsgi.errors"].write("message to wsgi.errors\n")
        environ["wsgi.errors"].flush()
        return text(start_response, "logged")
    return text(start_response, "not found: " + path, status="404 Not Found")
