"""For the tests of responses the sync worker sends in batches
(tests/http.rs): numbered, patterned bodies, and a Content-Length body
produced in two parts with a pause between them."""

import time


def patterned(n, size):
    """`size` bytes: `n` as 4 big-endian bytes, repeated."""
    unit = n.to_bytes(4, "big")
    return (unit * (size // 4 + 1))[:size]


def app(environ, start_response):
    parts = environ["PATH_INFO"].strip("/").split("/")
    if parts[0] == "n":
        body = patterned(int(parts[1]), int(parts[2]))
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]
    if parts[0] == "halves":
        pause = float(parts[1])

        def halves():
            yield b"a" * 1000
            time.sleep(pause)
            yield b"b" * 1000

        start_response("200 OK", [("Content-Length", "2000")])
        return halves()
    start_response("404 Not Found", [("Content-Length", "0")])
    return []
