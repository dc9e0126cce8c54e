"""wsgi.early_hints: hints sent while the app waits for the test's go-ahead."""

import os
import time


def app(environ, start_response):
    hints = environ["wsgi.early_hints"]
    query = environ["QUERY_STRING"]
    if query.startswith("bad"):
        try:
            hints([("Bad Name", "x")])
            outcome = b"sent"
        except Exception as e:
            outcome = type(e).__name__.encode()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(outcome)))])
        return [outcome]
    hints([("Link", "</style.css>; rel=preload; as=style")])
    hints([(b"Link", b"</app.js>; rel=preload; as=script")])
    seen = b"no-flag"
    if query:
        # Wait (bounded) for the test to say it received the hints: proof
        # they left before the application returned.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if os.path.exists(query):
                seen = b"flag-seen"
                break
            time.sleep(0.01)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(seen)))])

    def body():
        yield seen
        # Too late: the response has started.
        hints([("Link", "</late.css>; rel=preload")])

    return body()
