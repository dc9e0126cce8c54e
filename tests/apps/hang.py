"""An app that hangs: for the WORKER TIMEOUT report (tests/timeout.rs).

`/hang` sleeps for a minute in the request; a second thread, started at
import, sleeps in a function of its own, so the report must show both.
"""

import threading
import time


def sleepy_helper_loop():
    while True:
        time.sleep(3600)


threading.Thread(target=sleepy_helper_loop, name="sleepy-helper", daemon=True).start()


def app(environ, start_response):
    if environ["PATH_INFO"] == "/hang":
        time.sleep(60)
    body = b"awake"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
