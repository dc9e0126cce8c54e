"""Shared pieces of the framework test apps (flask_app, django_app,
falcon_app, bottle_app): they all answer the same routes, so one set of
checks in tests/frameworks.rs runs against each of them."""

import hashlib
import os

APPS_DIR = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(APPS_DIR, "data.bin")


def hash_stream(f):
    """'<sha256 hex> <length>' of everything read from `f`."""
    h = hashlib.sha256()
    n = 0
    while True:
        block = f.read(65536)
        if not block:
            break
        h.update(block)
        n += len(block)
    return "%s %d" % (h.hexdigest(), n)


def hash_chunks(chunks):
    h = hashlib.sha256()
    n = 0
    for block in chunks:
        h.update(block)
        n += len(block)
    return "%s %d" % (h.hexdigest(), n)


def report_file_wrapper(app):
    """WSGI middleware adding `X-File-Wrapper: yes` when the app returned an
    instance of the server's `wsgi.file_wrapper` (so the test can tell a file
    response took that path). The frameworks here all call start_response
    before returning their iterable, which this relies on."""

    def wrapped(environ, start_response):
        held = []

        def hold(status, headers, exc_info=None):
            held[:] = [status, headers, exc_info]

            def write(_data):
                raise RuntimeError("write() not supported by report_file_wrapper")

            return write

        result = app(environ, hold)
        wrapper = environ.get("wsgi.file_wrapper")
        used = wrapper is not None and isinstance(result, wrapper)
        status, headers, exc_info = held
        start_response(status, list(headers) + [("X-File-Wrapper", "yes" if used else "no")], exc_info)
        return result

    return wrapped


def gated(gate):
    """A streamed body whose second block waits (bounded) for the file `gate`,
    which the test creates only once it has received the first block: a
    server that holds a block back until the next one is produced gets
    "late;" instead of "second;"."""
    import time

    yield b"first;"
    deadline = time.monotonic() + 10
    while not os.path.exists(gate):
        if time.monotonic() > deadline:
            yield b"late;"
            return
        time.sleep(0.01)
    yield b"second;"
