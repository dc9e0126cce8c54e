"""For the tests of how bodies go out (tests/http.rs): small responses the
sync worker sends in batches, large items sent from the application's own
bytes, and a Content-Length body produced in two parts with a pause
between them. Bodies are patterned, so a lost or misplaced byte shows."""

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
    if parts[0] == "items":
        # /items/COUNT/SIZE[/LENGTH]: COUNT items of SIZE bytes, item k
        # patterned with k, from a generator; LENGTH sets Content-Length.
        count, size = int(parts[1]), int(parts[2])
        headers = [("Content-Length", parts[3])] if len(parts) > 3 else []
        start_response("200 OK", headers)
        return (patterned(k, size) for k in range(count))
    if parts[0] == "x":
        body = b"x" * int(parts[1])
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]
    if parts[0] == "mixed":
        # Small, large, small: the large one goes after the small one before it.
        items = [b"<", patterned(1, 100000), b">"]
        start_response("200 OK", [])
        return iter(items) if parts[1] == "iter" else items
    if parts[0] == "sleep":
        time.sleep(float(parts[1]))
        start_response("200 OK", [("Content-Length", "5")])
        return [b"slept"]
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
