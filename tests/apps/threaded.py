"""An app for the gthread worker: proves requests run at the same time,
each on a thread of its own that keeps its threading.local."""
import threading
import time

# Four requests must be inside the app at once to get through.
barrier = threading.Barrier(4, timeout=15)
local = threading.local()


def app(environ, start_response):
    path = environ["PATH_INFO"]
    local.count = getattr(local, "count", 0) + 1
    if path == "/barrier":
        barrier.wait()
    elif path == "/sleep":
        # One write: print() writes the text and the newline separately,
        # which threads printing at once would interleave.
        print("sleeping\n", end="", flush=True)
        time.sleep(float(environ.get("QUERY_STRING") or "1"))
    elif path == "/stream":
        # 16 MiB in 64 KiB chunks, each chunk a repeated byte.
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return (bytes([i % 251]) * 65536 for i in range(256))
    body = "{} multithread={} count={}\n".format(
        threading.current_thread().name,
        environ["wsgi.multithread"],
        local.count,
    ).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
